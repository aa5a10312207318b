"""STT worker processes die with the runtime, even on kill -9 (real processes, real signals).

A harness process makes itself the child subreaper (PR_SET_CHILD_SUBREAPER), so the workers of a
killed "runtime" become its children and it can see how they ended. The "runtime" is a Python
process that starts the worker pool from a short-lived thread (as asyncio.to_thread does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")

HARNESS = textwrap.dedent(
    r"""
    import ctypes, json, os, signal, subprocess, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    runtime = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
    workers = json.loads(runtime.stdout.readline())
    start = time.monotonic()
    os.kill(runtime.pid, signal.SIGKILL)
    runtime.wait()
    ended = {}
    while len(ended) < len(workers) and time.monotonic() - start < 60:
        pid, status = os.waitpid(-1, 0)  # blocks: the orphaned workers are our children now
        if pid in workers:
            ended[pid] = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                          "after_ms": round((time.monotonic() - start) * 1000)}
    print(json.dumps({"workers": workers, "ended": ended}))
    """
)

# A worker that never reads stdin again: only the kernel's parent-death signal can end it.
BLOCKED = textwrap.dedent(
    """
    import json, subprocess, sys, threading
    from npc_runtime.voice.stt.lifeline import spawn
    code = "from npc_runtime.voice.stt.lifeline import die_with_parent; die_with_parent(); import threading; print('up', flush=True); threading.Event().wait()"
    procs = []
    t = threading.Thread(target=lambda: procs.append(spawn([sys.executable, "-c", code], stdout=subprocess.PIPE)))
    t.start(); t.join()  # the spawning thread is gone before the runtime dies
    procs[0].stdout.readline()
    print(json.dumps([procs[0].pid]), flush=True)
    threading.Event().wait()
    """
)

# The real pool: a pocketsphinx worker, busy decoding when the runtime is killed.
POOL = textwrap.dedent(
    """
    import json, threading
    import numpy as np
    from npc_runtime.voice.stt.procpool import ProcessPoolStt
    box = []
    t = threading.Thread(target=lambda: box.append(ProcessPoolStt("pocketsphinx", processes=1)))
    t.start(); t.join()
    pool = box[0]
    stream = pool.stream()
    print(json.dumps(pool.pids()), flush=True)
    noise = (np.random.default_rng(0).standard_normal(16000 * 60) * 3000).astype(np.int16)
    while True:
        stream.feed(noise)
    """
)


def _run(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", HARNESS, code], capture_output=True, text=True, timeout=180, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_blocked_worker_is_killed_with_its_runtime() -> None:
    result = _run(BLOCKED)
    ended = result["ended"]
    assert isinstance(ended, dict) and len(ended) == 1
    (info,) = ended.values()
    assert info["signal"] == 9  # SIGKILL from the kernel: the worker itself never noticed
    print(f"blocked worker killed {info['after_ms']} ms after the runtime")


def test_pocketsphinx_workers_exit_with_a_killed_runtime() -> None:
    result = _run(POOL)
    ended = result["ended"]
    assert isinstance(ended, dict) and len(ended) == len(result["workers"])  # type: ignore[arg-type]
    for info in ended.values():
        assert info["signal"] == 9
        print(f"busy pocketsphinx worker killed {info['after_ms']} ms after the runtime")
