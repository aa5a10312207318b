"""Run a blocking STT provider in worker processes.

pocketsphinx holds the GIL while it decodes (measured: the event loop stalls for the whole
``process_raw`` call), so decoding in a thread would freeze every other conversation and could
never use the second core. Here each worker process loads the provider once; a stream is pinned
to the least busy worker and talks to it over a pipe. Callers still run ``feed``/``finish`` with
``asyncio.to_thread``: a thread waiting on a pipe releases the GIL.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import threading
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ...errors import ProviderError
from ..frames import Int16Array
from .base import SttCaps, SttProvider, SttStream


def _serve(conn: Connection, name: str, options: dict[str, Any]) -> None:  # pragma: no cover - child
    from . import load_stt

    try:
        provider = load_stt(name, **options)
    except Exception as exc:
        conn.send(("err", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ok", None))
    streams: dict[int, SttStream] = {}
    while True:
        try:
            op, sid, arg = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op == "open":
                streams[sid] = provider.stream()
                result: Any = None
            elif op == "feed":
                result = streams[sid].feed(np.frombuffer(arg, dtype=np.int16))
            elif op == "finish":
                result = streams.pop(sid).finish()
            elif op == "cancel":
                stream = streams.pop(sid, None)
                if stream is not None:
                    stream.cancel()
                result = None
            elif op == "vocab":
                provider.set_vocabulary(arg)
                result = None
            else:
                raise ValueError(f"unknown op {op}")
            conn.send(("ok", result))
        except Exception as exc:
            streams.pop(sid, None)
            conn.send(("err", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx: Any, name: str, options: dict[str, Any]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, name, options), daemon=True, name=f"stt-{name}")
        self.proc.start()
        child.close()
        self.lock = threading.Lock()
        self.active = 0
        status, detail = self.conn.recv()
        if status != "ok":
            raise ProviderError(name, f"worker failed to load: {detail}")

    def call(self, op: str, sid: int, arg: Any = None) -> Any:
        with self.lock:
            try:
                self.conn.send((op, sid, arg))
                status, result = self.conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                raise ProviderError("stt-worker", f"worker process died ({exc})") from exc
        if status != "ok":
            raise ProviderError("stt-worker", str(result))
        return result

    def close(self) -> None:
        self.conn.close()
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()


class ProcessPoolStt(SttProvider):
    def __init__(self, name: str, options: dict[str, Any] | None = None, processes: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.name = name
        opts = dict(options or {})
        self._workers = [_Worker(ctx, name, opts) for _ in range(max(1, processes))]
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
