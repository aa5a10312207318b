"""Models load once per process and are shared by every conversation (and every Runtime)."""

from __future__ import annotations

import atexit
import json
import threading
from typing import Any

from .stt import SttProvider, load_stt
from .tts import TtsProvider, load_tts
from .vad import VadModel, load_vad

_lock = threading.Lock()
_cache: dict[tuple[str, str, str], Any] = {}


def _key(kind: str, name: str, options: dict[str, Any]) -> tuple[str, str, str]:
    return (kind, name, json.dumps(options, sort_keys=True, default=str))


def shared_vad(name: str) -> VadModel:
    return _get("vad", name, {}, lambda: load_vad(name))


def shared_stt(name: str, options: dict[str, Any] | None = None, processes: int = 0) -> SttProvider:
    """``processes`` > 0 runs the provider in that many worker processes (pocketsphinx holds the
    GIL while decoding; see :mod:`.stt.procpool`)."""
    opts = options or {}
    if processes > 0 and name == "pocketsphinx":
        from .stt.procpool import ProcessPoolStt

        def make() -> ProcessPoolStt:
            pool = ProcessPoolStt(name, opts, processes)
            atexit.register(pool.close)  # end the workers with this process, cleanly
            return pool

        key_opts = {**opts, "__processes": processes}
        return _get("stt", name, key_opts, make)
    return _get("stt", name, opts, lambda: load_stt(name, **opts))


def shared_tts(name: str, options: dict[str, Any] | None = None) -> TtsProvider:
    opts = options or {}
    return _get("tts", name, opts, lambda: load_tts(name, **opts))


def _get(kind: str, name: str, options: dict[str, Any], make: Any) -> Any:
    key = _key(kind, name, options)
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = _cache[key] = make()
        return model
