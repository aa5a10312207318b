"""Runtime core benchmark: round trips and throughput next to a bare pyzmq ROUTER/DEALER echo.

    python tools/bench_runtime.py [--json out.json] [--plot out.png] [--pings 5000] [--clients 4]

Both servers run as separate processes on loopback (the runtime as `npc-runtime serve`), and the
same client code measures both in one run, so the runtime's own overhead shows as a difference and
a ratio that machine noise affects equally. Figures:
- ping round trip p50/p99 (one outstanding message): runtime vs bare echo
- text turn round trip p50/p99 with the authored provider (player_text -> npc_text_final)
- messages per second with several clients pipelining pings (window of 64 each)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

ROOT = Path(__file__).resolve().parent.parent

ECHO_SERVER = r"""
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
port = s.bind_to_random_port("tcp://127.0.0.1")
print(f"listening on tcp://127.0.0.1:{port}", flush=True)
while True:
    ident, payload = s.recv_multipart()
    s.send_multipart([ident, payload])
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"listening on (\S+)", line)
        if m:
            return proc, m.group(1)
    raise RuntimeError("server did not start")


def dealer(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, hello: bool) -> zmq.Socket[bytes]:
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    if hello:
        s.send(msgpack.packb({"type": "hello", "id": 0, "protocol": 1, "client": "bench"}))
        reply = msgpack.unpackb(s.recv())
        assert reply["type"] == "welcome", reply
    return s


def ping_latency(sock: zmq.Socket[bytes], n: int) -> list[float]:
    out = []
    for i in range(n):
        payload = msgpack.packb({"type": "ping", "id": i, "t": 0.0})
        t0 = time.perf_counter_ns()
        sock.send(payload)
        sock.recv()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def throughput(socks: list[zmq.Socket[bytes]], per_client: int, window: int = 64) -> float:
    payload = msgpack.packb({"type": "ping", "id": 1, "t": 0.0})
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    sent = dict.fromkeys(socks, 0)
    got = dict.fromkeys(socks, 0)
    t0 = time.perf_counter()
    for s in socks:
        for _ in range(window):
            s.send(payload)
            sent[s] += 1
    total = per_client * len(socks)
    done = 0
    while done < total:
        for s, _ev in poller.poll(5000):
            while True:
                try:
                    s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                got[s] += 1
                done += 1
                if sent[s] < per_client:
                    s.send(payload)
                    sent[s] += 1
    return total / (time.perf_counter() - t0)


def turn_latency(sock: zmq.Socket[bytes], n: int) -> list[float]:
    sock.send(msgpack.packb({"type": "conversation_start", "id": "c", "npc_ids": ["mira"], "greet": False}))
    conv = msgpack.unpackb(sock.recv())["conversation_id"]
    lines = ["do you have a room", "any gossip", "tell me about the wolves", "zork flub"]
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        sock.send(
            msgpack.packb({"type": "player_text", "id": i, "conversation_id": conv, "text": lines[i % 4]})
        )
        while msgpack.unpackb(sock.recv())["type"] != "npc_text_final":
            pass
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 4),
        "p99_ms": round(pct(values, 99), 4),
        "p95_ms": round(pct(values, 95), 4),
        "n": len(values),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pings", type=int, default=5000)
    ap.add_argument("--turns", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--messages", type=int, default=25000, help="pings per client in the throughput run")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path, help="write a PNG of the latency distributions")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-runtime-")
    echo, echo_ep = start([sys.executable, "-c", ECHO_SERVER])
    rt, rt_ep = start(
        [
            sys.executable,
            "-m",
            "npc_runtime.cli",
            "serve",
            "--bind",
            "tcp://127.0.0.1:0",
            "--personas",
            str(ROOT / "personas"),
            "--db",
            os.path.join(tmp, "db.sqlite3"),
            "--log-level",
            "WARNING",
        ]
    )
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        e1, r1 = dealer(ctx, echo_ep, False), dealer(ctx, rt_ep, True)
        ping_latency(e1, 500), ping_latency(r1, 500)  # warm-up
        bare = ping_latency(e1, args.pings)
        runtime = ping_latency(r1, args.pings)
        turns = turn_latency(r1, args.turns)
        e_socks = [dealer(ctx, echo_ep, False) for _ in range(args.clients)]
        r_socks = [dealer(ctx, rt_ep, True) for _ in range(args.clients)]
        bare_tp = throughput(e_socks, args.messages)
        rt_tp = throughput(r_socks, args.messages)
    finally:
        ctx.destroy(linger=0)
        for p in (echo, rt):
            p.terminate()
            p.wait(10)
    b, r = summary(bare), summary(runtime)
    result: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "ping_bare_zmq": b,
        "ping_runtime": r,
        "runtime_overhead_ms": {
            "p50": round(r["p50_ms"] - b["p50_ms"], 4),
            "p99": round(r["p99_ms"] - b["p99_ms"], 4),
        },
        "runtime_over_bare_ratio_p50": round(r["p50_ms"] / b["p50_ms"], 2),
        "text_turn_authored": summary(turns),
        "throughput_msgs_per_s": {
            "bare_zmq": round(bare_tp),
            "runtime": round(rt_tp),
            "clients": args.clients,
            "ratio": round(rt_tp / bare_tp, 3),
        },
        "targets": {"overhead_p99_ms": 1.0, "runtime_msgs_per_s": 20000},
    }
    print(f"ping round trip   bare zmq  p50 {b['p50_ms']:.3f} ms  p99 {b['p99_ms']:.3f} ms")
    print(f"ping round trip   runtime   p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")
    print(
        f"runtime overhead  p50 {result['runtime_overhead_ms']['p50']:.3f} ms  p99 {result['runtime_overhead_ms']['p99']:.3f} ms"
        f"  (target p99 <= 1 ms)"
    )
    t = result["text_turn_authored"]
    print(f"text turn (authored)     p50 {t['p50_ms']:.3f} ms  p99 {t['p99_ms']:.3f} ms")
    tp = result["throughput_msgs_per_s"]
    print(
        f"throughput, {args.clients} clients   bare zmq {tp['bare_zmq']:,}/s   runtime {tp['runtime']:,}/s"
        f"   ratio {tp['ratio']}  (target >= 20,000/s)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        top = pct(turns + runtime + bare, 99.5)
        for values, label in (
            (bare, "ping, bare zmq"),
            (runtime, "ping, runtime"),
            (turns, "text turn, authored"),
        ):
            ax.hist([v for v in values if v <= top], bins=80, alpha=0.55, label=label)
        ax.set_xlabel("round trip (ms)")
        ax.set_ylabel("count")
        ax.set_title("npc-runtime round trips on loopback")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
