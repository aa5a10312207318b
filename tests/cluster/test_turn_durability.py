"""A turn is acknowledged (``npc_text_final``) only after its memories committed, and a turn run
again after a failover writes its memories once.

A real worker runtime (in this process, so the test can act at the exact point between the
memory write and the final line) on a real PostgreSQL (the ``pg_dsn`` fixture), driven by a real
ZeroMQ client. The gateway's move of the conversation is a real claim in ``cluster_owners``
made at that point, the same thing a gateway does when it declares the worker dead there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from npc_runtime.cluster.settings import ClusterSettings, start_id
from npc_runtime.cluster.worker import WorkerRuntime
from npc_runtime.memory import MemoryService
from npc_runtime.protocol.messages import (
    ConversationStart,
    ConversationStarted,
    ListNpcs,
    NpcTextFinal,
    PlayerText,
)
from npc_runtime.settings import Settings
from npc_runtime.storage.postgres import PgDatabase
from npc_runtime.transport.client import AsyncClient

pytest.importorskip("psycopg", reason="the cluster extra (psycopg) is not installed")

WAIT = 60.0  # seconds; generous for a loaded 2-core machine
LINE = "Good evening, Mira. Any news from the mill?"


def memories_of(owners: PgDatabase, request: str) -> list[tuple[Any, ...]]:
    return owners.execute(
        "SELECT npc_id, kind, text FROM memory_items WHERE request=%s ORDER BY id", (request,)
    )


async def start(client: AsyncClient, conv: str, n: int) -> None:
    reply = await client.request(
        ConversationStart(npc_ids=["mira"], player_id="p1", greet=False, id=start_id(conv, n)), timeout=WAIT
    )
    assert isinstance(reply, ConversationStarted) and reply.conversation_id == conv


def finals(client: AsyncClient, ref: Any) -> list[NpcTextFinal]:
    seen: list[NpcTextFinal] = []
    while not client.events.empty():
        msg = client.events.get_nowait()
        if isinstance(msg, NpcTextFinal) and msg.ref == ref:
            seen.append(msg)
    return seen


async def test_a_turn_moved_before_its_memories_committed_is_not_acknowledged(
    make_settings: Callable[..., Settings], pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = PgDatabase(pg_dsn, "test-gateway")
    owners.claim("c1", "w1")
    runtime = WorkerRuntime(make_settings(), ClusterSettings(db=pg_dsn, worker_id="w1"))
    await runtime.start()
    try:
        async with AsyncClient(runtime.endpoint) as client:
            await start(client, "c1", 1)
            moved = asyncio.Event()
            remember = MemoryService.remember_turn

            def moved_first(self: MemoryService, *args: Any, **kwargs: Any) -> list[int]:
                # The gateway declares the worker dead right here: after the reply streamed,
                # before its memories are written.
                owners.claim("c1", "w2")
                try:
                    return remember(self, *args, **kwargs)
                finally:
                    moved.set()

            monkeypatch.setattr(MemoryService, "remember_turn", moved_first)
            line = PlayerText(conversation_id="c1", text=LINE, id=client.next_id())
            await client.send(line)
            await asyncio.wait_for(moved.wait(), WAIT)
            # A marker: the worker has sent everything of the turn before it answers this.
            await client.request(ListNpcs(), timeout=WAIT)
            # The old order sent the final first: acknowledged, with no memories behind it.
            assert finals(client, line.id) == []
            assert memories_of(owners, f"c1:{line.id}") == []  # the fence refused the write
            monkeypatch.setattr(MemoryService, "remember_turn", remember)

            # The conversation comes back (as to a new worker): the gateway sends the line again.
            owners.claim("c1", "w1")
            await start(client, "c1", 2)
            await client.send(line)
            final = await client.wait_final("c1", ref=line.id, timeout=WAIT)
            written = memories_of(owners, f"c1:{line.id}")
            assert [(npc, kind) for npc, kind, _ in written] == [("mira", "heard"), ("mira", "said")]
            assert written[0][2] == LINE and written[1][2] == final.text.strip()

            # Its final lost on the way (a kill just after it was sent): the line runs once more,
            # is answered again, and its memories stay written once.
            owners.claim("c1", "w1")
            await start(client, "c1", 3)
            await client.send(line)
            await client.wait_final("c1", ref=line.id, timeout=WAIT)
            assert memories_of(owners, f"c1:{line.id}") == written
    finally:
        await runtime.stop()
        owners.close()
