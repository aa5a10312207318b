"""Synthesised phrases, kept: authored replies are known text, so their audio is made once.

:class:`CachedTts` wraps any provider. A sentence's audio is keyed by the provider's identity
for that voice (:meth:`TtsProvider.cache_identity`: for Piper the voice file's path, size and
modification time), the full :class:`VoiceParams` (design, speed, mood...) and the exact text;
a persona whose ``voice:`` block changes gets new parameters and so new keys: its old audio is
never served again and ages out of the LRU. Memory is bounded by bytes of audio (least recently
used first out); an optional directory keeps the audio across restarts (one ``.npz`` per phrase,
written atomically; a corrupt or unreadable file is a miss, never an error).

Two callers asking for the same phrase at once (a speculative synthesis and the turn itself)
share one synthesis. :meth:`CachedTts.warm` synthesises a list of phrases ahead (greetings and
the first sentences of authored lines, from the voice extension at start, in the background).
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..frames import AudioFrame, SynthChunk
from .base import TtsProvider, VoiceParams

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when synthesis or design changes what the same key sounds like

Key = tuple[str, VoiceParams, str]


class PhraseCache:
    """Phrase audio in memory (LRU by bytes) and, optionally, on disk."""

    def __init__(self, max_bytes: int = 64 << 20, directory: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self._items: OrderedDict[Key, list[SynthChunk]] = OrderedDict()
        self._sizes: dict[Key, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._pending: dict[Key, concurrent.futures.Future[list[SynthChunk]]] = {}
        self.stats = {"hits": 0, "disk_hits": 0, "misses": 0, "shared": 0, "evicted": 0}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Key) -> list[SynthChunk] | None:
        with self._lock:
            chunks = self._items.get(key)
            if chunks is not None:
                self._items.move_to_end(key)
                self.stats["hits"] += 1
                return list(chunks)
        return None

    def get_or_make(self, key: Key, make: Callable[[], list[SynthChunk]]) -> list[SynthChunk]:
        """The cached audio, else ``make()`` once (concurrent askers wait for the same call)."""
        with self._lock:
            chunks = self._items.get(key)
            if chunks is not None:
                self._items.move_to_end(key)
                self.stats["hits"] += 1
                return list(chunks)
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = concurrent.futures.Future()
            else:
                self.stats["shared"] += 1
        if not owner:
            return list(pending.result())
        try:
            chunks = self._load(key)
            if chunks is None:
                with self._lock:
                    self.stats["misses"] += 1
                chunks = make()
                self._store(key, chunks)
            else:
                with self._lock:
                    self.stats["disk_hits"] += 1
            self._put(key, chunks)
            pending.set_result(chunks)
            return list(chunks)
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _put(self, key: Key, chunks: list[SynthChunk]) -> None:
        size = sum(c.audio.samples.nbytes for c in chunks)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = chunks
            self._sizes[key] = size
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                old, _ = self._items.popitem(last=False)
                self._bytes -= self._sizes.pop(old)
                self.stats["evicted"] += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self._bytes = 0

    # disk ---------------------------------------------------------------------------------------
    def _path(self, key: Key) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(repr((CACHE_VERSION, *key)).encode()).hexdigest()
        return self.directory / f"{digest[:40]}.npz"

    def _load(self, key: Key) -> list[SynthChunk] | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("key") != repr(key):
                    return None  # a hash collision or an older layout: not this phrase
                return [
                    SynthChunk(
                        AudioFrame(np.asarray(data[f"a{i}"], dtype=np.int16), int(c["rate"])),
                        str(c["text"]),
                        [(float(t), str(p)) for t, p in c["phonemes"]],
                    )
                    for i, c in enumerate(meta["chunks"])
                ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("phrase cache file %s is unreadable (%s); synthesising again", path, exc)
            return None

    def _store(self, key: Key, chunks: list[SynthChunk]) -> None:
        path = self._path(key)
        if path is None:
            return
        meta = {
            "key": repr(key),
            "chunks": [
                {"rate": c.audio.sample_rate, "text": c.text, "phonemes": [[t, p] for t, p in c.phonemes]}
                for c in chunks
            ],
        }
        arrays: dict[str, Any] = {f"a{i}": c.audio.samples for i, c in enumerate(chunks)}
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot write the phrase cache file %s (%s)", path, exc)


class CachedTts(TtsProvider):
    """A provider whose sentences are cached (see the module doc); otherwise the provider itself."""

    def __init__(self, inner: TtsProvider, cache: PhraseCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.caps = inner.caps

    def sample_rate(self, params: VoiceParams) -> int:
        return self.inner.sample_rate(params)

    def cache_identity(self, params: VoiceParams) -> str:
        return self.inner.cache_identity(params)

    def key(self, text: str, params: VoiceParams) -> Key:
        return (self.inner.cache_identity(params), params, text)

    def synthesize(self, text: str, params: VoiceParams) -> list[SynthChunk]:
        def make() -> list[SynthChunk]:
            log.debug("phrase cache miss: %r", text)
            return self.inner.synthesize(text, params)

        return self.cache.get_or_make(self.key(text, params), make)

    def cached(self, text: str, params: VoiceParams) -> list[SynthChunk] | None:
        """The phrase's audio if it is in memory now (nothing is synthesised)."""
        return self.cache.get(self.key(text, params))

    def warm_up(self, params: VoiceParams) -> None:
        self.inner.warm_up(params)

    def warm(
        self, phrases: Iterable[tuple[str, VoiceParams]], stop: Callable[[], bool] = lambda: False
    ) -> int:
        """Synthesise phrases not cached yet, one at a time, until ``stop()``; returns how many were
        made. A phrase that fails is skipped (the turn will try it again and fall back)."""
        made = 0
        for text, params in phrases:
            if stop():
                break
            key = self.key(text, params)
            if key in self.cache:
                continue
            try:
                self.cache.get_or_make(key, functools.partial(self.inner.synthesize, text, params))
                made += 1
            except Exception as exc:  # a provider boundary: a warm-up failure must not end the runtime
                log.warning(
                    "phrase cache: could not pre-synthesise %r with %s (%s: %s); the turn will try again",
                    text,
                    type(self.inner).__name__,
                    type(exc).__name__,
                    exc,
                )
        return made
