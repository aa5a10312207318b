"""What of a sentence is spoken, and how the first one is cut so the first audio is ready sooner.

Sentences themselves are cut by the shared :class:`npc_runtime.text.SentenceSplitter`."""

from __future__ import annotations

import re

from ..text import CLAUSE_WORDS, SentenceSplitter

_STAGE = re.compile(r"\*[^*]*\*|\[[^\]]*\]")  # "*slams tankard*", "[laughs]": not spoken


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


__all__ = ["CLAUSE_WORDS", "SentenceSplitter", "speakable", "split_first"]
