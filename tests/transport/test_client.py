"""The Python client's waits keep their caller's cancellation (real ZeroMQ sockets on loopback)."""

from __future__ import annotations

import asyncio

import zmq
import zmq.asyncio

from npc_runtime.protocol.messages import Ping, Pong
from npc_runtime.transport.client import AsyncClient

HANG = 30.0  # a hang bound only


async def test_a_request_cancelled_as_its_reply_arrives_stays_cancelled() -> None:
    """Python 3.11's ``wait_for`` returned the reply to a caller cancelled in the same instant,
    so a game's own time-out or shutdown around ``request`` was lost."""
    ctx = zmq.asyncio.Context()
    server = ctx.socket(zmq.ROUTER)
    server.setsockopt(zmq.LINGER, 0)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = AsyncClient(f"tcp://127.0.0.1:{port}", ctx=ctx)
    client._sock.connect(client.endpoint)  # no hello: only the request path is under test
    try:
        caller = asyncio.create_task(client.request(Ping(), timeout=HANG))
        async with asyncio.timeout(HANG):
            await server.recv_multipart()  # the request went out on the socket
        (msg_id,) = client._pending
        client._pending[msg_id].set_result(Pong(ref=msg_id))  # what the reader does with the reply ...
        caller.cancel()  # ... as the caller is cancelled
        done, _ = await asyncio.wait([caller], timeout=HANG)
        assert done and caller.cancelled()
        assert not client._pending
    finally:
        await client.close()
        server.close()
        ctx.term()
