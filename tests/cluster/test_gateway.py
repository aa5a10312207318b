"""The cluster gateway with real processes: ``npc-runtime serve --mode gateway`` in front of two
``--mode worker`` subprocesses on one PostgreSQL database (the ``pg_dsn`` fixture), real ZeroMQ
clients, and (for turns that must be in flight when a worker dies) the real OpenAI-compatible
test server trickling its reply.

- a client talks through the gateway as to an embedded runtime (same replies, same world);
- kill -9 of the conversation's worker mid-turn: the client gets ``conversation_moved``, then the
  reply; the acknowledged world write before it is in the log once, the turn's action once;
- SIGSTOP of the owner: the conversation moves; after SIGCONT its late write is refused (fenced);
- ``load``/``world_reset``/``game_time`` without the authority role: ``not_authority``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dialogue.fake_openai_server import FakeOpenAIServer, Stream, text_reply, tool_reply

from npc_runtime.protocol.messages import (
    ConversationStart,
    GameTime,
    Load,
    Message,
    NpcTextFinal,
    PlayerText,
    WarningMessage,
)
from npc_runtime.protocol.messages.world import WorldEventMsg, WorldReset, WorldStateQuery, WorldStateReply
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply
from testsupport import RuntimeProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from cluster_gateway import LocalCluster, local_cluster

WAIT = 60.0  # seconds; generous for a loaded 2-core machine
# Each test starts a PostgreSQL-backed cluster of real processes (a gateway and 2-3 workers):
# over the suite's default 120 s on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(400)
ALE = [("serve_drink", '{"drink": "ale"}')]


def slow(stream: Stream, interval: float) -> Stream:
    stream.interval = interval
    return stream


def llm_settings(llm: FakeOpenAIServer) -> dict[str, Any]:
    return {
        "provider": "openai",
        "base_url": llm.base_url,
        "model": "m",
        "api_key_env": "NO_SUCH_KEY_ENV",
        "timeout": 120.0,  # a paused worker's turn must not time out while it is stopped
        "first_token_timeout": 120.0,
        "max_retries": 0,
    }


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def llm_cluster(pg_dsn: str, tmp_path: Path, llm: FakeOpenAIServer) -> Iterator[LocalCluster]:
    # No authored topic answers (the model's reply is the one in flight); the dev authority role.
    with local_cluster(
        pg_dsn,
        tmp_path / "cluster",
        top={"prefer_authored": 1.01},
        dialogue=llm_settings(llm),
        gateway={"authority_dev": True},
    ) as c:
        yield c


async def connect(endpoint: str, name: str = "game") -> AsyncClient:
    client = AsyncClient(endpoint, name=name)
    await client.connect(timeout=WAIT)
    return client


def logged(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT request FROM world_events WHERE request IS NOT NULL ORDER BY seq"
        ).fetchall()
    return [str(r[0]) for r in rows]


async def gold(client: AsyncClient) -> Any:
    reply = await client.request(WorldStateQuery(), timeout=WAIT)
    assert isinstance(reply, WorldStateReply)
    return reply.variables["player.gold"]


def wire(msg: Message) -> dict[str, Any]:
    doc = msg.model_dump()
    for key in ("ref", "id", "conversation_id", "session"):
        doc.pop(key, None)
    return doc


async def test_a_client_talks_through_the_gateway_as_to_an_embedded_runtime(
    runtime_process: Any, pg_dsn: str, tmp_path: Path
) -> None:
    embedded_rp: RuntimeProcess = runtime_process("--log-level", "WARNING", db=tmp_path / "embedded.sqlite3")
    with local_cluster(pg_dsn, tmp_path / "cluster", gateway={"authority_dev": True}) as cluster:
        assert cluster.gateway is not None
        embedded, gated = await connect(embedded_rp.endpoint), await connect(cluster.gateway.endpoint)
        try:
            assert embedded.welcome is not None and gated.welcome is not None
            assert embedded.welcome.npcs == gated.welcome.npcs
            convs = []
            for c in (embedded, gated):
                started = await c.start_conversation("mira", greet=True)
                greeting = await c.wait_final(started.conversation_id, timeout=WAIT)
                convs.append((started, greeting))
            assert wire(convs[0][0]) == wire(convs[1][0]) and wire(convs[0][1]) == wire(convs[1][1])
            for line in ("A pint of ale, please", "What news from the road?", "Goodbye for now"):
                a = await embedded.say(convs[0][0].conversation_id, line, timeout=WAIT)
                b = await gated.say(convs[1][0].conversation_id, line, timeout=WAIT)
                assert wire(a) == wire(b)
            event = WorldEventMsg(kind="location_entered", location="smithy", game_time=3.0)  # type: ignore[arg-type]
            a = await embedded.request(event, timeout=WAIT)
            b = await gated.request(event.model_copy(update={"id": None}), timeout=WAIT)
            assert wire(a) == wire(b)
            for npc in (None, "mira"):
                a = await embedded.request(WorldStateQuery(npc_id=npc), timeout=WAIT)
                b = await gated.request(WorldStateQuery(npc_id=npc), timeout=WAIT)
                assert isinstance(a, WorldStateReply) and isinstance(b, WorldStateReply)
                assert (a.variables, a.quests, a.relations, a.facts) == (
                    b.variables,
                    b.quests,
                    b.relations,
                    b.facts,
                )
            # an unknown conversation gets the runtime's typed error through the gateway too
            with pytest.raises(RuntimeErrorReply) as err:
                await gated.request(PlayerText(conversation_id="nope", text="hi"), timeout=WAIT)
            assert err.value.error.code == "unknown_conversation"
        finally:
            await embedded.close()
            await gated.close()


async def _turn_in_flight(
    cluster: LocalCluster, llm: FakeOpenAIServer, client: AsyncClient
) -> tuple[str, int, str]:
    """Start a conversation with Mira and a turn whose reply trickles; returns (conversation, the
    player line's id, its worker) once the first words reached the client."""
    llm.script(
        slow(tool_reply("One ale", " coming up,", " love.", " A gold piece.", calls=ALE), 0.5),
        tool_reply("One ale", " coming up,", " love.", " A gold piece.", calls=ALE),
    )
    conv = (await client.start_conversation("mira", greet=False)).conversation_id
    line = PlayerText(id=client.next_id(), conversation_id=conv, text="Something to drink, please")
    await client.send(line)
    await client.next_event(WAIT, types=("npc_text_delta",))
    owner = cluster.owner(conv)
    assert owner in cluster.workers
    assert isinstance(line.id, int)
    return conv, line.id, owner


async def test_kill_9_of_the_worker_mid_turn_moves_the_conversation_and_loses_nothing(
    llm_cluster: LocalCluster, llm: FakeOpenAIServer, pg_dsn: str
) -> None:
    assert llm_cluster.gateway is not None
    client = await connect(llm_cluster.gateway.endpoint)
    try:
        before = await gold(client)
        acked = await client.request(
            WorldEventMsg(kind="location_entered", location="smithy", game_time=1.0), timeout=WAIT
        )  # type: ignore[arg-type]
        conv, line_id, owner = await _turn_in_flight(llm_cluster, llm, client)
        llm_cluster.workers[owner].signal(signal.SIGKILL)
        moved = await client.next_event(WAIT, types=("warning",))
        assert isinstance(moved, WarningMessage)
        assert (moved.code, moved.conversation_id) == ("conversation_moved", conv), moved
        final = await client.next_event(
            WAIT, types=("npc_text_final",), where=lambda m: getattr(m, "ref", None) == line_id
        )
        assert isinstance(final, NpcTextFinal)
        assert final.text == "One ale coming up, love. A gold piece." and [a.name for a in final.actions] == [
            "serve_drink"
        ]
        assert llm_cluster.owner(conv) != owner
        assert await gold(client) == before - 1  # the drink was paid once
        requests = logged(pg_dsn)
        assert sum(r.endswith(f":{acked.ref}") for r in requests) == 1  # the acknowledged write, once
        assert sum(r.endswith(":mira:serve_drink") for r in requests) == 1
        # the conversation goes on on its new worker
        llm.script(text_reply("Cheers."))
        again = await client.say(conv, "Thanks", timeout=WAIT)
        assert again.text == "Cheers."
    finally:
        await client.close()


async def test_a_paused_owner_is_moved_and_its_late_write_is_refused(
    llm_cluster: LocalCluster, llm: FakeOpenAIServer, pg_dsn: str
) -> None:
    assert llm_cluster.gateway is not None
    client = await connect(llm_cluster.gateway.endpoint)
    try:
        before = await gold(client)
        _conv, line_id, owner = await _turn_in_flight(llm_cluster, llm, client)
        old = llm_cluster.workers[owner]
        old.signal(signal.SIGSTOP)
        try:
            moved = await client.next_event(WAIT, types=("warning",))
            assert isinstance(moved, WarningMessage) and moved.code == "conversation_moved", moved
            final = await client.next_event(
                WAIT, types=("npc_text_final",), where=lambda m: getattr(m, "ref", None) == line_id
            )
            assert isinstance(final, NpcTextFinal) and [a.name for a in final.actions] == ["serve_drink"]
        finally:
            old.signal(signal.SIGCONT)
        # the old owner finishes its turn: its action's write is refused by the fence
        for _ in range(int(WAIT / 0.1)):
            if "moved: this worker holds epoch" in old.output():
                break
            await asyncio.sleep(0.1)  # polling another process's log: it has no event to await
        assert "moved: this worker holds epoch" in old.output(), old.output()[-3000:]
        assert await gold(client) == before - 1
        assert sum(r.endswith(":mira:serve_drink") for r in logged(pg_dsn)) == 1
        assert not [e for e in client._backlog if isinstance(e, NpcTextFinal) and e.ref == line_id]
    finally:
        await client.close()


async def test_world_authority_messages_need_the_role(pg_dsn: str, tmp_path: Path) -> None:
    with local_cluster(pg_dsn, tmp_path / "cluster") as cluster:  # no authority_dev, no keys
        assert cluster.gateway is not None
        client = await connect(cluster.gateway.endpoint)
        try:
            for msg in (GameTime(hours=3.0), WorldReset(), Load(blob=b"x")):
                with pytest.raises(RuntimeErrorReply) as err:
                    await client.request(msg, timeout=WAIT)
                assert err.value.error.code == "not_authority"
            with pytest.raises(RuntimeErrorReply) as err:
                await client.request(ConversationStart(npc_ids=["nobody"]), timeout=WAIT)
            assert err.value.error.code == "unknown_npc"  # other messages still reach a worker
        finally:
            await client.close()


@pytest.mark.timeout(900)  # three kill -9 trials, each waiting for a worker's restart
def test_gateway_chaos_kill_9_of_random_workers_loses_and_duplicates_nothing(
    pg_dsn: str, tmp_path: Path
) -> None:
    """A few trials of tools/cluster_chaos.py's gateway mode (>= 1,000 when run by hand)."""
    from cluster_gateway import gateway_chaos

    report = gateway_chaos(pg_dsn, tmp_path / "chaos", trials=3, workers=3, seed=7)
    assert report.trials == report.kills == 3
    assert report.acked_events == 3 and report.lines == 3
    assert (report.lost, report.duplicated, report.double_finals) == (0, 0, 0), report
    assert report.answered == 3, report.notes
