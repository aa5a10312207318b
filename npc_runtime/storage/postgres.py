"""PostgreSQL access for cluster mode: one connection per worker, migrations, fenced transactions.

The cluster's shared truth is PostgreSQL. Every acknowledged write is one transaction; when the
write belongs to a conversation, the transaction also checks the conversation's *epoch* in
``cluster_owners`` (:class:`Fence`): the gateway bumps the epoch when it moves a conversation, so a
worker that was paused or cut off cannot write after its conversation moved (fencing). The check
reads the row ``FOR SHARE``, so a bump waits for a write in flight, and a write after the bump
sees the new epoch and is refused with :class:`FencedError` before it commits.

A worker paused *inside* a transaction would hold its locks; ``idle_in_transaction_session_timeout``
makes the server end such a session (and roll its transaction back) after a few seconds.

:class:`Doorbell` is the LISTEN/NOTIFY side: a dedicated connection that rings an asyncio event
on every notification and on every (re)connection. It is only a doorbell: readers treat the
tables as the truth and catch up on every ring, and callers also poll slowly in case a
notification was lost (a killed listening connection loses the ones sent meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FencedError, MissingDependencyError, StorageError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

IDLE_IN_TRANSACTION_MS = 5000  # a paused worker's open transaction is ended by the server after this
OWNERS_SCHEMA = [
    """
    CREATE TABLE cluster_owners (key TEXT PRIMARY KEY, epoch BIGINT NOT NULL, owner TEXT NOT NULL,
                                 moved_at TIMESTAMPTZ NOT NULL DEFAULT now());
    """,
]


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingDependencyError("psycopg", "cluster") from None
    return psycopg


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class Fence:
    """The ownership a write is made under: conversation ``key`` at ``epoch``."""

    key: str
    epoch: int


# The fence of the conversation whose work is running (set by the worker around a turn; asyncio
# tasks copy it). Stores read it in every write transaction.
current_fence: ContextVar[Fence | None] = ContextVar("current_fence", default=None)
# The idempotency key of the input being handled (a client's message, a conversation's turn): a
# world event written for it carries it, so the same input replayed after a failover is logged once.
current_request: ContextVar[str | None] = ContextVar("current_request", default=None)


def connect(dsn: str, *, autocommit: bool = True, name: str = "npc-runtime") -> psycopg.Connection[Any]:
    """A connection named ``name`` (its ``application_name``: a worker's owner id, so that moving
    a conversation can end the sessions of an owner that stopped in the middle of a write)."""
    pg = psycopg_module()
    try:
        conn: psycopg.Connection[Any] = pg.connect(
            dsn,
            autocommit=autocommit,
            application_name=name[:63],
            options=f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        )
    except pg.OperationalError as exc:
        raise StorageError(f"cannot connect to PostgreSQL at {redact(dsn)}: {exc}") from exc
    return conn


def redact(dsn: str) -> str:
    """The DSN without its password (for messages)."""
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}@{host}"
    return dsn


class PgDatabase:
    """One PostgreSQL connection with per-namespace migrations and fenced transactions.

    Used from the runtime's event-loop thread; a lock guards it for helper threads. A broken
    connection is replaced on the next transaction (the write that broke it raised)."""

    def __init__(self, dsn: str, name: str = "npc-runtime") -> None:
        self.dsn, self.name = dsn, name
        self.path = redact(dsn)  # named like the SQLite Database's, for messages
        self._lock = threading.RLock()
        self.conn = connect(dsn, name=name)
        self.migrate("cluster", OWNERS_SCHEMA)

    def _ensure(self) -> psycopg.Connection[Any]:
        if self.conn.closed or self.conn.broken:
            self.conn.close()
            self.conn = connect(self.dsn, name=self.name)
        return self.conn

    def migrate(self, namespace: str, migrations: Sequence[str]) -> int:
        """Apply the migrations of ``namespace`` not yet applied (an advisory lock serialises
        workers starting together); a database newer than this code is refused."""
        with self.transaction(fenced=False) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(4245504352)")  # "NPCR"
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            cur.execute("SELECT version FROM schema_versions WHERE namespace=%s", (namespace,))
            row = cur.fetchone()
            current = row[0] if row else 0
            if current > len(migrations):
                raise StorageError(
                    f"{self.path}: the '{namespace}' tables are at schema version {current}, newer "
                    f"than this runtime knows ({len(migrations)}); upgrade npc-runtime"
                )
            for version in range(current + 1, len(migrations) + 1):
                cur.execute(migrations[version - 1].encode())
                cur.execute(
                    "INSERT INTO schema_versions(namespace, version) VALUES(%s, %s) "
                    "ON CONFLICT(namespace) DO UPDATE SET version=excluded.version",
                    (namespace, version),
                )
        return len(migrations)

    @contextmanager
    def transaction(self, *, fenced: bool = True) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction; commits on leaving, rolls back on any exception. When ``fenced`` and a
        :data:`current_fence` is set, the conversation's epoch is checked inside it first. A lost
        session raises :class:`StorageError` (nothing of the transaction was committed)."""
        with self._lock:
            conn = self._ensure()
            if conn.info.transaction_status != 0:  # re-entrant: already inside a transaction
                with conn.cursor() as cur:
                    yield cur
                return
            try:
                with conn.transaction(), conn.cursor() as cur:
                    fence = current_fence.get() if fenced else None
                    if fence is not None:
                        check_fence(cur, fence)
                    yield cur
            except psycopg_module().OperationalError as exc:
                if not (conn.broken or conn.closed):
                    raise  # e.g. a lock timeout: the caller's to handle
                # The session was lost (the server ended it, the network): nothing was committed,
                # and the next transaction connects again.
                raise StorageError(f"lost the connection to PostgreSQL at {self.path}: {exc}") from exc

    def call(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...]:
        """One statement that returns one row, without an explicit transaction: in autocommit it
        is its own transaction and costs one round trip (BEGIN and COMMIT would add two);
        inside :meth:`transaction` it joins it. A lost session raises :class:`StorageError`."""
        with self._lock:
            conn = self._ensure()
            try:
                row = conn.execute(sql.encode(), params).fetchone()
            except psycopg_module().OperationalError as exc:
                if not (conn.broken or conn.closed):
                    raise
                raise StorageError(f"lost the connection to PostgreSQL at {self.path}: {exc}") from exc
            assert row is not None
            return tuple(row)

    def query(self, sql: str, params: Sequence[object] = ()) -> tuple[list[tuple[Any, ...]], int]:
        """One statement without an explicit transaction (autocommit: one round trip; inside
        :meth:`transaction` it joins it): (rows, rowcount). For reads, which need no BEGIN/COMMIT."""
        with self._lock:
            conn = self._ensure()
            try:
                cur = conn.execute(sql.encode(), params)
                return (cur.fetchall() if cur.description else []), cur.rowcount
            except psycopg_module().OperationalError as exc:
                if not (conn.broken or conn.closed):
                    raise
                raise StorageError(f"lost the connection to PostgreSQL at {self.path}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.transaction(fenced=False) as cur:
            cur.execute(sql.encode(), params)
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # ownership (the gateway's side of fencing) ----------------------------------------------------
    def claim(self, key: str, owner: str, lock_wait: float = 2.0) -> int:
        """Give conversation ``key`` to ``owner`` with a new epoch (the old owner's writes now fail).

        The new epoch waits for a write of the old owner in flight (it holds the row FOR SHARE).
        An owner stopped in the middle of a write (SIGSTOP, a frozen VM) would hold it for ever: a
        statement cut off inside a pipeline is not "idle in transaction" to the server. After
        ``lock_wait`` seconds the old owner's sessions (named by its owner id) are ended, which
        rolls its write back, and the claim is tried again."""
        pg = psycopg_module()
        while True:
            try:
                with self.transaction(fenced=False) as cur:
                    cur.execute(f"SET LOCAL lock_timeout = {int(lock_wait * 1000)}".encode())
                    cur.execute(
                        "INSERT INTO cluster_owners(key, epoch, owner) VALUES(%s, 1, %s) ON CONFLICT(key) DO UPDATE "
                        "SET epoch=cluster_owners.epoch+1, owner=excluded.owner, moved_at=now() RETURNING epoch",
                        (key, owner),
                    )
                    row = cur.fetchone()
                    assert row is not None
                    return int(row[0])
            except pg.errors.LockNotAvailable:
                rows = self.execute("SELECT owner FROM cluster_owners WHERE key=%s", (key,))
                old = str(rows[0][0]) if rows else None
                if old is None or old == owner or old == self.name:
                    raise StorageError(
                        f"conversation '{key}' is locked and its owner cannot be told apart"
                    ) from None
                ended = self.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name=%s",
                    (old[:63],),
                )
                log.warning(
                    "conversation '%s': ended %s stuck session(s) of its old owner '%s'",
                    key,
                    ended[0][0],
                    old,
                )


FENCE_SQL = "SELECT epoch FROM cluster_owners WHERE key=%s FOR SHARE"


def check_fence(cur: psycopg.Cursor[Any], fence: Fence) -> None:
    cur.execute(FENCE_SQL, (fence.key,))
    row = cur.fetchone()
    fence_check(fence, int(row[0]) if row else None)


def fence_check(fence: Fence, current: int | None) -> None:
    """Raise :class:`FencedError` unless the database's epoch is the fence's."""
    if current != fence.epoch:
        raise FencedError(fence.key, fence.epoch, current)


class Doorbell:
    """LISTEN on ``channel`` on a connection of its own; :meth:`wait` returns when rung or after
    ``timeout``. It rings on every notification and after every (re)connection, since
    notifications sent while it was disconnected are lost."""

    def __init__(self, dsn: str, channel: str, retry: float = 0.2, tick: float = 0.5) -> None:
        self.dsn, self.channel, self.retry, self.tick = dsn, channel, retry, tick
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.conn: Any = None  # the listening psycopg.AsyncConnection (tests end it to check recovery)
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        """Start listening; returns once the first connection listens (it retries until then)."""
        self._task = asyncio.create_task(self._listen(), name=f"doorbell-{self.channel}")
        await self.connected.wait()

    async def _listen(self) -> None:
        # Stopping is a flag checked every ``tick``, never a cancellation inside psycopg: a
        # connection cancelled while it waits for notifications may not close cleanly.
        pg = psycopg_module()
        while not self._stopping:
            try:
                conn = await pg.AsyncConnection.connect(self.dsn, autocommit=True)
                try:
                    self.conn = conn
                    await conn.execute(f'LISTEN "{self.channel}"'.encode())
                    self.connected.set()
                    self._event.set()  # catch up on what was missed while disconnected
                    while not self._stopping:
                        async for _ in conn.notifies(timeout=self.tick):
                            self._event.set()
                finally:
                    await conn.close()
            except pg.Error as exc:
                log.info("doorbell %s: connection lost (%s); reconnecting", self.channel, exc)
            if self._stopping:
                return
            self.connected.clear()
            self.reconnects += 1
            self._event.set()
            await asyncio.sleep(self.retry)

    async def wait(self, timeout: float) -> bool:
        """True when rung (a notification or a reconnection), False after ``timeout``.

        ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` returns normally when
        the cancellation of its caller arrives as the event is set, dropping the cancellation;
        the world follower, cancelled at stop while a NOTIFY rang, then looped for ever and the
        runtime's stop never returned (the intermittent hang of the memory suite in cluster mode)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        rung = self._event.is_set()
        self._event.clear()
        return rung

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            try:
                async with asyncio.timeout(self.tick * 4 + 5):  # not wait_for: see wait()
                    await asyncio.shield(self._task)
            except TimeoutError:  # a connection attempt that hangs: give up on it
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
