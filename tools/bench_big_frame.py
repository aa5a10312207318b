"""Peak memory of ``npc-runtime serve`` when a client sends one huge frame.

    python tools/bench_big_frame.py [--mib 1024] [--runs 3]

Starts the runtime as a subprocess (personas/, a temporary database), reads its peak and current
resident memory (VmHWM, VmRSS from /proc) before and after a client sends one frame of ``--mib``
MiB, and checks that a fresh client still gets ``pong``. Prints median and p95 of the growth over
``--runs`` runs, and what the sending client saw.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import zmq

ROOT = Path(__file__).resolve().parent.parent


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) // 1024  # MiB
    return out


def _start(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = tmp / "serve.log"
    env = dict(os.environ)  # voice models load before 'listening' (warm_up): RSS is then steady
    cmd = [sys.executable, "-m", "npc_runtime.cli", "serve", "--bind", "tcp://127.0.0.1:0",
           "--personas", str(ROOT / "personas"), "--db", str(tmp / "db.sqlite3")]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        m = re.search(r"listening on (\S+)", log.read_text())
        if m:
            return proc, m.group(1)
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"runtime did not start:\n{log.read_text()}")


def _ping(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, timeout_ms: int = 30_000) -> bool:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send(msgpack.packb({"type": "ping", "id": 1}))
        return bool(sock.poll(timeout_ms)) and msgpack.unpackb(sock.recv()).get("type") == "pong"
    finally:
        sock.close(linger=0)


def one_run(mib: int) -> tuple[int, int, str, bool]:
    with tempfile.TemporaryDirectory() as d:
        proc, endpoint = _start(Path(d))
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        try:
            assert _ping(ctx, endpoint)
            before = _status(proc.pid)
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
            frame = msgpack.packb(
                {"type": "audio_chunk", "conversation_id": "c", "seq": 0, "pcm": b"\0" * (mib << 20)}
            )
            sock.send(frame, copy=False)
            del frame
            seen = "nothing within 20 s (the connection was dropped; the DEALER reconnects silently)"
            if sock.poll(20_000):
                reply = msgpack.unpackb(sock.recv())
                seen = f"{reply.get('type')} {reply.get('code', '')}".strip()
            sock.close(linger=0)
            alive = _ping(ctx, endpoint)
            after = _status(proc.pid)
            return after["VmHWM"] - before["VmHWM"], after["VmRSS"] - before["VmRSS"], seen, alive
        finally:
            ctx.term()
            proc.terminate()
            proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    peaks, resident = [], []
    for i in range(args.runs):
        peak, rss, seen, alive = one_run(args.mib)
        peaks.append(peak)
        resident.append(rss)
        print(f"run {i + 1}: peak +{peak} MiB, resident +{rss} MiB; client saw: {seen}; pong after: {alive}")
    q = statistics.quantiles(peaks, n=20, method="inclusive")[-1] if len(peaks) > 1 else peaks[0]
    print(f"{args.mib} MiB frame: peak RSS growth median {statistics.median(peaks):.0f} MiB, p95 {q:.0f} MiB; "
          f"resident growth median {statistics.median(resident):.0f} MiB; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
