"""The interim transcript's last word: a turn rarely ends on "and", "the", "to" or "um".

The interim text comes from pocketsphinx while the player talks (no punctuation; a third of its
words wrong on real speech), so this cue only vetoes: a hanging last word says "not done", anything
else says little. Whisper's punctuated text, when present, adds commas and full stops.

Once the pause's own Whisper transcript has come (``Utterance.final``, made by the speculative end
of turn for the audio up to this pause), its last word is judged instead of the interim text's
(``final_words``): pocketsphinx lags the voice by up to 300 ms, so at a pause after "I need a bed
for the night." its text may still end "for the" and hold the turn to ``max_ms``. A filler the
interim text ends on ("um", "uh") still holds: Whisper tends to leave fillers out.
"""

from __future__ import annotations

import re

from .base import Cue, Utterance

# Words a finished English turn seldom ends on. Deliberately short: "no", "that", "more", "do",
# "in", "you" and most auxiliaries end many complete turns ("tell me more", "thank you", "I can").
HANGING = frozenset([
    "and", "but", "or", "nor", "because", "cause", "unless", "although", "though", "whereas",
    "than", "the", "a", "an", "my", "your", "his", "her", "its", "our", "their", "to", "of", "for",
    "from", "with", "without", "at", "by", "into", "onto", "um", "uh", "er", "erm", "i", "i'm",
    "i'd", "i'll", "it's", "we're", "you're", "let's",
])  # fmt: skip
# First words of a question ("any gossip", "do you sell rope", "where is the mill"): Whisper often
# ends a short one with "." ("any gossip."), so the policy may take such a text as finished
# (``complete_questions``). Leading fillers ("um, where is it") are skipped.
QUESTION_STARTS = frozenset([
    "what", "what's", "who", "who's", "whom", "whose", "where", "where's", "when", "why", "how",
    "how's", "which", "any", "anything", "anyone", "anybody", "is", "isn't", "are", "aren't", "was",
    "wasn't", "were", "weren't", "am", "do", "don't", "does", "doesn't", "did", "didn't", "can",
    "can't", "could", "couldn't", "will", "won't", "would", "wouldn't", "shall", "should",
    "shouldn't", "may", "might", "must", "have", "haven't", "has", "hasn't", "had", "hadn't",
])  # fmt: skip
FILLERS = frozenset(["um", "uh", "er", "erm", "hmm", "oh", "so", "well", "and", "okay", "ok", "hey"])
HESITATIONS = frozenset(["um", "uh", "er", "erm", "hmm"])  # what Whisper tends to leave out
# A question that ends on one of these after other words has a clause still to come ("Do you know
# anyone who, [pause] can fix a wagon?" comes out of Whisper as "Do you know anyone who?").
CLAUSE_OPENERS = frozenset(["who", "whom", "whose", "which", "that", "whether", "if"])
_WORD = re.compile(r"[a-z']+|[,.?!;:]")


class SyntaxCue(Cue):
    name = "syntax"

    def __init__(self, hanging: frozenset[str] = HANGING, final_words: bool = True) -> None:
        self.hanging = hanging
        self.final_words = final_words

    def judge(self, utt: Utterance, silence_ms: float) -> float | None:
        tokens = _WORD.findall(utt.text.lower())
        if tokens and tokens[-1] in HESITATIONS:
            return 0.05
        if self.final_words and utt.final.strip():
            return self._last_word(_WORD.findall(utt.final.lower()))
        return self._last_word(tokens)

    def _last_word(self, tokens: list[str]) -> float | None:
        if not tokens:
            return None
        last = tokens[-1]
        if last in (",", ";", ":") or last in self.hanging:
            return 0.05
        if last in (".", "?", "!"):
            # Whisper also ends a phrase cut at a comma with ".": "I want to buy the." still hangs
            before = tokens[-2] if len(tokens) > 1 else ""
            return 0.05 if before in self.hanging or before in (",", ";", ":") else 0.85
        return 0.55

    def complete(self, text: str) -> bool:
        """A punctuated transcript (Whisper's) that ends a sentence: ".", "?" or "!" after a word
        that does not hang ("I want to buy the." is not complete; "..." trails off)."""
        stripped = text.rstrip()
        if stripped.endswith("..") or stripped.endswith("\u2026"):
            return False
        tokens = _WORD.findall(stripped.lower())
        if len(tokens) < 2 or tokens[-1] not in (".", "?", "!"):
            return False
        return tokens[-2] not in self.hanging and tokens[-2] not in (",", ";", ":")

    def finished_question(self, text: str) -> bool:
        """A complete transcript that is a question ("?", or a question word first) and does not
        end on a word that opens a clause ("Do you know anyone who?")."""
        if not self.complete(text) or not (text.rstrip().endswith("?") or self.asks(text)):
            return False
        words = [t for t in _WORD.findall(text.lower()) if t[0].isalpha()]
        return len(words) < 2 or words[-1] not in CLAUSE_OPENERS

    def asks(self, text: str) -> bool:
        """The transcript opens like a question: its first word (after fillers such as "um,")
        is a question word or an auxiliary ("Any gossip.", "Do you sell rope.")."""
        for token in _WORD.findall(text.lower()):
            if token in FILLERS or token in (",", ";", ":"):
                continue
            return token in QUESTION_STARTS
        return False
