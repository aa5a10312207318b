"""Run a blocking STT provider in worker processes.

pocketsphinx holds the GIL while it decodes (measured: the event loop stalls for the whole
``process_raw`` call), so decoding in a thread would freeze every other conversation and could
never use the second core. Here each worker process loads the provider once; a stream is pinned
to the least busy worker and talks to it over pipes (length-prefixed msgpack). Workers are
plain ``python -m`` subprocesses, not multiprocessing children, so embedding the runtime in a
script without a ``__main__`` guard is safe. Callers still run ``feed``/``finish`` with
a thread (voice's pool, :mod:`..threads`): a thread waiting on a pipe releases the GIL.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable
from typing import Any

import msgpack
import numpy as np

from ...errors import ProviderError
from ..frames import Int16Array
from .base import SttCaps, SttProvider, SttStream
from .lifeline import die_with_parent, spawn


def _read_frame(stream: Any) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError("pipe closed")
    size = struct.unpack("<I", head)[0]
    body = stream.read(size)
    if len(body) < size:
        raise EOFError("pipe closed")
    return msgpack.unpackb(body, raw=False)


def _write_frame(stream: Any, obj: Any) -> None:
    body = msgpack.packb(obj, use_bin_type=True)
    stream.write(struct.pack("<I", len(body)) + body)
    stream.flush()


def serve(name: str, options: dict[str, Any]) -> None:  # pragma: no cover - runs in the worker
    """The worker's loop: requests on stdin, replies on the original stdout (anything else the
    libraries print goes to stderr)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    from . import load_stt

    try:
        provider = load_stt(name, **options)
    except Exception as exc:
        _write_frame(out, ["err", f"{type(exc).__name__}: {exc}"])
        return
    _write_frame(out, ["ok", None])
    streams: dict[int, SttStream] = {}
    while True:
        try:
            op, sid, arg = _read_frame(inp)
        except EOFError:
            return
        try:
            result: Any = None
            if op == "open":
                streams[sid] = provider.stream()
            elif op == "feed":
                result = streams[sid].feed(np.frombuffer(arg, dtype="<i2").astype(np.int16))
            elif op == "finish":
                result = streams.pop(sid).finish()
            elif op == "cancel":
                stream = streams.pop(sid, None)
                if stream is not None:
                    stream.cancel()
            elif op == "vocab":
                provider.set_vocabulary(arg)
            elif op == "phrases":
                provider.set_phrases(arg)
            else:
                raise ValueError(f"unknown op {op}")
            _write_frame(out, ["ok", result])
        except Exception as exc:
            streams.pop(sid, None)
            _write_frame(out, ["err", f"{type(exc).__name__}: {exc}"])


class _Worker:
    """One worker process; restarted (with the last vocabulary) if it dies."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = options
        self.lock = threading.Lock()
        self.active = 0
        self.vocab: list[str] | None = None
        self.phrases: list[str] | None = None
        self._start()

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "npc_runtime.voice.stt.procpool", self.name, json.dumps(self.options)]
        self.proc = spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # dies with the runtime
        self._in: Any = self.proc.stdin
        self._out: Any = self.proc.stdout
        try:
            status, detail = _read_frame(self._out)
        except EOFError as exc:
            raise ProviderError(self.name, "worker process exited while loading") from exc
        if status != "ok":
            raise ProviderError(self.name, f"worker failed to load: {detail}")
        if self.vocab is not None:
            self._roundtrip("vocab", 0, self.vocab)
        if self.phrases is not None:
            self._roundtrip("phrases", 0, self.phrases)

    def _roundtrip(self, op: str, sid: int, arg: Any) -> Any:
        _write_frame(self._in, [op, sid, arg])
        status, result = _read_frame(self._out)
        if status != "ok":
            raise ProviderError("stt-worker", str(result))
        return result

    def call(self, op: str, sid: int, arg: Any = None) -> Any:
        with self.lock:
            if op == "vocab":
                self.vocab = list(arg)
            elif op == "phrases":
                self.phrases = list(arg)
            try:
                return self._roundtrip(op, sid, arg)
            except (EOFError, OSError) as exc:
                # The process died (killed, out of memory): the streams it held are lost, but
                # the next utterance gets a fresh worker.
                self.proc.kill()
                self.proc.wait()
                for pipe in (self._in, self._out):
                    with contextlib.suppress(OSError):
                        pipe.close()
                self._start()
                raise ProviderError("stt-worker", f"worker process died ({exc}); restarted it") from exc

    def close(self) -> None:
        self._in.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


class ProcessPoolStt(SttProvider):
    def __init__(self, name: str, options: dict[str, Any] | None = None, processes: int = 2) -> None:
        self.name = name
        opts = dict(options or {})
        self._workers = [_Worker(name, opts) for _ in range(max(1, processes))]
        self.caps = SttCaps(streaming=True, interim=True, offline=name != "openai")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def stream(self) -> SttStream:
        with self._lock:
            worker = min(self._workers, key=lambda w: w.active)
            worker.active += 1
        return _RemoteStream(self, worker, next(self._ids))

    def set_vocabulary(self, words: Iterable[str]) -> None:
        items = list(words)
        for w in self._workers:
            w.call("vocab", 0, items)

    def set_phrases(self, phrases: Iterable[str]) -> None:
        items = list(phrases)
        for w in self._workers:
            w.call("phrases", 0, items)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    def release(self, worker: _Worker) -> None:
        with self._lock:
            worker.active -= 1

    def close(self) -> None:
        for w in self._workers:
            w.close()


class _RemoteStream(SttStream):
    def __init__(self, pool: ProcessPoolStt, worker: _Worker, sid: int) -> None:
        self._pool = pool
        self._worker = worker
        self._sid = sid
        self._done = False
        worker.call("open", sid)

    def feed(self, samples: Int16Array) -> str | None:
        if self._done:
            return None
        result = self._worker.call("feed", self._sid, samples.astype(np.int16).tobytes())
        return str(result) if result else None

    def finish(self) -> str:
        if self._done:
            return ""
        self._done = True
        try:
            return str(self._worker.call("finish", self._sid) or "")
        finally:
            self._pool.release(self._worker)

    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._worker.call("cancel", self._sid)
        finally:
            self._pool.release(self._worker)


if __name__ == "__main__":  # pragma: no cover - the worker process
    die_with_parent()
    serve(sys.argv[1], json.loads(sys.argv[2]))
