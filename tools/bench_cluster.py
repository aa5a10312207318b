"""Benchmark of the shared world log (cluster mode) on a real PostgreSQL server.

Measures, on the sample village world:

- **commit latency** of one world event: ``WorldService.apply`` on SQLite (embedded mode) and on
  PostgreSQL (one locked instance row, the log append, the state rows, the NOTIFY): p50 / p99,
  and what PostgreSQL adds over SQLite;
- **world events per second on one world instance**, with 1, 2 and 4 writers (threads, each a
  replica on its own connection, each retrying when another appended first);
- **cross-worker visibility**: from a writer's commit returning to a follower (another replica,
  woken by the LISTEN/NOTIFY doorbell) having applied the event: p50 / p99.

Not measured yet (no gateway exists): added latency per text turn through a gateway, failover
time, throughput per worker count. Run the chaos loop with ``tools/cluster_chaos.py``.

    .venv/bin/python tools/bench_cluster.py [--events 2000] [--dsn postgresql://...] [--plot out.png] [--json out.json]

Without ``--dsn`` a throwaway server is started (fsync=off: the figures are for coordination,
not for disk flushes; a production server's fsync adds its own latency to every commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000, help="events per measurement")
    ap.add_argument("--dsn", help="an admin DSN of a server to use (default: start a throwaway one)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path, help="write a histogram of the latencies (PNG)")
    args = ap.parse_args(argv)
    server = None if args.dsn else TempPostgres().start()
    admin = args.dsn or (server.dsn if server else "")
    world = load_world(VILLAGE)
    out: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    try:
        sqlite_s, pg_s = commit_latency(world, fresh_db(admin, "bench_commit"), args.events)
        out["commit_sqlite"] = summary(sqlite_s)
        out["commit_postgres"] = summary(pg_s)
        out["commit_added_ms"] = {
            "p50": round(out["commit_postgres"]["p50_ms"] - out["commit_sqlite"]["p50_ms"], 3),
            "p99": round(out["commit_postgres"]["p99_ms"] - out["commit_sqlite"]["p99_ms"], 3),
        }
        out["events_per_s_one_instance"] = [
            throughput(world, fresh_db(admin, f"bench_tp{w}"), w, max(1, args.events // w)) for w in (1, 2, 4)
        ]
        vis = asyncio.run(visibility(world, fresh_db(admin, "bench_vis"), min(args.events, 1000)))
        out["visibility"] = summary(vis)
    finally:
        if server is not None:
            server.stop()
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for label, data in (("commit SQLite", sqlite_s), ("commit PostgreSQL", pg_s), ("visibility", vis)):
            ax.hist([x * 1000 for x in data], bins=60, alpha=0.5, label=label)
        ax.set_xlabel("ms")
        ax.set_ylabel("events")
        ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
