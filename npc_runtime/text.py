"""Plain-text helpers every concern shares: one word tokenizer, one stopword list, one sentence
splitter. Pure functions, no I/O.

- :func:`words`: lower-case word tokens (letters, digits, inner apostrophes).
- :data:`STOPWORDS`: English function words; :data:`FILLERS`: chat fillers ("hi", "um") that carry
  no topic either.
- :func:`split_sentences` / :class:`SentenceSplitter`: cut streamed text at sentence ends, so speech
  synthesis and output checks start on the first complete sentence.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "you",
        "your",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "we",
        "us",
        "our",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "whom",
        "whose",
        "any",
        "all",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "so",
        "than",
        "then",
        "there",
        "here",
        "up",
        "down",
        "out",
        "over",
        "just",
        "now",
        "very",
        "too",
        "also",
        "still",
        "some",
    ]
)
FILLERS = frozenset(["hi", "hello", "hey", "please", "tell", "know", "oh", "well", "um", "uh"])


def words(text: str) -> list[str]:
    """Lower-case word tokens of ``text``: "Don't go, Mr. Hob!" -> ["don't", "go", "mr", "hob"]."""
    return _WORD.findall(text.lower())


_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n+")
_ABBREV = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "mt", "sr", "jr", "vs", "e.g", "i.e", "etc", "no", "capt", "lt"}
)


def split_sentences(buffer: str, min_chars: int = 1) -> tuple[list[str], str]:
    """Split ``buffer`` into complete sentences and the unfinished rest.

    A sentence ends at ``. ! ? …`` (with any closing quotes) followed by whitespace and a word that
    does not start in lower case, so "Mr. Hob", "J. R." and "Well... maybe" stay whole; a newline
    also ends one. The end of the buffer is never taken as an end of sentence: the caller flushes
    the rest when the stream ends. Sentences shorter than ``min_chars`` are joined to the next.
    """
    sentences: list[str] = []
    start = 0
    pending = ""
    for m in _END.finditer(buffer):
        after = buffer[m.end() :].lstrip()
        if not after:
            break  # the next word has not arrived: cannot tell yet
        if not m.group().startswith("\n"):
            if after[0].islower():
                continue
            word = buffer[start : m.start()].rsplit(None, 1)
            last = word[-1].lower().lstrip("\"'“(") if word else ""
            if m.group().startswith(".") and (last in _ABBREV or (len(last) == 1 and last.isalpha())):
                continue
        piece = buffer[start : m.end()].strip()
        start = m.end()
        if not piece:
            continue
        pending = f"{pending} {piece}" if pending else piece
        if len(pending) >= min_chars:
            sentences.append(pending)
            pending = ""
    rest = buffer[start:].lstrip()
    if pending:
        rest = f"{pending} {rest}" if rest else pending + " "
    return sentences, rest


CLAUSE_WORDS = 4  # words before a comma (or ; : dash) for a first clause to be spoken on its own
# A clause ends at a comma, semicolon, colon or dash after a word (not "1,000": the mark is the
# end of the text so far, or whitespace follows it).
_CLAUSE = re.compile(r"(?<=[A-Za-z0-9'\"”’)\]])(?:[,;:]|\s*[—–]|\s+-)(?=\s|$)")


def clause_end(text: str, min_words: int = CLAUSE_WORDS, *, at_end: bool = False) -> int | None:
    """Where the first clause of an unfinished sentence ends (the index after its comma,
    semicolon, colon or dash), when at least ``min_words`` words come before it; None otherwise.
    ``at_end``: only a clause mark that is the end of ``text`` (streamed text that stopped there).
    "Once, aye, I fell in the river, " -> the index after "river,"."""
    for m in _CLAUSE.finditer(text):
        if at_end and text[m.end() :].strip():
            continue
        if len(text[: m.start()].split()) >= min_words:
            return m.end()
    return None


class SentenceSplitter:
    """Feed streamed text; get back each sentence once it is complete (:func:`split_sentences`'
    rules: it ends when the next word has started). :meth:`flush` returns the rest;
    :meth:`take_clause` the unfinished sentence so far when it stops at the end of a clause."""

    def __init__(self, min_chars: int = 2) -> None:
        self._buf = ""
        self._min = min_chars

    def feed(self, text: str) -> list[str]:
        self._buf += text
        done, self._buf = split_sentences(self._buf, self._min)
        if text[-1:].isspace() and self._buf.strip():
            # A piece that stops after a sentence's end and a space: its sender ended the sentence
            # there (an NPC's opener, a sentence streamed whole), so it is not held until the next
            # word arrives. The same rules apply ("Mr. " still waits for the name).
            more, rest = split_sentences(self._buf.rstrip() + " X", self._min)
            if more and rest.strip() == "X":
                done += more
                self._buf = ""
        return done

    def take_clause(self, min_words: int = CLAUSE_WORDS) -> str | None:
        """The unfinished sentence so far, taken out, when the text streamed so far stops right
        after a clause of ``min_words`` words or more (:func:`clause_end`); else None."""
        end = clause_end(self._buf, min_words, at_end=True)
        if end is None:
            return None
        clause, self._buf = self._buf[:end].strip(), self._buf[end:].lstrip()
        return clause

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []


# -- names ----------------------------------------------------------------------------------------
_NAME_RE = re.compile(
    r"\b(?i:my name is|my name's|i am called|i'm called|call me|they call me|name's)\s+"
    r"([A-Z][\w'-]{1,30}(?:\s+[A-Z][\w'-]{1,30})?)"
)
# Speech recognisers often write names in lower case: accept one lower-case word after the
# phrase unless it is a common word ("my name is not important").
_NAME_LOWER_RE = re.compile(
    r"\b(?:my name is|i am called|i'm called|call me|they call me)\s+([a-z][a-z'-]{1,30})\b"
)
_NOT_NAME_TEXT = """
    a an the not no none nobody nothing unimportant secret irrelevant what who why whatever
    just only really very too so it that this your my his her their our mine yours later again back
    when if and or but
"""
_NOT_NAMES = frozenset(_NOT_NAME_TEXT.split())


def stated_name(text: str) -> str | None:
    """The name a speaker gives for themselves ("my name is Corwin", "call me ash"), or None.
    Speech recognisers often write names in lower case: one lower-case word is accepted unless it
    is a common word ("my name is not important")."""
    m = _NAME_RE.search(text)
    if m:
        return m.group(1)
    low = _NAME_LOWER_RE.search(text.lower())
    if low and low.group(1) not in _NOT_NAMES:
        return low.group(1).capitalize()
    return None
