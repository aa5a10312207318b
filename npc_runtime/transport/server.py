"""The runtime's ZeroMQ ROUTER socket.

Each game client is a DEALER; a client frame arrives here as ``[routing id, payload]``. The loop
drains every frame that is ready before awaiting again, and replies are sent without blocking, so
one slow or vanished client never stalls the others. ``ROUTER_MANDATORY`` makes a send to a client
that is gone fail at once (and the runtime frees its conversations); libzmq heartbeats detect dead
TCP peers underneath the protocol-level ``ping``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
import zmq.auth

from ..errors import ConfigError

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, bytes], None]


class PeerGone(Exception):
    """The client's connection is gone (routing id unknown to the ROUTER)."""


class PeerOverloaded(Exception):
    """The client's send queue is full (it stopped reading)."""


class RouterServer:
    def __init__(self, ctx: zmq.asyncio.Context, *, sndhwm: int = 100_000, heartbeat_ms: int = 2000) -> None:
        self._ctx = ctx
        self._auth: Any = None
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.SNDHWM, sndhwm)
        self.sock.setsockopt(zmq.RCVHWM, sndhwm)
        self.sock.setsockopt(zmq.HEARTBEAT_IVL, heartbeat_ms)
        self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, heartbeat_ms * 3)
        self.sock.setsockopt(zmq.HEARTBEAT_TTL, heartbeat_ms * 3)
        # Sends go through a plain (sync) shadow of the same socket: same thread, never blocking.
        self._tx: zmq.Socket[bytes] = zmq.Socket.shadow(self.sock.underlying)
        self.endpoint = ""

    def enable_curve(self, secret_file: Path, clients_dir: Path | None) -> None:
        """Encrypt and authenticate with CURVE, through pyzmq's stock authenticator.

        ``secret_file`` is the server's ``.key_secret`` certificate; ``clients_dir`` holds the public
        certificates of allowed clients (None: any client that knows the server's public key).
        """
        from zmq.auth.asyncio import AsyncioAuthenticator
        from zmq.auth.certs import load_certificate

        if not zmq.has("curve"):
            raise ConfigError("this libzmq was built without CURVE support")
        try:
            public, secret = load_certificate(str(secret_file))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read CURVE certificate {secret_file}: {exc}") from exc
        if secret is None:
            raise ConfigError(f"{secret_file} holds no secret key; use the .key_secret file")
        self._auth = AsyncioAuthenticator(self._ctx)
        self._auth.start()
        if clients_dir is not None:
            if not Path(clients_dir).is_dir():
                raise ConfigError(f"curve_clients_dir {clients_dir} is not a folder")
            self._auth.configure_curve(domain="*", location=str(clients_dir))
        else:
            self._auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        self.sock.curve_secretkey = secret
        self.sock.curve_publickey = public
        self.sock.curve_server = True

    def bind(self, endpoint: str) -> str:
        if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
            base = endpoint[: -len(":0")]
            port = self.sock.bind_to_random_port(base)
            self.endpoint = f"{base}:{port}"
        else:
            self.sock.bind(endpoint)
            self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        return self.endpoint

    def send(self, identity: bytes, payload: bytes) -> None:
        try:
            self._tx.send_multipart((identity, payload), flags=zmq.NOBLOCK, copy=len(payload) < 65536)
            # The ZMQ_FD is edge-triggered: a send on the shadow socket can consume the edge that
            # announced incoming frames, and the async recv() would then wait forever. Re-check.
            self.sock._schedule_remaining_events()  # type: ignore[operator]
        except zmq.Again:
            raise PeerOverloaded() from None
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                raise PeerGone() from None
            raise

    async def serve(self, on_frame: FrameHandler) -> None:
        """Receive forever, calling ``on_frame(identity, payload)`` for every well-formed envelope."""
        sock = self.sock
        rx = self._tx
        while True:
            frames = await sock.recv_multipart()
            self._dispatch(frames, on_frame)
            # Drain what is already queued without going back through the event loop.
            for _ in range(1000):
                try:
                    frames = rx.recv_multipart(flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._dispatch(frames, on_frame)

    @staticmethod
    def _dispatch(frames: list[bytes], on_frame: FrameHandler) -> None:
        if len(frames) < 2:
            return
        identity = frames[0]
        # A DEALER sends one frame; a REQ-style client adds an empty delimiter. Take the last frame.
        payload = frames[-1]
        try:
            on_frame(identity, payload)
        except Exception:  # a bug in one handler must not take the whole server down
            log.exception("unhandled error while handling a frame")

    def close(self) -> None:
        self.sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
