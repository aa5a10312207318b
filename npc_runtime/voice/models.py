"""Models load once per process and are shared by every conversation (and every Runtime)."""

from __future__ import annotations

import atexit
import json
import threading
from typing import Any

from .stt import SttProvider, load_stt
from .tts import TtsProvider, load_tts
from .vad import VadModel, load_vad

_lock = threading.RLock()  # re-entrant: a cascade loads its parts through _get
_cache: dict[tuple[str, str, str], Any] = {}


def _key(kind: str, name: str, options: dict[str, Any]) -> tuple[str, str, str]:
    return (kind, name, json.dumps(options, sort_keys=True, default=str))


def shared_vad(name: str) -> VadModel:
    return _get("vad", name, {}, lambda: load_vad(name))


def shared_stt(name: str, options: dict[str, Any] | None = None, processes: int = 0) -> SttProvider:
    """``processes`` > 0 runs pocketsphinx in that many worker processes (it holds the GIL while
    decoding; see :mod:`.stt.procpool`); for ``cascade`` that is its streaming (interim) part,
    while Whisper runs in threads (CTranslate2 releases the GIL). ``cascade`` options:
    ``interim`` / ``final`` (provider names; interim may be null), ``interim_options``,
    ``final_options``, ``final_processes`` (Whisper in worker processes instead of threads),
    ``max_interim`` (utterances at a time with a streaming decoder, default 1)."""
    opts = dict(options or {})
    if name == "cascade":
        from .stt.cascade import MAX_INTERIM, CascadeStt, interim_options

        def make_cascade() -> CascadeStt:
            interim = opts.get("interim", "pocketsphinx")
            final = shared_stt(
                opts.get("final", "whisper"), opts.get("final_options"), int(opts.get("final_processes", 0))
            )
            return CascadeStt(
                final,
                shared_stt(interim, interim_options(interim, opts.get("interim_options")), processes)
                if interim
                else None,
                int(opts.get("max_interim", MAX_INTERIM)),
            )

        return _get("stt", name, {**opts, "__processes": processes}, make_cascade)
    if processes > 0 and name in ("pocketsphinx", "whisper"):
        from .stt.procpool import ProcessPoolStt

        def make() -> ProcessPoolStt:
            pool = ProcessPoolStt(name, opts, processes)
            atexit.register(pool.close)  # end the workers with this process, cleanly
            return pool

        key_opts = {**opts, "__processes": processes}
        return _get("stt", name, key_opts, make)
    return _get("stt", name, opts, lambda: load_stt(name, **opts))


def shared_tts(
    name: str, options: dict[str, Any] | None = None, cache_mb: float = 0.0, cache_dir: str | None = None
) -> TtsProvider:
    """The provider, shared; with ``cache_mb`` > 0 wrapped in the process's phrase cache
    (:mod:`.tts.cache`, one cache for every provider with the same size and directory)."""
    opts = options or {}
    raw: TtsProvider = _get("tts", name, opts, lambda: load_tts(name, **opts))
    if cache_mb <= 0:
        return raw
    from pathlib import Path

    from .tts.cache import CachedTts, PhraseCache

    where = {"mb": cache_mb, "dir": cache_dir}
    cache = _get(
        "phrase-cache",
        "",
        where,
        lambda: PhraseCache(int(cache_mb * (1 << 20)), Path(cache_dir) if cache_dir else None),
    )
    return _get("tts-cached", name, {**opts, "__cache": where}, lambda: CachedTts(raw, cache))


def _get(kind: str, name: str, options: dict[str, Any], make: Any) -> Any:
    key = _key(kind, name, options)
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = _cache[key] = make()
        return model
