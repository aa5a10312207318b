"""Key files, exposure warnings, IPv6 loopback, and bind failures that say what to do."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
import zmq.auth

from npc_runtime.errors import ConfigError
from npc_runtime.transport.security import exposure_warning, generate_keys, is_loopback
from npc_runtime.transport.server import RouterServer


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "npc_runtime.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_keys_generate_writes_a_private_secret_and_never_overwrites(tmp_path: Path) -> None:
    old = os.umask(0)  # even with the most permissive umask
    try:
        public, secret = generate_keys(tmp_path / "keys")
    finally:
        os.umask(old)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    pub, sec = zmq.auth.load_certificate(str(secret))
    assert sec is not None and zmq.auth.load_certificate(str(public))[0] == pub
    before = secret.read_bytes()
    with pytest.raises(ConfigError, match="--force"):
        generate_keys(tmp_path / "keys")
    assert secret.read_bytes() == before
    generate_keys(tmp_path / "keys", force=True)
    assert secret.read_bytes() != before and stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_keys_generate_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    assert _cli("keys", "generate", str(tmp_path)).returncode == 0
    again = _cli("keys", "generate", str(tmp_path))
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    assert _cli("keys", "generate", str(tmp_path), "--force").returncode == 0


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("tcp://127.0.0.1:7600", True),
        ("tcp://[::1]:7600", True),
        ("tcp://localhost:7600", True),
        ("ipc:///tmp/npc", True),
        ("tcp://0.0.0.0:7600", False),
        ("tcp://[::]:7600", False),
        ("tcp://192.168.1.4:7600", False),
        ("tcp://eth0:7600", False),
    ],
)
def test_exposure(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback
    warning = exposure_warning(endpoint, curve=False)
    assert (warning is None) is loopback
    assert exposure_warning(endpoint, curve=True) is None
    if warning:
        assert endpoint in warning and "CURVE" in warning


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
async def test_an_ipv6_loopback_bind_serves() -> None:
    ctx = zmq.asyncio.Context()
    server = RouterServer(ctx)
    endpoint = server.bind("tcp://[::1]:0")
    got: list[bytes] = []
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.IPV6, 1)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(endpoint)
    try:
        await client.send(b"hi")
        frames = await server.sock.recv_multipart()
        got.append(frames[-1])
    finally:
        client.close(linger=0)
        server.close()
        ctx.term()
    assert endpoint.startswith("tcp://[::1]:") and got == [b"hi"]


def test_bind_failures_name_the_address_and_the_fix() -> None:
    ctx = zmq.asyncio.Context()
    first, second = RouterServer(ctx), RouterServer(ctx)
    try:
        endpoint = first.bind("tcp://127.0.0.1:0")
        with pytest.raises(ConfigError) as err:
            second.bind(endpoint)
        assert endpoint in str(err.value) and "another port with --bind" in str(err.value)
        for bad in ("tcp://10.255.255.1:7600", "tcp://nosuchif0:7600"):
            with pytest.raises(ConfigError) as err:
                second.bind(bad)
            assert bad in str(err.value) and "no network interface" in str(err.value)
    finally:
        first.close()
        second.close()
        ctx.term()
