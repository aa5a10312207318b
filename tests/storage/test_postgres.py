"""PostgreSQL access for cluster mode on a real server: moving a conversation (fencing)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from npc_runtime.storage.postgres import PgDatabase


@pytest.fixture
def db(pg_dsn: str) -> Iterator[PgDatabase]:
    database = PgDatabase(pg_dsn)
    yield database
    database.close()


def test_moving_a_conversation_ends_the_sessions_of_an_owner_stuck_mid_write(
    db: PgDatabase, pg_dsn: str
) -> None:
    """An owner stopped inside a write holds the conversation's row; the claim ends its sessions."""
    assert db.claim("conv-1", "worker-a") == 1
    stuck = psycopg.connect(pg_dsn, application_name="worker-a")  # not autocommit: a write left open
    try:
        stuck.execute("SELECT epoch FROM cluster_owners WHERE key='conv-1' FOR SHARE")
        assert db.claim("conv-1", "worker-b", lock_wait=0.2) == 2
        with pytest.raises(psycopg.OperationalError):
            stuck.execute("SELECT 1")  # its session was ended, its write rolled back
    finally:
        stuck.close()
    assert db.execute("SELECT owner, epoch FROM cluster_owners WHERE key='conv-1'") == [("worker-b", 2)]


def test_a_lost_session_is_a_storage_error_and_the_next_write_reconnects(db: PgDatabase, pg_dsn: str) -> None:
    from npc_runtime.errors import StorageError

    pid = db.execute("SELECT pg_backend_pid()")[0][0]
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StorageError, match="lost the connection"):
        db.execute("SELECT 1")
    assert db.execute("SELECT 1") == [(1,)]


async def test_a_follower_cancelled_as_the_doorbell_rings_stops() -> None:
    """Stopping the world follower cancels its loop inside ``Doorbell.wait``; a NOTIFY ringing in
    the same instant must not swallow the cancellation (Python 3.11's ``wait_for`` did: the
    follower looped on and the runtime's stop never returned)."""
    import asyncio

    from npc_runtime.storage.postgres import Doorbell

    bell = Doorbell("postgresql://never-connected", "npc_world_log")  # not started: no connection

    async def follow() -> None:  # the shape of WorldExtension._follow
        while True:
            await bell.wait(30.0)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)  # it waits for the bell
    bell._event.set()  # the bell rings (what a notification does) ...
    await asyncio.sleep(0)  # ... the waiting side is woken ...
    follower.cancel()  # ... as the follower is stopped
    done, _ = await asyncio.wait([follower], timeout=10.0)
    assert done, "the cancelled follower is still running"
    assert follower.cancelled()
