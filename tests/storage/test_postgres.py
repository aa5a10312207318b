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
