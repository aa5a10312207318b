"""A local cluster of real processes: one gateway and N workers (``npc-runtime serve --mode``).

Used by the gateway tests (tests/cluster/) and by ``tools/cluster_chaos.py gateway`` / ``failover``
/ ``latency``. Each process is a real subprocess; workers are named ``w1``, ``w2``...
(``[cluster] worker_id``) so a test can find and kill the owner of a conversation.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PLACES = ["inn", "smithy", "old_mill", "square", "north_gate"]
WAIT = 120.0  # seconds: generous, for a loaded 2-core machine
FAST = {"heartbeat": 0.25, "max_age": 1.2, "watch_interval": 0.1}  # failover in ~1.5 s


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, top: dict[str, Any], tables: dict[str, dict[str, Any]]) -> Path:
    lines = [f"{k} = {_toml(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Proc:
    """A runtime subprocess; its output is drained by a thread (a full pipe would block it)."""

    def __init__(self, name: str, args: list[str], timeout: float = 120.0, log: Path | None = None) -> None:
        self.name, self.args, self.log = name, args, log
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "npc_runtime.cli", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._ready = threading.Event()
        self.endpoint = ""
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or not self.endpoint:
            self.stop()
            raise RuntimeError(f"{name} did not start:\n" + "".join(self.lines[-40:]))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        out = open(self.log, "a", encoding="utf-8") if self.log else None  # noqa: SIM115
        for line in self.proc.stdout:
            self.lines.append(line)
            if out is not None:
                out.write(line)
                out.flush()
            m = re.search(r"listening on (\S+)", line)
            if m and not self.endpoint:
                self.endpoint = m.group(1)
                self._ready.set()
        self._ready.set()
        if out is not None:
            out.close()

    def output(self) -> str:
        return "".join(self.lines)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class LocalCluster:
    """A gateway and workers on loopback, sharing the PostgreSQL database ``dsn``."""

    def __init__(
        self,
        dsn: str,
        work: Path,
        *,
        personas: Path = REPO / "personas",
        top: dict[str, Any] | None = None,
        dialogue: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
        gateway: dict[str, Any] | None = None,
        worker_top: dict[str, Any] | None = None,
        voice: dict[str, Any] | None = None,
        worker_args: list[str] | None = None,
    ) -> None:
        """``cluster``: the [cluster] table of all; ``gateway``: the gateway's [cluster] extras;
        ``worker_top``: the workers' own top-level settings (e.g. their CURVE certificate);
        ``voice``: the [voice] table, and workers with voice (None: ``--no-voice``);
        ``worker_args``: more ``serve`` flags of the workers (e.g. ``--stand-in 1.5``)."""
        self.dsn, self.work, self.personas = dsn, work, personas
        self.top = top or {}
        self.worker_top = worker_top or {}
        self.voice = voice
        self.worker_args = worker_args or []
        self.dialogue = dialogue
        self.cluster = {**FAST, **(cluster or {})}
        self.gateway_extra = gateway or {}
        self.workers: dict[str, Proc] = {}
        self.restarting: set[str] = set()  # killed, being started again
        self.gateway: Proc | None = None
        self._n = 0
        work.mkdir(parents=True, exist_ok=True)

    def _common(self, name: str, table: dict[str, Any], top: dict[str, Any] | None = None) -> list[str]:
        """The config file: the cluster's database in [cluster], the process's own SQLite file
        (a worker's memory) as ``db``, so runs never share one."""
        tables: dict[str, dict[str, Any]] = {"cluster": {**table, "db": self.dsn}}
        if self.dialogue:
            tables["dialogue"] = self.dialogue
        if self.voice is not None:
            tables["voice"] = self.voice
        top = {**self.top, **(top or {}), "db": str(self.work / f"{name}.sqlite3")}
        cfg = write_config(self.work / f"{name}.toml", top, tables)
        return ["--config", str(cfg), "--personas", str(self.personas), "--log-level", "INFO"]

    def start_worker(self, name: str | None = None) -> Proc:
        if name is None:
            self._n += 1
            name = f"w{self._n}"
        args = [
            "--mode", "worker", "--bind", "tcp://127.0.0.1:0", *(["--no-voice"] if self.voice is None else []),
            *self._common(name, {**self.cluster, "worker_id": name}, self.worker_top), *self.worker_args,
        ]  # fmt: skip
        proc = self.workers[name] = Proc(name, args, log=self.work / f"{name}.log")
        return proc

    def start_gateway(self) -> Proc:
        args = [
            "--mode", "gateway", "--bind", "tcp://127.0.0.1:0",
            *self._common("gateway", {**self.cluster, **self.gateway_extra}),
        ]  # fmt: skip
        self.gateway = Proc("gateway", args, log=self.work / "gateway.log")
        return self.gateway

    def owner(self, conversation_id: str) -> str | None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT owner FROM cluster_owners WHERE key=%s", (conversation_id,)).fetchone()
        return None if row is None else str(row[0])

    def restart(self, name: str) -> None:
        """Start worker ``name`` again after it died (a kill -9 in a chaos run)."""
        self.restarting.add(name)
        old = self.workers[name]
        old.stop()
        try:
            self.workers[name] = Proc(name, old.args, log=old.log)
        except RuntimeError as exc:
            print(f"restart of {name} failed: {exc}", file=sys.stderr)
        finally:
            self.restarting.discard(name)

    def live(self) -> list[str]:
        return [n for n, p in self.workers.items() if n not in self.restarting and p.proc.poll() is None]

    def stop(self) -> None:
        procs = [*self.workers.values(), *([self.gateway] if self.gateway else [])]
        for p in procs:
            p.stop()


@contextmanager
def local_cluster(dsn: str, work: Path, workers: int = 2, **kwargs: Any) -> Iterator[LocalCluster]:
    c = LocalCluster(dsn, work, **kwargs)
    try:
        # All at once, on a fresh database too: creating the world is idempotent (world/pgstore.py
        # create: the first creates it, the others load it).
        threads = [threading.Thread(target=c.start_worker, args=(f"w{i + 1}",)) for i in range(workers)]
        c._n = workers
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(c.workers) != workers:
            raise RuntimeError("a worker did not start")
        c.start_gateway()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _registered(dsn, workers):
            time.sleep(0.05)
        yield c
    finally:
        c.stop()


def _registered(dsn: str, n: int) -> bool:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM cluster_workers").fetchone()
    return row is not None and int(row[0]) >= n


# -- chaos, failover timing and added latency through the gateway -----------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


@dataclass
class GatewayReport:
    trials: int = 0
    kills: int = 0
    moved: int = 0  # conversation_moved warnings the client got
    acked_events: int = 0  # world events acknowledged (world_event_applied) to the client
    lost: int = 0  # acknowledged but not in the world log
    duplicated: int = 0  # one acknowledged input logged twice
    lines: int = 0  # player lines sent
    answered: int = 0  # player lines with exactly one npc_text_final
    double_finals: int = 0  # player lines answered twice
    failover_ms: list[float] = field(default_factory=list)  # kill -> the NPC's next words
    failover_p50_ms: float = 0.0
    failover_p95_ms: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


async def _gateway_chaos(
    cluster: LocalCluster, trials: int, rng: random.Random, report: GatewayReport, budget: float
) -> None:
    from npc_runtime.protocol.messages import PlayerText
    from npc_runtime.protocol.messages.world import WorldEventMsg
    from npc_runtime.transport.client import AsyncClient

    assert cluster.gateway is not None
    client = AsyncClient(cluster.gateway.endpoint, name="chaos")
    await client.connect(timeout=WAIT)
    finals: dict[Any, int] = {}
    acked: list[Any] = []
    restarts: list[threading.Thread] = []
    try:
        conv = (await client.start_conversation("mira", greet=False)).conversation_id
        stop_at = time.monotonic() + budget
        for trial in range(trials):
            if time.monotonic() > stop_at:
                report.notes.append(f"stopped after {trial} trials: the time budget ({budget:.0f} s) ran out")
                break
            while len(cluster.live()) < 2:  # keep two workers up (killed ones restart meanwhile)
                await asyncio.sleep(0.05)
            place = PLACES[trial % len(PLACES)]
            event = WorldEventMsg(
                kind="location_entered", location=place, game_time=float(trial), id=client.next_id()
            )  # type: ignore[arg-type]
            line = PlayerText(id=client.next_id(), conversation_id=conv, text="What news from the road?")
            await client.send(event)
            await client.send(line)
            report.lines += 1
            await asyncio.sleep(rng.uniform(0.0, 0.03))
            owner = cluster.owner(conv)
            live = cluster.live()
            victim = owner if owner in live and rng.random() < 0.7 else rng.choice(live)
            killed_at = time.monotonic()
            cluster.workers[victim].signal(signal.SIGKILL)
            cluster.restarting.add(victim)  # never the victim twice while it restarts
            report.kills += 1
            pending = {event.id, line.id}
            words_at: float | None = None
            moved = False
            deadline = time.monotonic() + WAIT
            while pending and time.monotonic() < deadline:
                msg = await client.next_event(WAIT)
                ref = getattr(msg, "ref", None)
                if msg.type == "warning" and getattr(msg, "code", "") == "conversation_moved":
                    moved = True
                    report.moved += 1
                elif (
                    msg.type in ("npc_text_delta", "npc_text_final")
                    and ref == line.id
                    and moved
                    and words_at is None
                ):
                    words_at = time.monotonic()
                if msg.type == "world_event_applied" and ref == event.id:
                    acked.append(event.id)
                    pending.discard(event.id)
                elif msg.type == "npc_text_final" and ref == line.id:
                    finals[line.id] = finals.get(line.id, 0) + 1
                    pending.discard(line.id)
                elif msg.type == "error" and ref in pending:
                    report.notes.append(
                        f"trial {trial}: error {getattr(msg, 'code', '')}: {getattr(msg, 'message', '')}"
                    )
                    pending.discard(ref)
            if pending:
                report.notes.append(f"trial {trial}: no answer to {sorted(map(str, pending))}")
            if moved and words_at is not None:
                report.failover_ms.append((words_at - killed_at) * 1000)
            t = threading.Thread(target=cluster.restart, args=(victim,))
            t.start()
            restarts.append(t)
            report.trials += 1
            if trial % 10 == 9:
                print(
                    f"trial {trial + 1}/{trials}: moved {report.moved}, notes {report.notes[-2:]}", flush=True
                )
        await asyncio.sleep(0.5)  # a late duplicate final would arrive by now
        while True:
            try:
                msg = await client.next_event(0.5, types=("npc_text_final",))
            except TimeoutError:
                break
            ref = getattr(msg, "ref", None)
            finals[ref] = finals.get(ref, 0) + 1
    finally:
        await client.close()
        for t in restarts:
            t.join()
    report.acked_events = len(acked)
    report.answered = sum(1 for n in finals.values() if n == 1)
    report.double_finals = sum(1 for n in finals.values() if n > 1)
    requests = _logged_requests(cluster.dsn)
    for ref in acked:
        n = sum(1 for r in requests if r.endswith(f":{ref}"))
        report.lost += n == 0
        report.duplicated += n > 1


def _logged_requests(dsn: str) -> list[str]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT request FROM world_events WHERE request IS NOT NULL").fetchall()
    return [str(r[0]) for r in rows]


def gateway_chaos(
    dsn: str, work: Path, trials: int, workers: int = 3, seed: int = 13, budget: float = float("inf")
) -> GatewayReport:
    """kill -9 a random worker (the conversation's own 70% of the time) right after a world event
    and a player line went through the gateway; count what the client got and what the log holds."""
    report = GatewayReport()
    t0 = time.monotonic()
    with local_cluster(dsn, work, workers=workers, cluster={"heartbeat": 0.25, "max_age": 1.5}) as cluster:
        asyncio.run(_gateway_chaos(cluster, trials, random.Random(seed), report, budget))
    report.failover_p50_ms = round(percentile(report.failover_ms, 0.5), 1)
    report.failover_p95_ms = round(percentile(report.failover_ms, 0.95), 1)
    report.seconds = round(time.monotonic() - t0, 1)
    return report


async def _turns(endpoint: str, n: int) -> tuple[list[float], list[float]]:
    """Per text turn: ms to the NPC's first text (what the player sees first) and to its final
    line (the acknowledgement, sent after the turn's world and memory writes commit)."""
    from npc_runtime.transport.client import AsyncClient

    client = AsyncClient(endpoint, name="bench")
    await client.connect(timeout=WAIT)
    first: list[float] = []
    final: list[float] = []
    try:
        conv = (await client.start_conversation("mira", greet=False)).conversation_id
        for _ in range(n):
            t = time.perf_counter()
            seen: list[float] = []

            def on_delta(_text: str, seen: list[float] = seen) -> None:
                if not seen:
                    seen.append(time.perf_counter())

            await client.say(conv, "What news from the road?", timeout=WAIT, on_delta=on_delta)
            done = time.perf_counter()
            first.append(((seen[0] if seen else done) - t) * 1000)
            final.append((done - t) * 1000)
    finally:
        await client.close()
    return first, final


def added_latency(dsn: str, work: Path, turns: int = 300, rounds: int = 3) -> dict[str, float]:
    """Text turns (authored provider) against an embedded runtime and through gateway + 1 worker,
    in alternating rounds; the gateway's added latency is the difference of the percentiles."""
    embedded = Proc(
        "embedded",
        ["--bind", "tcp://127.0.0.1:0", "--no-voice", "--personas", str(REPO / "personas"),
         "--db", str(work / "embedded.sqlite3"), "--log-level", "WARNING"],
    )  # fmt: skip
    direct: dict[str, list[float]] = {"first": [], "final": []}
    gated: dict[str, list[float]] = {"first": [], "final": []}
    try:
        with local_cluster(dsn, work / "bench", workers=1) as cluster:
            assert cluster.gateway is not None
            for _ in range(rounds):
                for into, endpoint in ((direct, embedded.endpoint), (gated, cluster.gateway.endpoint)):
                    first, final = asyncio.run(_turns(endpoint, turns))
                    into["first"] += first
                    into["final"] += final
    finally:
        embedded.stop()
    out = {"turns": float(len(direct["final"]))}
    # "final": to the acknowledged final line (the added-latency figure); "first": to the first text
    for stage, prefix in (("final", ""), ("first", "first_text_")):
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            d, g = percentile(direct[stage], q), percentile(gated[stage], q)
            out[f"{prefix}embedded_{name}_ms"] = round(d, 2)
            out[f"{prefix}gateway_{name}_ms"] = round(g, 2)
            out[f"{prefix}added_{name}_ms"] = round(g - d, 2)
    return out
