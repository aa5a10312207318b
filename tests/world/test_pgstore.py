"""The world on PostgreSQL (cluster mode): the same results as SQLite, replicas that follow one log,
one writer at a time, fencing, idempotent requests, and the NOTIFY doorbell (a real server)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from npc_runtime.storage import Database
from npc_runtime.storage.postgres import Doorbell, Fence, FencedError, PgDatabase, current_fence
from npc_runtime.world import service as service_module
from npc_runtime.world.compiled import World
from npc_runtime.world.engine import WorldEvent
from npc_runtime.world.pgstore import CHANNEL, PgWorldStore
from npc_runtime.world.service import WorldService
from npc_runtime.world.store import Stored, WorldStore

PLACES = ["inn", "smithy", "old_mill", "square"]


def scenario() -> list[WorldEvent]:
    """Events that touch every table: variables, quests, relations, witnessed facts, rumours."""
    events = [
        WorldEvent("custom", {"name": "bribe_offered", "payload": {"amount": 10}}, ["elda"], 1.0),
        WorldEvent("custom", {"name": "persuasion_attempt", "payload": {"success": True}}),
        WorldEvent("enemy_killed", {"enemy": "wolf", "count": 2}, ["tomas"], 2.0),
        WorldEvent("item_given", {"item": "moonpetal", "receiver": "elda"}, ["mira"], 3.0),
        WorldEvent("time", game_time=30.0),
    ]
    events += [
        WorldEvent("location_entered", {"location": p}, ["bram"], 31.0 + i) for i, p in enumerate(PLACES)
    ]
    return events


@pytest.fixture
def pgdb(pg_dsn: str) -> Iterator[PgDatabase]:
    db = PgDatabase(pg_dsn)
    yield db
    db.close()


_open: list[PgDatabase] = []


def worker(village: World, dsn: str) -> WorldService:
    """One worker's replica: its own connection, its own engine (closed after the test)."""
    db = PgDatabase(dsn)
    _open.append(db)
    return WorldService(village, PgWorldStore(db))


@pytest.fixture(autouse=True)
def _close_workers() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def test_postgres_agrees_with_sqlite_and_with_its_replay(village: World, pg_dsn: str, tmp_path: Path) -> None:
    sqlite = Database(tmp_path / "w.sqlite3")
    lite = WorldService(village, WorldStore(sqlite))
    pg = worker(village, pg_dsn)
    for ev in scenario():
        a, b = lite.apply(ev), pg.apply(ev)
        assert (a.seq, a.vars, a.quests, a.learned) == (b.seq, b.vars, b.quests, b.learned)
    assert pg.state.to_dict() == lite.state.to_dict()
    assert pg.state.knowledge and pg.state.event_facts  # the scenario reached the derived tables
    restarted = worker(village, pg_dsn)  # the stored rows alone rebuild the same state
    assert restarted.state.to_dict() == lite.state.to_dict()
    assert pg.replayed().to_dict() == lite.state.to_dict()  # snapshot + log = state
    sqlite.close()


def test_a_stale_replica_catches_up_and_appends_after_the_log(village: World, pg_dsn: str) -> None:
    a, b = worker(village, pg_dsn), worker(village, pg_dsn)
    followed: list[int] = []
    b.on_followed = lambda ev, ch: followed.append(ch.seq)
    a.apply(scenario()[0])
    a.apply(scenario()[2])
    changes = b.apply(scenario()[3])  # computed against seq 0, refused, caught up, computed again
    assert followed == [1, 2] and changes.seq == 3
    assert [ch.seq for _, ch in a.catch_up()] == [3]
    assert a.state.to_dict() == b.state.to_dict() == a.replayed().to_dict()
    assert [e.kind for e in a.store.events()] == ["custom", "enemy_killed", "item_given"]


def test_many_writers_on_one_world_instance_lose_and_duplicate_nothing(village: World, pg_dsn: str) -> None:
    writers, per = 4, 15
    services = [worker(village, pg_dsn) for _ in range(writers)]
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for n in range(per):
                place = PLACES[(k + n) % len(PLACES)]
                services[k].apply(
                    WorldEvent("location_entered", {"location": place}, [], request=f"w{k}:{n}")
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    events = services[0].store.events()
    requests = [e.request for e in events]
    assert len(requests) == len(set(requests)) == writers * per
    for s in services:
        s.catch_up()
    docs = {repr(s.state.to_dict()) for s in services}
    assert len(docs) == 1 and services[0].replayed().to_dict() == services[0].state.to_dict()
    assert services[0].state.seq == writers * per


def test_a_replayed_request_is_applied_once(village: World, pg_dsn: str) -> None:
    a, b = worker(village, pg_dsn), worker(village, pg_dsn)
    ev = WorldEvent(
        "custom", {"name": "bribe_offered", "payload": {"amount": 10}}, ["elda"], 1.0, request="r1"
    )
    first = a.apply(ev)
    again = b.apply(ev)  # the gateway replays it on another worker: the ack was lost
    assert again.seq == first.seq == 1 and again.vars == first.vars
    assert a.apply(ev).seq == 1  # and on the same worker
    assert len(a.store.events()) == 1 and a.state.vars["player.gold"] == b.state.vars["player.gold"] == 5


def test_a_moved_conversation_fences_its_old_owner(village: World, pg_dsn: str, pgdb: PgDatabase) -> None:
    old, new = worker(village, pg_dsn), worker(village, pg_dsn)
    epoch = pgdb.claim("conv-1", "worker-a")
    token = current_fence.set(Fence("conv-1", epoch))
    try:
        old.apply(scenario()[0])
        assert pgdb.claim("conv-1", "worker-b") == epoch + 1  # the gateway moved the conversation
        before = old.state.to_dict()
        with pytest.raises(FencedError, match="moved: this worker holds epoch 1, the database has epoch 2"):
            old.apply(scenario()[2])
        assert old.state.to_dict() == before  # the replica rolled back with the refused write
    finally:
        current_fence.reset(token)
    token = current_fence.set(Fence("conv-1", epoch + 1))
    try:
        assert new.apply(scenario()[2]).seq == 2
    finally:
        current_fence.reset(token)
    assert [e.kind for e in new.store.events()] == ["custom", "enemy_killed"]


def test_a_load_elsewhere_makes_followers_reload(village: World, pg_dsn: str) -> None:
    a, b = worker(village, pg_dsn), worker(village, pg_dsn)
    a.apply(scenario()[0])
    saved = a.save_part()
    a.apply(scenario()[2])
    b.catch_up()
    b.load(saved)  # a load on worker b starts a new epoch
    assert a.catch_up() == [] and a.reloads == 1
    assert a.state.to_dict() == b.state.to_dict() and a.state.seq == 1
    assert a.apply(scenario()[3]).seq == 2


async def test_the_doorbell_rings_on_commits_and_after_its_connection_is_killed(
    village: World, pg_dsn: str, pgdb: PgDatabase
) -> None:
    a, b = worker(village, pg_dsn), worker(village, pg_dsn)
    bell = Doorbell(pg_dsn, CHANNEL, retry=0.05)
    await bell.start()
    try:
        await bell.wait(0)  # the ring of the first connection
        a.apply(scenario()[0])
        assert await bell.wait(60)
        assert [ch.seq for _, ch in b.catch_up()] == [1]
        # Kill the listening connection; a commit meanwhile sends its NOTIFY to nobody.
        pid = bell.conn.info.backend_pid
        pgdb.execute("SELECT pg_terminate_backend(%s)", (pid,))
        a.apply(scenario()[2])
        # The bell rings on reconnection, and catching up then finds the missed event.
        assert await bell.wait(60)
        await asyncio.wait_for(bell.connected.wait(), 60)
        assert bell.reconnects >= 1
        assert [ch.seq for _, ch in b.catch_up()] == [2]
        assert b.state.to_dict() == a.state.to_dict()
    finally:
        await bell.stop()


def test_the_locked_path_catches_up_and_reloads_under_the_lock(
    village: World, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After lost races a writer locks the instance first (here: at once) and cannot lose."""
    monkeypatch.setattr(service_module, "OPTIMISTIC_TRIES", 0)
    a, b = worker(village, pg_dsn), worker(village, pg_dsn)
    a.apply(scenario()[0])
    saved = a.save_part()
    a.apply(scenario()[2])
    assert b.apply(scenario()[3]).seq == 3  # b was at seq 0: it caught up under the lock
    a.load(saved)  # a new epoch: b reloads inside its locked transaction, then appends
    assert b.apply(scenario()[4]).seq == 2 and b.reloads == 1
    a.catch_up()
    assert a.state.to_dict() == b.state.to_dict() == a.replayed().to_dict()


class _LoadsTogether(PgWorldStore):
    """A real store whose first load waits for the other worker's: both see no world yet, then
    both go on to create it at the same moment (the race of two workers starting on a fresh
    database)."""

    def __init__(self, db: PgDatabase, barrier: threading.Barrier) -> None:
        super().__init__(db)
        self.barrier: threading.Barrier | None = barrier

    def load(self) -> Stored | None:
        stored = super().load()
        if self.barrier is not None:
            barrier, self.barrier = self.barrier, None
            barrier.wait(timeout=60)
        return stored


def test_two_workers_creating_a_fresh_world_at_once_create_it_once(village: World, pg_dsn: str) -> None:
    barrier = threading.Barrier(2)
    services: list[WorldService] = []
    errors: list[BaseException] = []

    def start() -> None:
        db = PgDatabase(pg_dsn)
        _open.append(db)
        try:
            services.append(WorldService(village, _LoadsTogether(db, barrier)))
        except BaseException as exc:  # the old reset: a unique violation on world_epochs
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(services) == 2
    a, b = services
    db = PgDatabase(pg_dsn)
    _open.append(db)
    epochs = db.execute("SELECT epoch, reason FROM world_epochs")
    assert epochs == [(1, "new game")]  # created once: the second worker took the first one's
    assert a.state.to_dict() == b.state.to_dict()
    a.apply(WorldEvent("location_entered", {"location": "inn"}, ["bram"], 1.0))
    b.catch_up()
    assert b.state.to_dict() == a.state.to_dict()
