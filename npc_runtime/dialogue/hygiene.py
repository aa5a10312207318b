"""Output hygiene: turn what a language model wrote into a line an NPC can say aloud.

Chat-tuned models decorate their replies: stage directions (``*slams tankard*``, ``(laughs)``,
``[whispers]``), a speaker prefix (``Mira: ...``), markdown (``**bold**``, ``# heading``, bullets,
backticks), emoji, a pair of quotes around the whole reply, and sometimes a ``<think>`` block.
None of it should reach the TTS or the subtitles.

:class:`SpokenFilter` works on the token deltas of a stream: it emits text as soon as it is sure
the text is speech and holds back only what it cannot decide yet (an asterisk block can span many
deltas). ``feed(delta) -> str`` returns the speakable part, ``finish() -> str`` the rest at the end
of the reply. Unclosed blocks at the end are dropped (a stage direction cut off by the token limit);
a block that grows past ``max_hold`` characters without closing was not a stage direction after
all and is released as speech.

A line that starts with another speaker's name (``Player: ...``, the model writing the player's
next turn) ends the reply: :attr:`SpokenFilter.stopped` turns true and the provider stops reading.

Sentences are cut by the shared :func:`npc_runtime.text.split_sentences`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SpokenFilter", "clean_spoken"]

_NORMAL, _STAR, _PAREN, _BRACKET, _TAG, _THINK = range(6)
_OPEN_CLOSE = {_PAREN: ("(", ")"), _BRACKET: ("[", "]")}
_NO_SPACE_BEFORE = set(",.!?;:…)")
_QUOTES = set('"“”')
_DROP = set("`~_")
_MAX_TAG = 40
_THINK_END = "</think>"

# "Mira:", "**Mira:**", "Old Mira:" at the start of a line; at most four words.
_LETTER = r"[^\W\d_]"  # any letter, accented ones included
_PREFIX = re.compile(rf"(?:\*\*|\*|__)?\s*({_LETTER}(?:{_LETTER}|['\- ]){{0,40}}?)\s*(?:\*\*|\*|__)?\s*:")


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x2300 <= cp <= 0x23FF
        or 0xFE00 <= cp <= 0xFE0F
        or cp in (0x200D, 0x20E3)
        or 0xE0020 <= cp <= 0xE007F
    )


def _names(values: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for value in values:
        v = " ".join(value.replace("_", " ").split()).lower()
        if v:
            out.add(v)
            out.add(v.split()[0])
    return frozenset(out)


class SpokenFilter:
    """Streaming filter from model output to speakable text. One instance per reply."""

    def __init__(
        self,
        speaker_names: Iterable[str] = (),
        other_speakers: Iterable[str] = (),
        *,
        max_hold: int = 300,
    ) -> None:
        self._own = _names(speaker_names)
        self._others = _names(other_speakers) - self._own
        self._max_hold = max_hold
        self._raw = ""  # input not decided yet
        self._held = ""  # text inside an open block, kept to release it on overflow
        self._mode = _NORMAL
        self._depth = 0
        self._line_start = True
        self._emitted = False
        self._space = False  # whitespace seen since the last emitted character
        self._lead_quote = False  # the reply opened with a quote that was dropped
        self._quote: tuple[bool, str] | None = None  # a possibly-closing quote, held back
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped or not delta:
            return ""
        self._raw += delta
        return self._run(final=False)

    def finish(self) -> str:
        out = "" if self.stopped else self._run(final=True)
        self._raw = self._held = ""
        self._mode = _NORMAL
        self._quote = None
        return out

    # -- the state machine ---------------------------------------------------------------------
    def _run(self, *, final: bool) -> str:
        out: list[str] = []
        raw, i = self._raw, 0
        while i < len(raw) and not self.stopped:
            mode = self._mode
            if mode == _THINK:
                end = raw.find(_THINK_END, i)
                if end < 0:
                    i = max(i, len(raw) - len(_THINK_END) + 1)
                    break
                i, self._mode = end + len(_THINK_END), _NORMAL
                continue
            if mode != _NORMAL:
                inside = self._in_block(raw, i)
                if inside < 0:  # overflow: release the held text as speech, minus its opener
                    raw, i = self._held + raw[i:], 0
                    self._held, self._mode = "", _NORMAL
                    continue
                i = inside
                continue
            if self._line_start:
                skip = self._at_line_start(raw, i, final)
                if skip is None:
                    break
                if skip != i:
                    i = skip
                    continue
                self._line_start = False
            nxt = self._normal(raw, i, final, out)
            if nxt is None:
                break
            i = nxt
        self._raw = raw[i:]
        return "".join(out)

    def _in_block(self, raw: str, i: int) -> int:
        """Consume one character inside a block; -1 when the block overflows."""
        ch = raw[i]
        mode = self._mode
        if mode == _STAR:
            if ch == "*":
                self._close_block()
                return i + 1
        elif mode == _TAG:
            if ch == ">":
                tag = self._held.strip().lower()
                self._close_block()
                if tag == "think":
                    self._mode = _THINK
                return i + 1
            if len(self._held) >= _MAX_TAG:
                return -1
        else:
            opener, closer = _OPEN_CLOSE[mode]
            if ch == opener:
                self._depth += 1
            elif ch == closer:
                self._depth -= 1
                if self._depth == 0:
                    self._close_block()
                    return i + 1
        if len(self._held) >= self._max_hold:
            return -1
        self._held += ch
        return i + 1

    def _close_block(self) -> None:
        self._held, self._mode, self._depth = "", _NORMAL, 0
        self._space = True  # a removed direction stands for a gap: "Hello*waves*there"

    def _at_line_start(self, raw: str, i: int, final: bool) -> int | None:
        """Strip markdown line markers and a speaker prefix. None: need more input."""
        ch = raw[i]
        if ch in " \t\r\n":
            return i + 1
        if ch in "#>":
            return i + 1
        if ch in "-*+•":
            if i + 1 >= len(raw):
                return None if not final else i + 1
            if raw[i + 1] == " ":
                return i + 2
        if ch.isdigit():
            m = re.match(r"\d{1,2}[.)] ", raw[i:])
            if m:
                return i + m.end()
            if len(raw) - i < 4 and re.fullmatch(r"\d{1,2}[.)]?", raw[i:]) and not final:
                return None
        if self._own or self._others:
            rest = raw[i:]
            m = _PREFIX.match(rest)
            if m and len(m.group(1).split()) <= 4:
                name = " ".join(m.group(1).split()).lower()
                if name in self._own:
                    return i + m.end()
                if name in self._others:
                    self.stopped = True
                    return len(raw)
            elif not final and len(rest) < 48 and self._may_be_prefix(rest):
                return None
        return i

    def _may_be_prefix(self, rest: str) -> bool:
        """Could ``rest`` still grow into "<known name>:"?"""
        cand = " ".join(rest.lstrip("*_ \t").lower().split()).rstrip("*_ ")
        if not re.fullmatch(rf"(?:{_LETTER}|['\- ])*", cand):
            return False
        return any(n.startswith(cand) for n in self._own | self._others)

    def _normal(self, raw: str, i: int, final: bool, out: list[str]) -> int | None:
        ch = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        if ch in "\r\n":
            self._space = True
            self._line_start = True
            return i + 1
        if ch.isspace():
            self._space = True
            return i + 1
        if ch in "*<":
            if nxt is None and not final:
                return None
            if ch == "*" and nxt == "*":
                return i + 2  # bold: keep the words, drop the marks
            if nxt is None or nxt.isspace() or (ch == "<" and not (nxt.isalpha() or nxt == "/")):
                return i + 1  # a stray mark, not an opener
            self._mode = _STAR if ch == "*" else _TAG
            self._held = ""
            return i + 1
        if ch == "(":
            self._mode, self._depth, self._held = _PAREN, 1, ""
            return i + 1
        if ch == "[":
            self._mode, self._depth, self._held = _BRACKET, 1, ""
            return i + 1
        if ch in _DROP or ch in ")]>" or _is_emoji(ch):
            return i + 1
        if ch in _QUOTES:
            if not self._emitted and not self._lead_quote:
                self._lead_quote = True
                return i + 1
            if self._lead_quote and ch != "“":
                self._flush_quote(out)
                self._quote = (self._space and self._emitted, ch)
                self._space = False
                return i + 1
        self._put(ch, out)
        return i + 1

    def _flush_quote(self, out: list[str]) -> None:
        if self._quote is not None:
            space, q = self._quote
            self._quote = None
            if space:
                out.append(" ")
            out.append(q)

    def _put(self, ch: str, out: list[str]) -> None:
        self._flush_quote(out)
        if self._space and self._emitted and ch not in _NO_SPACE_BEFORE:
            out.append(" ")
        self._space = False
        out.append(ch)
        self._emitted = True


def clean_spoken(text: str, speaker_names: Iterable[str] = (), other_speakers: Iterable[str] = ()) -> str:
    """The whole-string form of :class:`SpokenFilter`."""
    f = SpokenFilter(speaker_names, other_speakers)
    return f.feed(text) + f.finish()
