"""Chaos on the shared world log: kill -9 writers mid-write, pause a stale owner, count what survives.

Writers are real processes (forked by a ``zygote`` process that imported everything once, so a
trial costs a fork rather than an interpreter start; the stale-owner check starts a fresh
interpreter per writer), each a world replica on its own PostgreSQL connection
writing one world instance; each prints ``ack <n> <seq>`` only after its event committed. The
driver plays the gateway: it gives each writer's conversation a new epoch (``claim``) when it
(re)starts it, and restarts a killed writer from its first unacknowledged input, which it sends
again (the request key makes a committed-but-unacknowledged input apply once).

    .venv/bin/python tools/cluster_chaos.py chaos --trials 1000 [--writers 3] [--dsn postgresql://...]
    .venv/bin/python tools/cluster_chaos.py stale [--dsn ...]
    .venv/bin/python tools/cluster_chaos.py gateway --trials 1000 [--workers 3] [--dsn ...]
    .venv/bin/python tools/cluster_chaos.py latency [--turns 300] [--dsn ...]

``gateway``: real ``npc-runtime serve --mode gateway`` and ``--mode worker`` processes
(tools/cluster_gateway.py); each trial sends a world event and a player line through the gateway,
kills -9 a random worker (the conversation's own 70% of the time) and restarts it; prints the
conversations moved, acknowledged events lost/duplicated in the log, player lines answered once,
and the failover time (kill -> the NPC's next words) p50/p95. ``latency``: text turns through
gateway + 1 worker against an embedded runtime; the added latency p50/p99.

Without ``--dsn`` a throwaway PostgreSQL server is started (scripts/pg.sh's helper). Prints the
trials, acknowledged writes, lost (acknowledged but not in the log), duplicated (one input logged
twice), and whether replaying the log reproduces the stored state.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
VILLAGE = REPO / "personas" / "village.world.yaml"
PLACES = ["inn", "smithy", "old_mill", "square", "north_gate"]
WITNESSES = ["mira", "bram", "elda", "tomas"]
WAIT = 120.0  # seconds: generous, for a loaded 2-core machine


def event_for(writer: str, n: int, tag: str) -> Any:
    from npc_runtime.world.engine import WorldEvent

    k = sum(map(ord, writer)) + n
    return WorldEvent(
        "location_entered",
        {"location": PLACES[k % len(PLACES)], "writer": tag},
        [WITNESSES[k % len(WITNESSES)]] if n % 3 == 0 else [],
        request=f"{writer}:{n}",
    )


def run_writer(
    dsn: str, name: str, start: int, conversation: str, epoch: int, owner: str, prefix: str = ""
) -> int:
    """A worker's write loop: apply, commit (fenced), then acknowledge on stdout."""
    from npc_runtime.errors import StorageError
    from npc_runtime.storage.postgres import Fence, FencedError, PgDatabase, current_fence
    from npc_runtime.world.compiled import load_world
    from npc_runtime.world.pgstore import PgWorldStore
    from npc_runtime.world.service import WorldService

    def say(line: str) -> None:
        os.write(1, f"{prefix}{line}\n".encode())  # one write: lines of forked writers never mix

    db = PgDatabase(dsn, name=owner)  # the owner id names its sessions (claim may end them)
    svc = WorldService(load_world(VILLAGE), PgWorldStore(db))
    current_fence.set(Fence(conversation, epoch))
    tag = f"{name}/{os.getpid()}"
    say("ready")
    n = start
    while True:
        try:
            changes = svc.apply(event_for(name, n, tag))
        except FencedError:
            say(f"fenced {n}")
            return 3
        except StorageError as exc:  # a lost connection: not acknowledged; send it again
            say(f"retry {n} {str(exc).splitlines()[0]}")
            continue
        say(f"ack {n} {changes.seq}")
        n += 1


def run_zygote() -> int:
    """Fork writers on request, with everything imported once (a kill -9 trial then costs a fork,
    not an interpreter start). stdin: ``spawn NAME START CONVERSATION EPOCH OWNER DSN`` / ``reap PID``;
    stdout: the writers' lines prefixed with ``NAME ``, ``spawned NAME PID``, ``dead PID``."""
    import psycopg  # noqa: F401

    import npc_runtime.world.service  # noqa: F401 - imported once, before forking

    os.write(1, b"zygote ready\n")
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "spawn":
            name, start, conversation, epoch, owner, dsn = args
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = run_writer(
                        dsn, name, int(start), conversation, int(epoch), owner, prefix=f"{name} "
                    )
                finally:
                    os._exit(code)
            os.write(1, f"spawned {name} {pid}\n".encode())
        elif cmd == "reap":
            os.waitpid(int(args[0]), 0)  # once reaped, everything the writer printed is in the pipe
            os.write(1, f"dead {args[0]}\n".encode())
    return 0


class _Lines:
    """A writer's output lines and the acknowledgements read from them."""

    name: str
    lines: queue.Queue[str]
    acked: list[int]

    def wait_for(self, prefix: str, count: int = 1) -> list[str]:
        """Read lines until ``count`` start with ``prefix`` (acks are recorded on the way)."""
        got: list[str] = []
        deadline = time.monotonic() + WAIT
        while len(got) < count:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            self._note(line)
            if line.startswith(prefix):
                got.append(line)
            elif line == "eof":
                raise RuntimeError(f"writer {self.name} ended while waiting for '{prefix}'")
        return got

    def _note(self, line: str) -> None:
        if line.startswith("ack "):
            self.acked.append(int(line.split()[1]))


class Zygote:
    """The zygote subprocess and a thread that hands each writer its lines, in pipe order."""

    def __init__(self) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "zygote"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        self.control: queue.Queue[str] = queue.Queue()
        self.writers: dict[str, queue.Queue[str]] = {}
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        if self.control.get(timeout=WAIT) != "zygote ready":
            raise RuntimeError("the zygote did not start")

    def _read(self, out: IO[str]) -> None:
        with out:
            for line in out:
                line = line.strip()
                head, _, rest = line.partition(" ")
                if head in ("spawned", "dead", "zygote"):
                    self.control.put(line)
                elif head in self.writers:
                    self.writers[head].put(rest)
        self.control.put("eof")

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.control.get(timeout=WAIT)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(WAIT)


class Forked(_Lines):
    """A writer forked by the zygote: a real process, killed for real (same interface as Writer)."""

    def __init__(
        self, zygote: Zygote, dsn: str, name: str, start: int, conversation: str, epoch: int, owner: str
    ) -> None:
        self.name, self.zygote, self.acked = name, zygote, []
        self.lines = zygote.writers[name] = queue.Queue()
        reply = zygote.command(f"spawn {name} {start} {conversation} {epoch} {owner} {dsn}")
        self.pid = int(reply.split()[2])

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        assert self.zygote.command(f"reap {self.pid}") == f"dead {self.pid}"
        while True:  # every line it printed was handed over before "dead"
            try:
                self._note(self.lines.get_nowait())
            except queue.Empty:
                return


class Writer(_Lines):
    """A writer subprocess and a thread that reads its acknowledgements."""

    def __init__(self, dsn: str, name: str, start: int, conversation: str, epoch: int, owner: str) -> None:
        self.name, self.lines, self.acked = name, queue.Queue(), []
        cmd = [sys.executable, str(Path(__file__).resolve()), "writer", "--dsn", dsn, "--name", name,
               "--start", str(start), "--conversation", conversation, "--epoch", str(epoch),
               "--owner", owner]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, out: IO[str]) -> None:
        with out:
            for line in out:
                self.lines.put(line.strip())
        self.lines.put("eof")

    def drain(self) -> None:
        """After the process ended: record the acknowledgements it printed before it died."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                return
            if line == "eof":
                return
            self._note(line)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.proc.wait(WAIT)
            self.drain()


@dataclass
class Report:
    trials: int = 0
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    logged: int = 0
    replay_agrees: bool = False
    late_writes: int = 0  # events a fenced (stale) owner got into the log after its conversation moved
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def verify(dsn: str, acked: dict[str, set[int]], report: Report) -> None:
    """Every acknowledged input is in the log exactly once; the log replays to the stored state."""
    from npc_runtime.storage.postgres import PgDatabase
    from npc_runtime.world.compiled import load_world
    from npc_runtime.world.pgstore import PgWorldStore
    from npc_runtime.world.service import WorldService

    db = PgDatabase(dsn)
    try:
        svc = WorldService(load_world(VILLAGE), PgWorldStore(db))
        requests = [ev.request for ev in svc.store.events()]
        seen = set(requests)
        report.logged = len(requests)
        report.duplicated = len(requests) - len(seen)
        report.acked = sum(len(ns) for ns in acked.values())
        report.lost = sum(1 for w, ns in acked.items() for n in ns if f"{w}:{n}" not in seen)
        report.replay_agrees = svc.replayed().to_dict() == svc.state.to_dict()
    finally:
        db.close()


def chaos(dsn: str, trials: int, writers: int = 3, seed: int = 13) -> Report:
    """kill -9 a random writer after a random few acknowledgements, ``trials`` times; each
    killed writer resumes (a new process, a new epoch) from its first unacknowledged input."""
    from npc_runtime.storage.postgres import PgDatabase

    rng = random.Random(seed)
    gateway = PgDatabase(dsn)
    zygote = Zygote()
    report = Report()
    t0 = time.monotonic()
    names = [f"w{k}" for k in range(writers)]
    generation = itertools.count()
    acked: dict[str, set[int]] = {n: set() for n in names}

    def launch(name: str) -> Forked:
        start = max(acked[name], default=-1) + 1
        owner = f"{name}#{next(generation)}"
        epoch = gateway.claim(f"conv-{name}", owner)
        w = Forked(zygote, dsn, name, start, f"conv-{name}", epoch, owner)
        w.wait_for("ready")
        return w

    live = {name: launch(name) for name in names}
    try:
        for _ in range(trials):
            name = rng.choice(names)
            w = live[name]
            w.wait_for("ack ", rng.randint(1, 4))
            w.kill()
            acked[name].update(w.acked)
            report.trials += 1
            live[name] = launch(name)
    finally:
        for name, w in live.items():
            w.kill()
            acked[name].update(w.acked)
        zygote.close()
        gateway.close()
    verify(dsn, acked, report)
    report.seconds = round(time.monotonic() - t0, 1)
    return report


def stale_owner(dsn: str) -> Report:
    """Pause a writer (SIGSTOP), move its conversation to a new writer, resume the old one: its
    late writes must be refused (it exits with 'fenced') and nothing it wrote lands after the move."""
    import msgpack

    from npc_runtime.storage.postgres import PgDatabase

    gateway = PgDatabase(dsn)
    report = Report()
    t0 = time.monotonic()
    acked: dict[str, set[int]] = {"w": set()}
    old = Writer(dsn, "w", 0, "conv-w", gateway.claim("conv-w", "w-old"), "w-old")
    new: Writer | None = None
    try:
        old.wait_for("ack ", 3)
        old.kill(signal.SIGSTOP)
        epoch = gateway.claim("conv-w", "w-new")  # ends the paused owner's sessions if it holds the row
        moved_at = gateway.execute("SELECT seq FROM world_instances")[0][0]  # later writes must be new's
        old_tag = f"w/{old.proc.pid}"
        new = Writer(dsn, "w", max(old.acked) + 1, "conv-w", epoch, "w-new")
        new.wait_for("ack ", 3)
        old.kill(signal.SIGCONT)
        fenced = old.wait_for("fenced ")
        report.notes.append(f"old owner: {fenced[0]}, exit {old.proc.wait(WAIT)}")
        new.wait_for("ack ", 3)
        late = gateway.execute("SELECT seq, event FROM world_events WHERE seq > %s ORDER BY seq", (moved_at,))
        report.late_writes = sum(1 for _, e in late if msgpack.unpackb(e)["data"].get("writer") == old_tag)
        report.trials = 1
    finally:
        for w in (old, new):
            if w is not None:
                if w.proc.poll() is None:
                    w.kill(signal.SIGCONT)
                w.kill()
                acked["w"].update(w.acked)
        gateway.close()
    verify(dsn, acked, report)
    report.seconds = round(time.monotonic() - t0, 1)
    return report


def gateway_main(args: argparse.Namespace, dsn: str) -> int:
    import tempfile

    import cluster_gateway

    work = Path(tempfile.mkdtemp(prefix="npc-gateway-chaos-"))
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    if args.cmd == "latency":
        doc: dict[str, Any] = cluster_gateway.added_latency(dsn, work, turns=args.turns)
        ok = True
    else:
        budget = args.minutes * 60 if args.minutes else float("inf")
        report = cluster_gateway.gateway_chaos(dsn, work, args.trials, workers=args.workers, budget=budget)
        doc = asdict(report)
        doc.pop("failover_ms")
        ok = report.lost == 0 and report.duplicated == 0 and report.double_finals == 0
    doc["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(doc, indent=2))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    wr = sub.add_parser("writer")
    wr.add_argument("--dsn", required=True)
    wr.add_argument("--name", required=True)
    wr.add_argument("--start", type=int, default=0)
    wr.add_argument("--conversation", required=True)
    wr.add_argument("--epoch", type=int, required=True)
    wr.add_argument("--owner", required=True)
    sub.add_parser("zygote")
    for name in ("chaos", "stale", "gateway", "latency"):
        p = sub.add_parser(name)
        p.add_argument("--dsn", help="default: start a throwaway PostgreSQL server")
        p.add_argument("--trials", type=int, default=100)
        p.add_argument("--writers", type=int, default=3)
        p.add_argument("--workers", type=int, default=3, help="gateway: worker processes")
        p.add_argument("--turns", type=int, default=300, help="latency: turns per round (3 rounds)")
        p.add_argument("--minutes", type=float, help="gateway: stop starting trials after this long")
        p.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.cmd == "writer":
        return run_writer(args.dsn, args.name, args.start, args.conversation, args.epoch, args.owner)
    if args.cmd == "zygote":
        return run_zygote()
    sys.path.insert(0, str(REPO))
    from npc_runtime.storage.pgserver import TempPostgres

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the throwaway server on kill

    server = None if args.dsn else TempPostgres().start()
    dsn = args.dsn or (server.dsn if server else "")
    if args.cmd in ("gateway", "latency"):
        try:
            return gateway_main(args, dsn)
        finally:
            if server is not None:
                server.stop()
    try:
        report = chaos(dsn, args.trials, args.writers) if args.cmd == "chaos" else stale_owner(dsn)
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(asdict(report), indent=2))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    ok = report.lost == 0 and report.duplicated == 0 and report.replay_agrees and report.late_writes == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
