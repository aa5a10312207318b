"""The cluster's worker registry in PostgreSQL, and placement by reported load.

Workers report themselves (:meth:`Registry.heartbeat`: id, endpoint, load) every few seconds; a
worker whose last heartbeat is older than ``max_age`` (by the database's clock, so the workers'
and gateways' clocks need not agree) is not live. :func:`pick` places a conversation with the
power of two choices: two distinct live workers drawn at random, the less loaded one wins; it
spreads load almost as well as asking every worker, without every gateway herding onto the one
that looked least loaded a moment ago.

This is the foundation of the gateway (docs/scaling.md); no runtime process reports to it yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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

    def place(self, rng: random.Random, exclude: frozenset[str] = frozenset()) -> WorkerInfo:
        """A live worker for a new (or moved) conversation, never one in ``exclude``."""
        return pick([w for w in self.live() if w.id not in exclude], rng)


def pick(workers: list[WorkerInfo], rng: random.Random) -> WorkerInfo:
    """The power of two choices: the less loaded of two distinct random workers."""
    if not workers:
        raise NoLiveWorker("no live worker: none has sent a heartbeat recently")
    if len(workers) == 1:
        return workers[0]
    a, b = rng.sample(workers, 2)
    return a if a.load <= b.load else b
