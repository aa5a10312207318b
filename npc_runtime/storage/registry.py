"""The cluster's worker registry in PostgreSQL, and placement by reported load.

Workers report themselves (:meth:`Registry.heartbeat`: id, endpoint, load) every few seconds; a
worker whose last heartbeat is older than ``max_age`` (by the database's clock, so the workers'
and gateways' clocks need not agree) is not live. :func:`pick` places a conversation with the
power of two choices: two distinct live workers drawn at random, the less loaded one wins; it
spreads load almost as well as asking every worker, without every gateway herding onto the one
that looked least loaded a moment ago.

Workers (``--mode worker``) report to it; gateways place conversations with it, counting their
own placements since a worker's last heartbeat (:class:`Placements`) as load (docs/scaling.md).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..errors import StorageError
from .postgres import PgDatabase

WORKERS_SCHEMA = [
    """
    CREATE TABLE cluster_workers (id TEXT PRIMARY KEY, endpoint TEXT NOT NULL,
                                  load DOUBLE PRECISION NOT NULL, heartbeat_at TIMESTAMPTZ NOT NULL,
                                  started_at TIMESTAMPTZ NOT NULL DEFAULT now());
    """,
]


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    endpoint: str
    load: float
    age: float  # seconds since its last heartbeat


class NoLiveWorker(StorageError):
    """No worker has reported within the registry's max_age."""


class Registry:
    def __init__(self, db: PgDatabase, max_age: float = 3.0) -> None:
        self.db = db
        self.max_age = max_age
        db.migrate("cluster_workers", WORKERS_SCHEMA)

    def heartbeat(self, worker_id: str, endpoint: str, load: float) -> None:
        self.db.execute(
            "INSERT INTO cluster_workers(id, endpoint, load, heartbeat_at) VALUES(%s, %s, %s, now()) "
            "ON CONFLICT(id) DO UPDATE SET endpoint=excluded.endpoint, load=excluded.load, heartbeat_at=now()",
            (worker_id, endpoint, float(load)),
        )

    def leave(self, worker_id: str) -> None:
        """A worker shutting down cleanly stops being placed at once."""
        self.db.execute("DELETE FROM cluster_workers WHERE id=%s", (worker_id,))

    def live(self) -> list[WorkerInfo]:
        rows = self.db.execute(
            "SELECT id, endpoint, load, EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 FROM cluster_workers "
            "WHERE heartbeat_at > now() - make_interval(secs => %s) ORDER BY id",
            (self.max_age,),
        )
        return [WorkerInfo(str(i), str(e), float(load), float(age)) for i, e, load, age in rows]

    def place(
        self, rng: random.Random, exclude: frozenset[str] = frozenset(), placed: Placements | None = None
    ) -> WorkerInfo:
        """A live worker for a new (or moved) conversation, never one in ``exclude``; with
        ``placed``, the caller's placements since each worker's last heartbeat count as load."""
        live = [w for w in self.live() if w.id not in exclude]
        if placed is None:
            return pick(live, rng)
        with placed.lock:  # placements run in worker threads: one at a time sees the others
            worker = pick(placed.adjust(live), rng)
            placed.add(worker.id)
        return worker


class Placements:
    """The conversations one gateway placed on each worker since that worker's last heartbeat.
    Added to the load the worker reported, so a burst of conversation starts (all reading the same
    heartbeats) spreads over the workers instead of following stale figures."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self._at: dict[str, list[float]] = {}

    def add(self, worker_id: str) -> None:
        self._at.setdefault(worker_id, []).append(self.clock())

    def adjust(self, workers: list[WorkerInfo]) -> list[WorkerInfo]:
        now, out = self.clock(), []
        for w in workers:
            since = now - w.age  # the worker's last heartbeat, on this clock
            kept = self._at[w.id] = [t for t in self._at.get(w.id, []) if t > since]
            out.append(replace(w, load=w.load + len(kept)))
        for gone in set(self._at) - {w.id for w in workers}:
            del self._at[gone]
        return out


def pick(workers: list[WorkerInfo], rng: random.Random) -> WorkerInfo:
    """The power of two choices: the less loaded of two distinct random workers."""
    if not workers:
        raise NoLiveWorker("no live worker: none has sent a heartbeat recently")
    if len(workers) == 1:
        return workers[0]
    a, b = rng.sample(workers, 2)
    return a if a.load <= b.load else b
