"""Runs the Unity (C#) and Godot binding tests (bindings/run_tests.sh) in the normal test command.

The script builds the C# client with mono's mcs, runs its NUnit tests with nunit-console and the
GDScript tests with godot3-server, all against the real runtime started from this Python. Missing
engine toolchains are a failure (not a skip): install the Debian packages named below.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bindings" / "run_tests.sh"
APT_PACKAGES = "mono-mcs mono-runtime libmono-system4.0-cil libnunit-cil-dev nunit-console godot3-server"
TOOLS = ("mcs", "mono", "nunit-console", "godot3-server")


# Two runtime processes start (C# and Godot end-to-end tests); their imports alone can take 30 s
# each on a loaded 2-core machine, and the C# voice tests stream speech at real-time pace (about
# 2 minutes), so this test gets far more than the suite's default 120 s.
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_engine_bindings_pass_against_the_real_runtime() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"engine toolchains missing ({', '.join(missing)}): apt-get install -y {APT_PACKAGES}"
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=REPO,
        env={**os.environ, "NPC_RUNTIME_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=870,
    )
    output = proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    summary = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert summary is not None, f"bindings/run_tests.sh ended without its summary line:\n{output}"
    assert proc.returncode == 0, f"bindings/run_tests.sh failed ({last}):\n{output}"
    assert summary.group(2) == "0", output
    assert int(summary.group(1)) > 100, f"far fewer binding tests ran than expected:\n{output}"
