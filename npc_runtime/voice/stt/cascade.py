"""Two recognisers in one: a fast streaming one for interim text while the player talks, an
accurate one for the final transcript at the end of speech.

The shipped default is pocketsphinx (interim: barge-in decisions, live captions) + Whisper
tiny.en (final: ~7% word errors on real speech against pocketsphinx's ~38%). Both get the scene
vocabulary. Should the final recogniser fail on an utterance, the streaming one's own final
transcript is used instead, so a turn is never lost to it.

Capacity: a continuous pocketsphinx search costs a core's tenth per utterance, and each new
decoder ~0.6 s to build, in the worker that also serves the other conversations' audio (profiled
at 8 simultaneous conversations: two thirds of the CPU went to building decoders and the turns
timed out). So at most ``max_interim`` utterances at a time get a streaming decoder; the others
get their interim text from the final recogniser's own early decodes at the player's pauses
(Whisper's, see :mod:`.whisper`), and keep their audio so that pocketsphinx can still transcribe
it should Whisper fail. The streaming decoder is released in the background at the end of the
utterance: the final transcript never waits for it.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Iterable

import numpy as np

from ...errors import ProviderError
from ..frames import Int16Array
from .base import SttCaps, SttProvider, SttStream

log = logging.getLogger(__name__)

# pocketsphinx as the interim part: its interim text comes from the first (tree) search, so the
# second passes that refine only its final transcript are off: ending an utterance then costs
# ~40 ms of CPU instead of ~170 ms. Its final is only used when Whisper fails.
INTERIM_POCKETSPHINX: dict[str, object] = {"fwdflat": False, "bestpath": False}
MAX_INTERIM = 1


def interim_options(name: str, given: dict[str, object] | None) -> dict[str, object]:
    """The interim recogniser's options: the defaults for its role, overridden by the given ones."""
    defaults = INTERIM_POCKETSPHINX if name == "pocketsphinx" else {}
    return {**defaults, **(given or {})}


class CascadeStt(SttProvider):
    name = "cascade"

    def __init__(
        self, final: SttProvider, interim: SttProvider | None, max_interim: int = MAX_INTERIM
    ) -> None:
        self.final = final
        self.interim = interim
        self.max_interim = max(0, max_interim)
        self.caps = SttCaps(
            streaming=final.caps.streaming or interim is not None,
            interim=(interim is not None and interim.caps.interim) or final.caps.interim,
            offline=final.caps.offline and (interim is None or interim.caps.offline),
        )
        self._lock = threading.Lock()
        self._active = 0  # utterances holding a streaming decoder (until it is released)
        self._releaser = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stt-release")
        self.stats = {"streams": 0, "with_interim": 0}

    def stream(self) -> SttStream:
        interim = None
        if self.interim is not None:
            with self._lock:
                take = self._active < self.max_interim
                if take:
                    self._active += 1
            if take:
                try:
                    interim = self.interim.stream()
                except Exception:
                    self._released()
                    raise
        self.stats["streams"] += 1
        self.stats["with_interim"] += interim is not None
        return _CascadeStream(self, self.final.stream(), interim)

    def counters(self) -> dict[str, float]:
        out: dict[str, float] = {f"cascade.{k}": v for k, v in self.stats.items()}
        out.update({f"{self.final.name}.{k}": v for k, v in self.final.counters().items()})
        return out

    def interim_streams(self) -> int:
        with self._lock:
            return self._active

    def _released(self) -> None:
        with self._lock:
            self._active -= 1

    def release(self, stream: SttStream) -> None:
        """End a streaming decoder's utterance off the caller's path (it runs a last search)."""

        def run() -> None:
            try:
                stream.cancel()
            except Exception as exc:  # the decoder is lost; its worker restarts on the next call
                log.warning("could not release a streaming decoder (%s)", exc)
            finally:
                self._released()

        self._releaser.submit(run)

    def drain(self) -> None:
        """Wait until the decoders released so far are back (for tests and shutdown)."""
        self._releaser.submit(lambda: None).result()

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
    def __init__(self, owner: CascadeStt, final: SttStream, interim: SttStream | None) -> None:
        self._owner = owner
        self._final = final
        self._interim = interim
        # Without a streaming decoder the audio is kept, for the fallback transcription.
        self._audio: list[Int16Array] | None = [] if interim is None and owner.interim else None
        self._closed = False
        self.blocking_feed = final.blocking_feed or interim is not None

    def feed(self, samples: Int16Array) -> str | None:
        if self._closed:
            return None
        early = self._final.feed(samples)
        if self._interim is not None:
            return self._interim.feed(samples)
        if self._audio is not None:
            self._audio.append(samples)
        return early

    def finish(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        interim, self._interim = self._interim, None
        try:
            text = self._final.finish()
        except ProviderError as exc:
            fallback = self._owner.interim
            if fallback is None:
                raise
            log.warning("final recogniser failed (%s); using the streaming recogniser's transcript", exc)
            if interim is not None:
                try:
                    return interim.finish()
                finally:
                    self._owner._released()
            audio = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.int16)
            return fallback.transcribe(audio)
        if interim is not None:
            self._owner.release(interim)
        return text

    def cancel(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._final.cancel()
        finally:
            interim, self._interim = self._interim, None
            if interim is not None:
                self._owner.release(interim)
