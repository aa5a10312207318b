"""A small BERT-style (uncased) WordPiece tokenizer in pure Python.

It reproduces what the ``tokenizers`` library does for the uncased BERT vocabulary the shipped
static embedding model was distilled from (lower-case, strip accents, split on whitespace and
punctuation, greedy longest-match WordPiece), so the runtime needs only numpy to embed text.
``tools/distill_embeddings.py`` checks that both give the same token ids.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

_MAX_WORD_CHARS = 100


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")


def basic_split(text: str) -> list[str]:
    """Lower-case, strip accents, and split into words and single punctuation marks."""
    if text.isascii():  # fast path, same result: every printable ASCII non-alnum is punctuation
        return _ASCII_TOKEN.findall(_ASCII_CONTROL.sub("", text.lower()))
    return _basic_split_unicode(text)


def _basic_split_unicode(text: str) -> list[str]:
    text = unicodedata.normalize("NFD", text.lower())
    out: list[str] = []
    word: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Mn":
            continue
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (cat.startswith("C") and ch not in "\t\n\r"):
            continue
        if ch.isspace():
            if word:
                out.append("".join(word))
                word = []
        elif _is_punctuation(ch) or _is_cjk(cp):
            if word:
                out.append("".join(word))
                word = []
            out.append(ch)
        else:
            word.append(ch)
    if word:
        out.append("".join(word))
    return out


class WordPiece:
    """Maps text to token ids of a WordPiece vocabulary (one token per line, id = line number)."""

    def __init__(self, vocab: list[str], unk_token: str = "[UNK]") -> None:
        self.vocab = {tok: i for i, tok in enumerate(vocab)}
        self.unk_id = self.vocab.get(unk_token)
        self._word_ids = lru_cache(maxsize=50_000)(self._word_to_ids)

    @classmethod
    def from_file(cls, path: str | Path) -> WordPiece:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls(lines)

    def _word_to_ids(self, word: str) -> tuple[int, ...]:
        if len(word) > _MAX_WORD_CHARS:
            return () if self.unk_id is None else (self.unk_id,)
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found: int | None = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return () if self.unk_id is None else (self.unk_id,)
            ids.append(found)
            start = end
        return tuple(ids)

    def encode(self, text: str, *, drop_unknown: bool = True) -> list[int]:
        ids: list[int] = []
        for word in basic_split(text):
            ids.extend(self._word_ids(word))
        if drop_unknown and self.unk_id is not None:
            ids = [i for i in ids if i != self.unk_id]
        return ids

    def count(self, text: str) -> int:
        """Number of tokens (a good estimate of an LLM's token count for English prose)."""
        return len(self.encode(text, drop_unknown=False))
