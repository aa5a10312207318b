"""Split a streamed reply into sentences so synthesis can start on the first complete one."""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (optionally followed by quotes/brackets) and then whitespace.
_END = re.compile(r"""(?<=[.!?…])["'”’)\]]*\s+""")
_ABBREV = {"mr.", "mrs.", "ms.", "dr.", "st.", "mt.", "sr.", "jr.", "vs.", "e.g.", "i.e.", "etc."}
_STAGE = re.compile(r"\*[^*]*\*|\[[^\]]*\]")  # "*slams tankard*", "[laughs]": not spoken


class SentenceSplitter:
    """Feed text deltas; get back every sentence completed so far. :meth:`flush` returns the rest."""

    def __init__(self, min_chars: int = 2) -> None:
        self._buf = ""
        self._min = min_chars

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                return out
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:]
            if len(sentence) >= self._min:
                out.append(sentence)

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        for m in _END.finditer(self._buf):
            head = self._buf[: m.start()]
            last_word = head.rsplit(None, 1)[-1].lower() if head.strip() else ""
            if last_word in _ABBREV:
                continue
            return m.end()
        return None


def speakable(text: str) -> str:
    """Text with stage directions removed, for the TTS (the subtitle keeps the sentence as sent)."""
    return re.sub(r"\s+", " ", _STAGE.sub(" ", text)).strip()


def split_first(sentence: str, min_words: int = 3, max_words: int = 8) -> list[str]:
    """Cut a long first sentence at its first comma (after ``min_words`` words), so the first
    audio is ready sooner; a comma is a natural pause anyway. Short sentences stay whole."""
    words = sentence.split()
    if len(words) <= max_words:
        return [sentence]
    for i, word in enumerate(words[:-2]):
        if word.endswith(",") and i + 1 >= min_words:
            return [" ".join(words[: i + 1]), " ".join(words[i + 1 :])]
    return [sentence]
