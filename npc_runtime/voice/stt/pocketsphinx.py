"""pocketsphinx (offline default): decodes while the player speaks, biased toward scene names.

The general language model stays in charge (a grammar of scene lines alone loses everything
said outside it); scene words are added to the dictionary and as unigrams of that LM (with a
pronunciation from espeak-ng where cmudict has none), then near-miss words are snapped to the
names (see :mod:`.vocab`). Decoders are expensive to load (~0.6 s, ~60 MB) and not re-entrant,
so a process keeps a pool: one per utterance in flight, reused across conversations.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable
from typing import Any

from ...errors import MissingDependencyError
from ..frames import STT_RATE, Int16Array
from .base import SttCaps, SttProvider, SttStream
from .vocab import NameSnapper, SceneWord, espeak_pronounce, phrase_bigrams, rescore

try:
    from pocketsphinx import Decoder
except ImportError as exc:  # pragma: no cover - only without the package
    raise MissingDependencyError("pocketsphinx", "voice") from exc

log = logging.getLogger(__name__)

_INTERIM_EVERY = int(0.3 * STT_RATE)  # samples between interim hypotheses


class PocketsphinxStt(SttProvider):
    name = "pocketsphinx"
    caps = SttCaps(streaming=True, interim=True, offline=True)

    def __init__(
        self,
        snap: bool = True,
        max_distance: float = 0.34,
        name_weight: float = 100.0,
        phrase_boost: float = 0.05,
        nbest: int = 10,
        **config: Any,
    ) -> None:
        self._config = {"loglevel": "ERROR", **config}
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._vocab: list[SceneWord] = []
        self._vocab_version = 0
        self._versions: dict[int, int] = {}
        self._snap = snap
        self._max_distance = max_distance
        self._weight = name_weight
        self._boost = phrase_boost
        self._nbest = nbest
        self._bigrams: set[tuple[str, str]] = set()
        self._snapper: NameSnapper | None = None
        self._reference = self._new_decoder()  # for dictionary look-ups; fails early if broken
        self._idle.append(self._reference)

    # decoders ---------------------------------------------------------------------------------
    def _new_decoder(self) -> Any:
        dec = Decoder(**self._config)
        self._versions[id(dec)] = 0
        return dec

    def acquire(self) -> Any:
        with self._lock:
            dec = self._idle.pop() if self._idle else None
        if dec is None:
            dec = self._new_decoder()
        self._apply_vocab(dec)
        return dec

    def release(self, dec: Any) -> None:
        with self._lock:
            self._idle.append(dec)

    def pool_size(self) -> int:
        return len(self._versions)

    def _apply_vocab(self, dec: Any) -> None:
        if self._versions.get(id(dec)) == self._vocab_version:
            return
        lm = dec.get_lm()
        entries: list[tuple[str, str]] = []
        for w in self._vocab:
            if lm is not None:
                lm.add_word(w.token, self._weight)  # raise the unigram: the bias toward scene names
            if dec.lookup_word(w.token) is None:
                entries.append((w.token, " ".join(w.phones)))
            elif w.alt and dec.lookup_word(f"{w.token}(2)") is None:
                entries.append((f"{w.token}(2)", " ".join(w.alt)))  # e.g. Mira as "Meera"
        if not entries:
            entries.append(("<scene>", "SIL"))  # the decoder rereads its LM only when a word is added
        for i, (token, phones) in enumerate(entries):
            if dec.lookup_word(token) is None:
                dec.add_word(token, phones, i == len(entries) - 1)
        self._versions[id(dec)] = self._vocab_version

    # vocabulary -------------------------------------------------------------------------------
    def set_vocabulary(self, words: Iterable[str]) -> None:
        entries: list[SceneWord] = []
        for display in words:
            token = display.lower()
            known = self.lookup(token)
            spoken = tuple(espeak_pronounce(display))
            phones = known or spoken
            if phones:
                alt = spoken if known and spoken and spoken != known else ()
                entries.append(SceneWord(display, token, phones, alt))
            else:
                log.warning("no pronunciation for scene word %r; it will not be recognised", display)
        with self._lock:
            self._vocab = entries
            self._vocab_version += 1
            self._snapper = NameSnapper(entries, self.lookup, self._max_distance) if self._snap else None
        self._apply_vocab(self._reference)

    def set_phrases(self, phrases: Iterable[str]) -> None:
        self._bigrams = phrase_bigrams(phrases)

    def final_text(self, dec: Any) -> str:
        """The final hypothesis, re-ranked among the n-best toward the scene's phrasings."""
        hyp = dec.hyp()
        if hyp is None:
            return ""
        text = hyp.hypstr
        if self._bigrams and self._boost > 0 and self._nbest > 1:
            candidates: list[tuple[str, float]] = []
            try:
                for n in itertools.islice(dec.nbest(), self._nbest):
                    if n is not None and getattr(n, "hypstr", None):
                        candidates.append((n.hypstr, float(n.score)))
            except (RuntimeError, AttributeError, ValueError) as exc:  # no lattice for this utterance
                log.debug("n-best unavailable (%s); keeping the best path", exc)
            if candidates:
                text = rescore(candidates, self._bigrams, self._boost)
        return self.postprocess(text)

    def vocabulary(self) -> list[SceneWord]:
        return list(self._vocab)

    def lookup(self, token: str) -> tuple[str, ...] | None:
        phones = self._reference.lookup_word(token)
        return tuple(phones.split()) if phones else None

    def postprocess(self, text: str) -> str:
        snapper = self._snapper
        return snapper.snap(text) if snapper is not None else text

    def stream(self) -> SttStream:
        return _PocketsphinxStream(self)


class _PocketsphinxStream(SttStream):
    def __init__(self, provider: PocketsphinxStt) -> None:
        self._p = provider
        self._dec: Any = provider.acquire()
        self._dec.start_utt()
        self._since = 0
        self._last = ""
        self._closed = False

    def feed(self, samples: Int16Array) -> str | None:
        if self._closed or len(samples) == 0:
            return None
        self._dec.process_raw(samples.astype("<i2").tobytes(), False, False)
        self._since += len(samples)
        if self._since < _INTERIM_EVERY:
            return None
        self._since = 0
        hyp = self._dec.hyp()
        text = self._p.postprocess(hyp.hypstr) if hyp is not None else ""
        if text and text != self._last:
            self._last = text
            return text
        return None

    def finish(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        try:
            self._dec.end_utt()
            return self._p.final_text(self._dec)
        finally:
            self._p.release(self._dec)

    def cancel(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._dec.end_utt()
        finally:
            self._p.release(self._dec)
