"""Two recognisers in one: a fast streaming one for interim text while the player talks, an
accurate one for the final transcript at the end of speech.

The shipped default is pocketsphinx (interim: barge-in decisions, live captions) + Whisper
tiny.en (final: ~7% word errors on real speech against pocketsphinx's ~38%). Both get the scene
vocabulary. Should the final recogniser fail on an utterance, the streaming one's own final
transcript is used instead, so a turn is never lost to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ...errors import ProviderError
from ..frames import Int16Array
from .base import SttCaps, SttProvider, SttStream

log = logging.getLogger(__name__)


class CascadeStt(SttProvider):
    name = "cascade"

    def __init__(self, final: SttProvider, interim: SttProvider | None) -> None:
        self.final = final
        self.interim = interim
        self.caps = SttCaps(
            streaming=final.caps.streaming or interim is not None,
            interim=interim is not None and interim.caps.interim,
            offline=final.caps.offline and (interim is None or interim.caps.offline),
        )

    def stream(self) -> SttStream:
        return _CascadeStream(self.final.stream(), self.interim.stream() if self.interim else None)

    def set_vocabulary(self, words: Iterable[str]) -> None:
        items = list(words)
        self.final.set_vocabulary(items)
        if self.interim is not None:
            self.interim.set_vocabulary(items)

    def set_phrases(self, phrases: Iterable[str]) -> None:
        items = list(phrases)
        self.final.set_phrases(items)
        if self.interim is not None:
            self.interim.set_phrases(items)


class _CascadeStream(SttStream):
    def __init__(self, final: SttStream, interim: SttStream | None) -> None:
        self._final = final
        self._interim = interim
        self._closed = False

    def feed(self, samples: Int16Array) -> str | None:
        if self._closed:
            return None
        self._final.feed(samples)
        return self._interim.feed(samples) if self._interim is not None else None

    def finish(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        try:
            text = self._final.finish()
        except ProviderError as exc:
            if self._interim is None:
                raise
            log.warning("final recogniser failed (%s); using the streaming recogniser's transcript", exc)
            interim, self._interim = self._interim, None
            return interim.finish()
        if self._interim is not None:
            self._interim.cancel()
        return text

    def cancel(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._final.cancel()
        finally:
            if self._interim is not None:
                self._interim.cancel()
