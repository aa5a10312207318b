"""The voice concern's own thread pool, bounded, separate from the event loop's default one.

Voice work that blocks (a recogniser's feed or final decode, a synthesis, loading a model) runs
here rather than in ``asyncio.to_thread``'s pool. A final transcript holds its thread while
Whisper decodes in a worker process (the thread waits on a pipe, costing no CPU), so at 8
hands-free conversations ending turns together the loop's default pool (cpu_count + 4 = 6
threads on two cores) made the other conversations' feeds and syntheses queue behind those
waits. Raising the loop's default pool for that affected every extension; this pool is voice's
alone, and the rest of the runtime keeps the default.

Threads are also named for the operating system (:func:`os_named`, Linux only), so that the CPU
each stage burns can be read per thread from ``/proc/<pid>/task`` (tools/bench_voice.py does):
``voice`` (this pool: synthesis, recogniser feeds), ``smart-turn``, ``whisper`` (its pool and
CTranslate2's own threads, which inherit the name of the thread that loads the model), ``piper``
(onnxruntime's synthesis threads). The event loop is the main thread (its id is the pid).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

THREADS = 32  # ~4 a conversation at 8 simultaneous hands-free conversations; idle threads cost nothing
NAME = "voice"

P = ParamSpec("P")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process's voice pool (created on first use; threads start as work arrives)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                THREADS, thread_name_prefix=NAME, initializer=set_os_name, initargs=(NAME,)
            )
        return _pool


async def run(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``asyncio.to_thread`` on the voice pool (the caller's context variables go along)."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(pool(), call)


_PR_SET_NAME, _PR_GET_NAME = 15, 16
_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        _libc = None


def os_name() -> str:
    """The calling thread's name as the OS knows it ("" where it cannot tell)."""
    if _libc is None:
        return ""
    buf = ctypes.create_string_buffer(16)
    if _libc.prctl(_PR_GET_NAME, buf, 0, 0, 0) != 0:
        return ""
    return buf.value.decode(errors="replace")


def set_os_name(name: str) -> None:
    """Name the calling thread for the OS (15 bytes at most; a no-op off Linux). Threads a
    native library starts later from this thread inherit the name."""
    if _libc is not None:
        _libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


@contextlib.contextmanager
def os_named(name: str) -> Iterator[None]:
    """The calling thread carries ``name`` inside the block: a model loaded there names the
    threads its library starts (CTranslate2's, onnxruntime's) after its stage."""
    before = os_name()
    set_os_name(name)
    try:
        yield
    finally:
        if before:
            set_os_name(before)
