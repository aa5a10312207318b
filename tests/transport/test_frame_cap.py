"""A frame over the cap disconnects its sender before the runtime buffers it (ZMQ_MAXMSGSIZE)."""

from __future__ import annotations

import asyncio

import zmq
import zmq.asyncio

from npc_runtime.protocol.codec import DEFAULT_MAX_MESSAGE_BYTES
from npc_runtime.transport.server import RouterServer, frame_cap


def test_the_cap_leaves_room_for_a_typed_error() -> None:
    assert frame_cap(DEFAULT_MAX_MESSAGE_BYTES) == 16 << 20
    assert frame_cap(8 << 20) == 32 << 20


async def test_an_oversized_frame_never_reaches_the_handler() -> None:
    ctx = zmq.asyncio.Context()
    server = RouterServer(ctx, max_frame_bytes=1 << 20)
    endpoint = server.bind("tcp://127.0.0.1:0")
    sizes: list[int] = []
    got_small = asyncio.Event()

    def on_frame(identity: bytes, payload: bytes) -> None:
        sizes.append(len(payload))
        if len(payload) < 100:
            got_small.set()

    task = asyncio.create_task(server.serve(on_frame))
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(endpoint)
    try:
        await client.send(b"x" * (1 << 20))  # at the cap: delivered
        await client.send(b"y" * (4 << 20))  # over it: the connection is dropped
        # The DEALER reconnects by itself; a frame written before the drop may be lost, so send
        # small frames until one arrives (asyncio.wait_for is the wait, not a sleep).
        for _ in range(600):
            await client.send(b"ping")
            try:
                await asyncio.wait_for(got_small.wait(), 0.1)
                break
            except TimeoutError:
                continue
        assert got_small.is_set()
        assert 1 << 20 in sizes
        assert max(sizes) == 1 << 20  # the 4 MiB frame never arrived
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        client.close(linger=0)
        server.close()
        ctx.term()
