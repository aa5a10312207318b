"""CURVE on the gateway's links to workers: real ``npc-runtime serve --mode gateway|worker``
subprocesses on real PostgreSQL. Workers run with a CURVE certificate and accept only the
gateway's listed public key; the gateway encrypts its links with ``cluster.worker_key`` and
``cluster.link_secret_file``. A client talks through it as usual; a peer without CURVE, or with a
key the workers do not list, fails the handshake (read from ZeroMQ's own socket monitor)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from zmq.auth.certs import load_certificate
from zmq.utils.monitor import recv_monitor_message

from npc_runtime.cluster.settings import ClusterSettings, link_keys
from npc_runtime.errors import ConfigError
from npc_runtime.transport.client import AsyncClient
from npc_runtime.transport.security import generate_keys

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from cluster_gateway import local_cluster

WAIT = 60.0  # seconds; generous for a loaded 2-core machine
pytestmark = pytest.mark.timeout(400)
FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
}


async def handshake(endpoint: str, server_key: bytes | None) -> int:
    """Connect a DEALER (with CURVE and a fresh, unlisted key pair when ``server_key``) and return
    the first handshake event its monitor reports."""
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = server_key, public, secret
    monitor = sock.get_monitor_socket()
    try:
        sock.connect(endpoint)
        while True:
            event = await asyncio.wait_for(recv_monitor_message(monitor), WAIT)
            if event["event"] in FAILED or event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                return int(event["event"])
    finally:
        sock.disable_monitor()
        monitor.close()
        sock.close()
        ctx.term()


async def test_links_to_workers_are_curve_encrypted_and_authenticated(pg_dsn: str, tmp_path: Path) -> None:
    _, worker_secret = generate_keys(tmp_path / "worker-keys", "worker")
    gateways = tmp_path / "gateway-public"
    gateway_public, gateway_secret = generate_keys(tmp_path / "gateway-keys", "gateway")
    gateways.mkdir()
    (gateways / "gateway.key").write_bytes(gateway_public.read_bytes())
    worker_key, _ = load_certificate(str(worker_secret))
    with local_cluster(
        pg_dsn,
        tmp_path / "cluster",
        worker_top={"curve_secret_file": str(worker_secret), "curve_clients_dir": str(gateways)},
        gateway={"worker_key": worker_key.decode(), "link_secret_file": str(gateway_secret)},
    ) as cluster:
        assert cluster.gateway is not None
        async with AsyncClient(cluster.gateway.endpoint, name="game") as client:
            started = await client.start_conversation("mira", greet=False)
            final = await client.say(started.conversation_id, "A pint of ale, please", timeout=WAIT)
            assert final.text.strip()
        worker = cluster.workers["w1"].endpoint
        assert await handshake(worker, None) in FAILED  # a plain peer
        assert await handshake(worker, worker_key) == zmq.EVENT_HANDSHAKE_FAILED_AUTH  # an unlisted key


def test_link_keys_come_from_the_settings(tmp_path: Path) -> None:
    dsn = "postgresql://x@127.0.0.1/x"
    assert link_keys(ClusterSettings(db=dsn)) is None  # plain links (a private network)
    public_file, secret_file = generate_keys(tmp_path, "gateway")
    public, _ = load_certificate(str(public_file))
    worker = "W" * 40
    keys = link_keys(ClusterSettings(db=dsn, worker_key=worker, link_secret_file=secret_file))
    assert keys is not None and keys[0] == worker.encode() and keys[1] == public
    with pytest.raises(ConfigError, match="no secret key"):
        link_keys(ClusterSettings(db=dsn, worker_key=worker, link_secret_file=public_file))
    with pytest.raises(ConfigError, match=r"needs cluster\.worker_key"):
        link_keys(ClusterSettings(db=dsn, link_secret_file=secret_file))
    with pytest.raises(ValueError, match="not a Z85"):
        ClusterSettings(db=dsn, worker_key="short")
