"""Runtime workers sharing one world in PostgreSQL, as real ``npc-runtime serve --world-db``
subprocesses with real ZeroMQ clients: one worker agrees with embedded mode; what one worker's
client changes reaches another worker's clients, also after the NOTIFY connections were killed;
events sent to two workers at once are all logged once, in one order both replicas agree on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from npc_runtime.protocol.messages import Message
from npc_runtime.protocol.messages.world import (
    WorldChanged,
    WorldEventApplied,
    WorldEventMsg,
    WorldStateQuery,
    WorldStateReply,
    WorldTell,
)
from npc_runtime.transport.client import AsyncClient
from testsupport import RuntimeProcess

WAIT = 60.0  # seconds; generous for a loaded 2-core machine


def scenario() -> list[Message]:
    return [
        WorldEventMsg(kind="custom", name="bribe_offered", payload={"amount": 10}, witnesses=["elda"], game_time=1.0),  # type: ignore[arg-type]
        WorldEventMsg(kind="enemy_killed", enemy="wolf", count=2, witnesses=["tomas"], game_time=2.0),  # type: ignore[arg-type]
        WorldTell(npc_id="bram", fact="tomas_took_bribe", game_time=3.0),  # type: ignore[arg-type]
        WorldEventMsg(kind="item_given", item="moonpetal", receiver="elda", witnesses=["mira"], game_time=30.0),  # type: ignore[arg-type]
        WorldEventMsg(kind="location_entered", location="smithy", witnesses=["bram"], game_time=31.0),  # type: ignore[arg-type]
    ]  # fmt: skip


def enter(place: str, t: float) -> WorldEventMsg:
    return WorldEventMsg(kind="location_entered", location=place, game_time=t)  # type: ignore[arg-type]


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    made: list[AsyncClient] = []

    async def make(rp: RuntimeProcess, name: str) -> AsyncClient:
        c = AsyncClient(rp.endpoint, name=name)
        made.append(c)
        await c.connect(timeout=WAIT)
        return c

    yield make
    for c in made:
        await c.close()


def worker(runtime_process: Callable[..., RuntimeProcess], dsn: str, db: Path) -> RuntimeProcess:
    return runtime_process("--world-db", dsn, "--log-level", "WARNING", db=db)


def wire(msg: Message) -> dict[str, Any]:
    doc = msg.model_dump()
    doc.pop("ref", None)
    return doc


async def test_one_worker_agrees_with_embedded_mode(
    runtime_process: Callable[..., RuntimeProcess], pg_dsn: str, tmp_path: Path, clients: Callable[..., Any]
) -> None:
    # Both processes start before any client connects: starting one blocks this loop (it reads the
    # process's output), and a connected client would miss its heartbeats and be dropped.
    embedded_rp = runtime_process("--log-level", "WARNING", db=tmp_path / "embedded.sqlite3")
    clustered_rp = worker(runtime_process, pg_dsn, tmp_path / "w1.sqlite3")
    embedded = await clients(embedded_rp, "e")
    clustered = await clients(clustered_rp, "c")
    for msg in scenario():
        a = await embedded.request(msg, timeout=WAIT)
        b = await clustered.request(msg.model_copy(), timeout=WAIT)
        assert isinstance(a, WorldEventApplied) and wire(a) == wire(b)
    for npc in (None, "elda", "bram"):
        a = await embedded.request(WorldStateQuery(npc_id=npc), timeout=WAIT)
        b = await clustered.request(WorldStateQuery(npc_id=npc), timeout=WAIT)
        assert isinstance(a, WorldStateReply) and wire(a) == wire(b)


async def changed(client: AsyncClient, seq: int) -> WorldChanged:
    msg = await client.next_event(WAIT, ("world_changed",), where=lambda m: getattr(m, "seq", None) == seq)
    assert isinstance(msg, WorldChanged)
    return msg


async def test_what_one_worker_changes_reaches_the_other_workers_clients(
    runtime_process: Callable[..., RuntimeProcess], pg_dsn: str, tmp_path: Path, clients: Callable[..., Any]
) -> None:
    rp_a, rp_b = (worker(runtime_process, pg_dsn, tmp_path / f"w{i}.sqlite3") for i in (1, 2))
    a = await clients(rp_a, "game-a")  # (both started first: see above)
    b = await clients(rp_b, "game-b")
    sent = await a.request(scenario()[0], timeout=WAIT)
    assert isinstance(sent, WorldEventApplied)
    seen = await changed(b, sent.seq)
    assert seen.cause == "event" and seen.variables == sent.variables and seen.quests == sent.quests

    # Kill every LISTEN connection: NOTIFYs sent meanwhile are lost; the workers reconnect and
    # catch up from the log (and poll), so the next event still reaches the other worker.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
        ).fetchone()
    assert killed is not None and killed[0] == 2
    sent = await a.request(enter("smithy", 2.0), timeout=WAIT)
    assert isinstance(sent, WorldEventApplied)
    await changed(b, sent.seq)
    back = await b.request(enter("inn", 3.0), timeout=WAIT)  # worker b's replica is current: no retry
    assert isinstance(back, WorldEventApplied) and back.seq == sent.seq + 1
    await changed(a, back.seq)


async def test_events_sent_to_two_workers_at_once_are_logged_once_in_one_order(
    runtime_process: Callable[..., RuntimeProcess], pg_dsn: str, tmp_path: Path, clients: Callable[..., Any]
) -> None:
    rp_a, rp_b = (worker(runtime_process, pg_dsn, tmp_path / f"w{i}.sqlite3") for i in (1, 2))
    a = await clients(rp_a, "game-a")  # (both started first: see above)
    b = await clients(rp_b, "game-b")
    places = ["inn", "smithy", "old_mill", "square"]
    per = 10

    async def send(c: AsyncClient, k: int) -> list[int]:
        seqs = []
        for n in range(per):
            reply = await c.request(enter(places[(k + n) % 4], float(n)), timeout=WAIT)
            assert isinstance(reply, WorldEventApplied)
            seqs.append(reply.seq)
        return seqs

    got = await asyncio.gather(send(a, 0), send(b, 1))
    assert sorted(got[0] + got[1]) == list(range(1, 2 * per + 1))  # every event once, no gaps
    await changed(a, 2 * per)  # every client hears every change, its own worker's or another's
    await changed(b, 2 * per)
    sa = await a.request(WorldStateQuery(), timeout=WAIT)
    sb = await b.request(WorldStateQuery(), timeout=WAIT)
    assert isinstance(sa, WorldStateReply) and wire(sa) == wire(sb) and sa.seq == 2 * per


async def test_workers_with_db_in_postgres_share_memory(
    runtime_process: Callable[..., RuntimeProcess], pg_dsn: str, clients: Callable[..., Any]
) -> None:
    """``serve --db postgresql://...``: world and memory in PostgreSQL, no SQLite file; what one
    worker's NPC remembers, the same NPC on another worker recalls."""
    from npc_runtime.protocol.messages.memory import (
        MemoryAdd,
        MemoryQuery,
        MemoryResults,
        Relationship,
        RelationshipGet,
        RelationshipSet,
    )

    a = await clients(runtime_process("--db", pg_dsn, "--log-level", "WARNING"), "game-a")
    b = await clients(runtime_process("--db", pg_dsn, "--log-level", "WARNING"), "game-b")
    assert isinstance(
        await b.request(MemoryQuery(npc_id="mira", query="ledger"), timeout=WAIT), MemoryResults
    )
    await a.request(
        MemoryAdd(npc_id="mira", text="The lighthouse keeper hid the ledger.", importance=8), timeout=WAIT
    )
    await a.request(RelationshipSet(npc_id="mira", player_id="hero", values={"trust": 0.5}), timeout=WAIT)
    found = await b.request(MemoryQuery(npc_id="mira", query="Who hid the ledger?", limit=1), timeout=WAIT)
    assert isinstance(found, MemoryResults)
    assert [m.text for m in found.memories] == ["The lighthouse keeper hid the ledger."]
    rel = await b.request(RelationshipGet(npc_id="mira", player_id="hero"), timeout=WAIT)
    assert isinstance(rel, Relationship) and rel.values["trust"] == 0.5
    sent = await b.request(enter("smithy", 5.0), timeout=WAIT)
    assert isinstance(sent, WorldEventApplied)
    assert (await changed(a, sent.seq)).cause == "event"
