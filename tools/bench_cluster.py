"""Benchmark of the shared world log (cluster mode) on a real PostgreSQL server.

Measures, on the sample village world:

- **commit latency** of one world event: ``WorldService.apply`` on SQLite (embedded mode) and on
  PostgreSQL (one locked instance row, the log append, the state rows, the NOTIFY): p50 / p99,
  and what PostgreSQL adds over SQLite;
- **world events per second on one world instance**, with 1, 2 and 4 writers (threads, each a
  replica on its own connection, each retrying when another appended first);
- **cross-worker visibility**: from a writer's commit returning to a follower (another replica,
  woken by the LISTEN/NOTIFY doorbell) having applied the event: p50 / p99.

- **throughput at 1, 2 and 4 workers** (``--part workers``): real ``npc-runtime serve --world-db``
  subprocesses sharing one PostgreSQL, each driven directly by ``--clients`` text conversations
  that send their next line when the NPC's reply is final (closed loop). Once with the real
  providers (the authored dialogue, text only: CPU-bound on this machine's 2 cores) and once with
  ``--stand-in``, a provider that sleeps ``--stand-in-seconds`` per reply instead of computing it
  (a stand-in for measuring coordination: what the shared database and the workers cost, apart
  from the models' CPU). Turns/s, turn latency p50/p95, the scaling ratio over one worker and the
  database's transactions per turn (the calibration of ``tools/simulate_cluster.py``).

- **throughput through a gateway** (``--part gateway``): the same closed loops with stand-in
  providers, every conversation sent to one ``--mode gateway`` process in front of 1, 2 and 4
  ``--mode worker`` processes (it places them on the less loaded of two random workers).

Not measured here: added latency per turn through a gateway and failover time
(``tools/cluster_chaos.py latency`` and ``gateway``).
Run the chaos loop with ``tools/cluster_chaos.py``.

    .venv/bin/python tools/bench_cluster.py [--part world|workers|gateway|all] [--events 2000] [--dsn postgresql://...] [--plot out.png] [--json out.json]

Without ``--dsn`` a throwaway server is started (fsync=off: the figures are for coordination,
not for disk flushes; a production server's fsync adds its own latency to every commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq
import zmq.asyncio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from npc_runtime.storage import Database  # noqa: E402
from npc_runtime.storage.pgserver import TempPostgres  # noqa: E402
from npc_runtime.storage.postgres import Doorbell, PgDatabase  # noqa: E402
from npc_runtime.world.compiled import World, load_world  # noqa: E402
from npc_runtime.world.engine import WorldEvent  # noqa: E402
from npc_runtime.world.pgstore import CHANNEL, PgWorldStore  # noqa: E402
from npc_runtime.world.service import WorldService  # noqa: E402
from npc_runtime.world.store import WorldStore  # noqa: E402

VILLAGE = REPO / "personas" / "village.world.yaml"
PLACES = ["inn", "smithy", "old_mill", "square", "north_gate"]


def event(n: int, writer: int = 0) -> WorldEvent:
    return WorldEvent("location_entered", {"location": PLACES[(n + writer) % len(PLACES)]}, [])


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def summary(samples_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in samples_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p95_ms": round(pct(ms, 95), 3),
            "p99_ms": round(pct(ms, 99), 3), "mean_ms": round(statistics.fmean(ms), 3)}  # fmt: skip


def fresh_db(admin_dsn: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}".encode())
        conn.execute(f"CREATE DATABASE {name}".encode())
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


def commit_latency(world: World, dsn: str, n: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "w.sqlite3")
        lite = WorldService(world, WorldStore(db))
        sqlite_s = []
        for i in range(n):
            t = time.perf_counter()
            lite.apply(event(i))
            sqlite_s.append(time.perf_counter() - t)
        db.close()
    pg = PgDatabase(dsn)
    svc = WorldService(world, PgWorldStore(pg))
    pg_s = []
    for i in range(n):
        t = time.perf_counter()
        svc.apply(event(i))
        pg_s.append(time.perf_counter() - t)
    pg.close()
    return sqlite_s, pg_s


def throughput(world: World, dsn: str, writers: int, per: int) -> dict[str, Any]:
    dbs = [PgDatabase(dsn) for _ in range(writers)]
    services = [WorldService(world, PgWorldStore(db)) for db in dbs]
    for s in services:
        s.catch_up()
    start = threading.Barrier(writers + 1)

    def write(k: int) -> None:
        start.wait()
        for n in range(per):
            services[k].apply(event(n, k))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for db in dbs:
        db.close()
    return {"writers": writers, "events": writers * per, "seconds": round(elapsed, 3),
            "events_per_s": round(writers * per / elapsed, 1)}  # fmt: skip


async def visibility(world: World, dsn: str, n: int) -> list[float]:
    """A writer thread commits one event at a time; this loop's replica follows by doorbell."""
    writer_db, follower_db = PgDatabase(dsn), PgDatabase(dsn)
    writer = WorldService(world, PgWorldStore(writer_db))
    follower = WorldService(world, PgWorldStore(follower_db))
    follower.catch_up()
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    caught = threading.Event()
    bell = Doorbell(dsn, CHANNEL)
    await bell.start()

    def write() -> None:
        for i in range(n):
            caught.clear()
            changes = writer.apply(event(i))
            committed[changes.seq] = time.perf_counter()
            caught.wait(10)  # one event in flight: measures the path, not a queue

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while len(seen) < n:
            await bell.wait(1.0)
            for _, changes in await asyncio.to_thread(follower.catch_up):
                seen[changes.seq] = time.perf_counter()
                caught.set()
    finally:
        thread.join()
        await bell.stop()
        writer_db.close()
        follower_db.close()
    return [seen[s] - committed[s] for s in committed if s in seen]


# -- throughput across workers ---------------------------------------------------------------------
NPCS = ["mira", "bram", "elda", "tomas"]
LINES = [
    "do you have a room",
    "any gossip",
    "tell me about the wolves",
    "what is your name",
    "goodbye for now",
]
# Lines no authored topic answers, so that every stand-in turn reaches the (sleeping) provider.
FREE_LINES = [
    "my cousin paints kites with turnip ink",
    "seven herons argued over a violin yesterday",
    "I traded my left boot for a jar of moonlight",
    "the clockmaker's parrot hums sea shanties backwards",
]


class Worker:
    """One ``npc-runtime serve`` subprocess; its output is drained by a thread (a full pipe
    would stall it)."""

    def __init__(self, dsn: str, tmp: Path, k: int, stand_in: float | None) -> None:
        cmd = [
            sys.executable, "-m", "npc_runtime.cli", "serve", "--bind", "tcp://127.0.0.1:0",
            "--personas", str(REPO / "personas"), "--db", str(tmp / f"worker{k}.sqlite3"),
            "--world-db", dsn, "--no-voice", "--log-level", "WARNING",
        ]  # fmt: skip
        if stand_in is not None:
            cmd += ["--stand-in", str(stand_in)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        self.endpoint = ""
        for line in self.proc.stdout:
            m = re.search(r"listening on (\S+)", line)
            if m:
                self.endpoint = m.group(1)
                break
        if not self.endpoint:
            raise RuntimeError(f"worker {k} did not start (exit {self.proc.wait()})")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def conversation(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    name: str,
    npc: str,
    until: float,
    latencies: list[float],
    lines: list[str],
) -> None:
    """One player's closed loop of text turns on one worker until ``until`` (perf_counter)."""
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)

    async def ask(msg: dict[str, Any], want: str) -> dict[str, Any]:
        await s.send(msgpack.packb(msg))
        while True:
            reply = msgpack.unpackb(await asyncio.wait_for(s.recv(), 120))
            if reply["type"] == want:
                return dict(reply)
            if reply["type"] == "error":
                raise RuntimeError(f"{name}: {reply}")

    try:
        await ask({"type": "hello", "id": 0, "protocol": 1, "client": name}, "welcome")
        started = await ask(
            {"type": "conversation_start", "id": 1, "npc_ids": [npc], "player_id": name, "greet": False},
            "conversation_started",
        )
        conv, i = started["conversation_id"], 0
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            text = lines[i % len(lines)]
            msg = {"type": "player_text", "id": 2 + i, "conversation_id": conv, "text": text}
            await ask(msg, "npc_text_final")
            latencies.append(time.perf_counter() - t0)
            i += 1
    finally:
        s.close()


def db_commits(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


class Gateway:
    """``workers`` real ``--mode worker`` processes and a ``--mode gateway`` in front
    (tools/cluster_gateway.py); every client talks to the gateway, which places conversations."""

    def __init__(self, dsn: str, tmp: Path, workers: int, stand_in: float | None) -> None:
        from cluster_gateway import local_cluster

        extra = ["--stand-in", str(stand_in)] if stand_in is not None else []
        # a worker busy on a loaded machine must not be taken for dead (no failover here)
        self._cm = local_cluster(dsn, tmp, workers, worker_args=extra, cluster={"max_age": 10.0})
        cluster = self._cm.__enter__()
        assert cluster.gateway is not None
        self.endpoint = cluster.gateway.endpoint

    def stop(self) -> None:
        self._cm.__exit__(None, None, None)


def worker_throughput(
    admin: str,
    workers: int,
    clients: int,
    seconds: float,
    stand_in: float | None,
    tag: str,
    gateway: bool = False,
) -> dict[str, Any]:
    dsn = fresh_db(admin, f"bench_{tag}{'_gw' if gateway else ''}{workers}")
    lines = LINES if stand_in is None else FREE_LINES
    with tempfile.TemporaryDirectory() as tmp:
        procs: list[Worker] | list[Gateway] = (
            [Gateway(dsn, Path(tmp), workers, stand_in)] * workers
            if gateway
            else [Worker(dsn, Path(tmp), k, stand_in) for k in range(workers)]
        )
        try:
            latencies: list[float] = []
            warm: list[float] = []

            async def drive() -> tuple[float, int, float]:
                ctx = zmq.asyncio.Context()
                try:  # a short warm-up (caches, prepared statements), then the measured window
                    until = time.perf_counter() + 3.0
                    await asyncio.gather(*(
                        conversation(ctx, w.endpoint, f"warm{k}", NPCS[k % 4], until, warm, lines)
                        for k, w in enumerate(procs)
                    ))  # fmt: skip
                    before = db_commits(dsn)
                    t0 = time.perf_counter()
                    until = t0 + seconds
                    await asyncio.gather(*(
                        conversation(ctx, w.endpoint, f"p{k}-{c}", NPCS[c % 4], until, latencies, lines)
                        for k, w in enumerate(procs) for c in range(clients)
                    ))  # fmt: skip
                    elapsed = time.perf_counter() - t0
                    return elapsed, db_commits(dsn) - before, os.getloadavg()[0]
                finally:
                    ctx.destroy(linger=0)

            elapsed, commits, load = asyncio.run(drive())
            spread = placed_per_worker(dsn) if gateway else []
        finally:
            for w in procs[:1] if gateway else procs:
                w.stop()
    turns = len(latencies)
    return {
        "workers": workers, "gateway": gateway, "clients_per_worker": clients, "turns": turns, "seconds": round(elapsed, 2),
        "turns_per_s": round(turns / elapsed, 2), "turn": summary(latencies),
        "db_commits_per_turn": round(commits / max(turns, 1), 2), "load_average": round(load, 2),
        **({"conversations_per_worker": spread} if gateway else {}),
    }  # fmt: skip


def placed_per_worker(dsn: str) -> list[int]:
    """How many conversations the gateway placed on each worker (warm-up ones included)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT count(*) FROM cluster_owners GROUP BY owner ORDER BY 1").fetchall()
    return [int(r[0]) for r in rows]


def scaling(admin: str, args: argparse.Namespace, gateway: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    modes = [("real", None), ("stand_in", args.stand_in_seconds)]
    if gateway or args.stand_in_only:  # the gateway's own cost shows best apart from the CPU limit
        modes = modes[1:]
    for mode, stand_in in modes:
        clients = args.clients if stand_in is None else args.stand_in_clients
        runs = [
            worker_throughput(admin, w, clients, args.seconds, stand_in, mode, gateway) for w in (1, 2, 4)
        ]
        base = runs[0]["turns_per_s"]
        for r in runs:
            r["speedup"] = round(r["turns_per_s"] / base, 2) if base else 0.0
            print(
                f"{mode:9s} {'gateway + ' if gateway else ''}{r['workers']} worker(s): {r['turns_per_s']:7.2f} turns/s  x{r['speedup']:.2f}  "
                f"turn p50 {r['turn']['p50_ms']:.0f} ms p95 {r['turn']['p95_ms']:.0f} ms  "
                f"{r['db_commits_per_turn']} commits/turn  load {r['load_average']}"
                + (f"  conversations per worker {r['conversations_per_worker']}" if gateway else ""),
                flush=True,
            )
        out[mode] = {"stand_in_seconds": stand_in, "runs": runs}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000, help="events per measurement")
    ap.add_argument("--dsn", help="an admin DSN of a server to use (default: start a throwaway one)")
    ap.add_argument("--part", choices=["world", "workers", "gateway", "all"], default="all")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per worker count")
    ap.add_argument("--clients", type=int, default=4, help="conversations per worker, real providers")
    ap.add_argument("--stand-in-clients", type=int, default=16, help="conversations per worker, stand-ins")
    ap.add_argument(
        "--stand-in-seconds",
        type=float,
        default=1.5,
        help="what a stand-in reply sleeps: the default reply_budget (a model's first words, then speech)",
    )
    ap.add_argument("--stand-in-only", action="store_true", help="--part workers: only the stand-in runs")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path, help="write a histogram of the latencies (PNG)")
    args = ap.parse_args(argv)
    server = None if args.dsn else TempPostgres().start()
    admin = args.dsn or (server.dsn if server else "")
    world = load_world(VILLAGE)
    out: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    sqlite_s: list[float] = []
    pg_s: list[float] = []
    vis: list[float] = []
    try:
        if args.part in ("world", "all"):
            sqlite_s, pg_s = commit_latency(world, fresh_db(admin, "bench_commit"), args.events)
            out["commit_sqlite"] = summary(sqlite_s)
            out["commit_postgres"] = summary(pg_s)
            out["commit_added_ms"] = {
                "p50": round(out["commit_postgres"]["p50_ms"] - out["commit_sqlite"]["p50_ms"], 3),
                "p99": round(out["commit_postgres"]["p99_ms"] - out["commit_sqlite"]["p99_ms"], 3),
            }
            out["events_per_s_one_instance"] = [
                throughput(world, fresh_db(admin, f"bench_tp{w}"), w, max(1, args.events // w))
                for w in (1, 2, 4)
            ]
            vis = asyncio.run(visibility(world, fresh_db(admin, "bench_vis"), min(args.events, 1000)))
            out["visibility"] = summary(vis)
        if args.part in ("workers", "all"):
            out["workers"] = scaling(admin, args)
        if args.part in ("gateway", "all"):
            out["gateway"] = scaling(admin, args, gateway=True)
    finally:
        if server is not None:
            server.stop()
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    if args.plot:
        plot(args.plot, out, sqlite_s, pg_s, vis)
    return 0


def plot(path: Path, out: dict[str, Any], sqlite_s: list[float], pg_s: list[float], vis: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, data in (("commit SQLite", sqlite_s), ("commit PostgreSQL", pg_s), ("visibility", vis)):
        if data:
            axes[0].hist([x * 1000 for x in data], bins=60, alpha=0.5, label=label)
    axes[0].set_xlabel("ms")
    axes[0].set_ylabel("events")
    axes[0].set_yscale("log")
    if sqlite_s or pg_s or vis:
        axes[0].legend()
    for mode, res in out.get("workers", {}).items():
        runs = res["runs"]
        axes[1].plot([r["workers"] for r in runs], [r["speedup"] for r in runs], "o-", label=mode)
    axes[1].plot([1, 4], [1, 4], "k:", label="linear")
    axes[1].set_xlabel("workers")
    axes[1].set_ylabel("turns/s over one worker")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
