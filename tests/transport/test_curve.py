"""CURVE: encrypted, authenticated connections through pyzmq's stock authenticator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import zmq.auth

from npc_runtime.protocol.messages import Ping, Pong
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    clients = tmp_path / "clients"
    keys.mkdir()
    clients.mkdir()
    zmq.auth.create_certificates(str(keys), "server")
    zmq.auth.create_certificates(str(keys), "game")
    zmq.auth.create_certificates(str(keys), "stranger")
    (clients / "game.key").write_text((keys / "game.key").read_text())
    return tmp_path


async def test_only_known_clients_with_the_server_key_get_in(
    make_settings: Callable[..., Settings], certs: Path
) -> None:
    keys = certs / "keys"
    runtime = Runtime(
        make_settings(curve_secret_file=keys / "server.key_secret", curve_clients_dir=certs / "clients")
    )
    await runtime.start()
    server_public, _ = zmq.auth.load_certificate(str(keys / "server.key"))
    good = AsyncClient(runtime.endpoint, server_key=server_public, client_cert=str(keys / "game.key_secret"))
    stranger = AsyncClient(
        runtime.endpoint, server_key=server_public, client_cert=str(keys / "stranger.key_secret")
    )
    plain = AsyncClient(runtime.endpoint)
    try:
        await good.connect(timeout=5)
        assert isinstance(await good.request(Ping()), Pong)
        for refused in (stranger, plain):
            with pytest.raises(TimeoutError):
                await refused.connect(timeout=1.0)
    finally:
        for c in (good, stranger, plain):
            await c.close()
        await runtime.stop()
