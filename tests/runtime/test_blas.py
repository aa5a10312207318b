"""The runtime limits numpy's BLAS to ``blas_threads`` in a process that loaded numpy first (a game
embedding the runtime, the demo): its idle helper threads otherwise spin after every
multiplication, and a Whisper decode cost twice the CPU (npc_runtime/runtime/blas.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, sys
import numpy  # loaded first, as an embedding game would
from threadpoolctl import threadpool_info

def blas():
    return max(int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")

before = blas()
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings

settings = json.loads(sys.argv[1])
Runtime(Settings.model_validate(settings))
print(json.dumps({"before": before, "after": blas()}))
"""


def _blas_threads(tmp_path: Path, personas_dir: Path, **extra: object) -> dict[str, int]:
    settings = {
        "personas_dir": str(personas_dir),
        "db": str(tmp_path / "runtime.sqlite3"),
        "voice": {"warm_up": False},
        **extra,
    }
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(settings)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_building_the_runtime_limits_blas_to_one_thread(tmp_path: Path, personas_dir: Path) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: BLAS starts one thread anyway")
    counts = _blas_threads(tmp_path, personas_dir)
    assert counts["before"] >= 2 and counts["after"] == 1, counts


def test_blas_threads_null_leaves_the_process_alone(tmp_path: Path, personas_dir: Path) -> None:
    counts = _blas_threads(tmp_path, personas_dir, blas_threads=None)
    assert counts["after"] == counts["before"], counts
