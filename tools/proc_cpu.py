"""CPU seconds of a process and its children from /proc (Linux), whole or by thread name:
what tools/bench_voice.py reads from the runtime under test."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path


def cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) of a process and its children (the STT workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def cpu_by_thread(root_pid: int) -> dict[str, float]:
    """CPU seconds so far by stage: the runtime's threads grouped by the names it gives them
    (npc_runtime/voice/threads.py: ``voice``, ``smart-turn``, ``whisper``, ``piper``), its main
    thread (``loop``: the event loop, VAD, the end-of-turn policy) and its child processes
    (``stt-workers``: pocketsphinx)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: Counter[str] = Counter()

    def ticks(stat: Path) -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        tasks = list(Path(f"/proc/{root_pid}/task").iterdir())
    except OSError:
        return {}
    for task in tasks:
        try:
            comm = (task / "comm").read_text().strip()
            sec = ticks(task / "stat")
        except OSError:
            continue
        name = "loop" if task.name == str(root_pid) else comm
        out["zmq" if name.startswith("ZMQ") else name] += sec
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == str(root_pid):
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == root_pid:
                out["stt-workers"] += ticks(entry / "stat")
        except (OSError, ValueError):
            continue
    return dict(out)
