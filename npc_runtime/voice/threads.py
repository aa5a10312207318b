"""The voice concern's own thread pool, bounded, separate from the event loop's default one.

Voice work that blocks (a recogniser's feed or final decode, a synthesis, loading a model) runs
here rather than in ``asyncio.to_thread``'s pool. A final transcript holds its thread while
Whisper decodes in a worker process (the thread waits on a pipe, costing no CPU), so at 8
hands-free conversations ending turns together the loop's default pool (cpu_count + 4 = 6
threads on two cores) made the other conversations' feeds and syntheses queue behind those
waits. Raising the loop's default pool for that affected every extension; this pool is voice's
alone, and the rest of the runtime keeps the default.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
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
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix=NAME)
        return _pool


async def run(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``asyncio.to_thread`` on the voice pool (the caller's context variables go along)."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(pool(), call)
