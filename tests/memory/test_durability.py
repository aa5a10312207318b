"""kill -9 while writing: every memory whose write call returned is on disk after a reopen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from npc_runtime.memory import MemoryService
from npc_runtime.storage import Database

WRITER = textwrap.dedent(
    """
    import sys
    from npc_runtime.memory import MemoryService, MemorySettings
    from npc_runtime.storage import Database

    svc = MemoryService(Database(sys.argv[1]), MemorySettings(embeddings="hashed"))
    for i in range(100_000):
        mid = svc.observe("mira", f"memory {i}: the player sold me {i} apples", importance=4, game_time=float(i))
        print(f"ack {mid} {i}", flush=True)  # acknowledged: observe() returned after the commit
    """
)


def test_acknowledged_memories_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "runtime.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked: dict[int, int] = {}
    try:
        for line in proc.stdout:
            _, mid, i = line.split()
            acked[int(mid)] = int(i)
            if len(acked) == 300:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, err
    assert len(acked) == 300

    db = Database(path)
    try:
        svc = MemoryService(db, embedder=None)
        for mid, i in acked.items():
            m = svc.memory(mid)
            assert m is not None, f"acknowledged memory {mid} was lost"
            assert m.text == f"memory {i}: the player sold me {i} apples"
        assert svc.store.count("mira") >= 300
    finally:
        db.close()
