"""Worker processes that die with the runtime, even when it is killed with SIGKILL.

A worker notices a normal exit of the runtime by EOF on its stdin, but only between requests; a
worker that is loading a model or decoding holds the GIL in C code and would outlive a kill -9 of
the runtime by seconds. On Linux the kernel can send a signal to a process when its parent dies
(``PR_SET_PDEATHSIG``): :func:`die_with_parent` asks for SIGKILL at the worker's start.

The kernel's "parent" is the *thread* that forked the child, so a worker started from a short-lived
thread (``asyncio.to_thread``) would be killed when that thread ends. :func:`spawn` therefore
starts every worker from one thread that lives as long as the process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1
PARENT_ENV = "NPC_RUNTIME_PARENT_PID"

_spawner: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(cmd, **kwargs)`` from the process-long spawner thread, with the parent's
    pid in the environment for :func:`die_with_parent`."""
    global _spawner
    with _lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-spawner")
    env = {**(kwargs.pop("env", None) or os.environ), PARENT_ENV: str(os.getpid())}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, env=env, **kwargs)

    return _spawner.submit(start).result()


def die_with_parent() -> bool:
    """In a worker: be killed when the runtime dies. Returns False where the OS cannot (not Linux);
    exits at once when the runtime is already gone."""
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
    if parent and os.getppid() != parent:  # the runtime died before prctl took effect
        os._exit(1)
    return ok
