"""The runtime's ZeroMQ ROUTER socket.

Each game client is a DEALER; a client frame arrives here as ``[routing id, payload]``. The loop
drains every frame that is ready before awaiting again, and replies are sent without blocking, so
one slow or vanished client never stalls the others. ``ROUTER_MANDATORY`` makes a send to a client
that is gone fail at once (and the runtime frees its conversations); libzmq heartbeats detect dead
TCP peers underneath the protocol-level ``ping``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
import zmq.auth

from ..errors import ConfigError

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes, bytes], None]
DRAIN_BATCH = 500  # frames handled per wake-up before yielding to other tasks
MIN_FRAME_CAP = 16 << 20


def frame_cap(max_message_bytes: int) -> int:
    """The size at which libzmq drops a client's connection instead of receiving the frame.

    Frames between ``max_message_bytes`` and this cap are received and answered with a typed
    ``message_too_large`` error (a client that sends too much audio at once learns why); bigger
    frames never reach the runtime's memory: libzmq closes the connection as soon as the frame's
    header announces the size (``ZMQ_MAXMSGSIZE``)."""
    return max(4 * max_message_bytes, MIN_FRAME_CAP)


def bind_error(endpoint: str, exc: zmq.ZMQError) -> str:
    """What went wrong binding ``endpoint``, and what to do about it, in one line."""
    if exc.errno == zmq.EADDRINUSE:
        fix = "another program (another npc-runtime?) listens there: stop it, or choose another port with --bind"
    elif exc.errno in (errno.ENODEV, errno.EADDRNOTAVAIL):
        fix = (
            "no network interface of this machine has that address: use tcp://127.0.0.1:PORT, "
            "tcp://[::1]:PORT, or an address `ip addr` lists"
        )
    elif exc.errno == errno.EACCES:
        fix = "ports below 1024 need privileges: choose a port above 1024"
    else:
        fix = "check the address (tcp://HOST:PORT, ipc://PATH)"
    return f"cannot bind {endpoint}: {os.strerror(exc.errno or 0)}; {fix}"


class PeerGone(Exception):
    """The client's connection is gone (routing id unknown to the ROUTER)."""


class PeerOverloaded(Exception):
    """The client's send queue is full (it stopped reading)."""


class RouterServer:
    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        *,
        sndhwm: int = 100_000,
        heartbeat_ms: int = 2000,
        max_frame_bytes: int = MIN_FRAME_CAP,
    ) -> None:
        self._ctx = ctx
        self._auth: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_frame: FrameHandler | None = None
        self._drain_scheduled = False
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.SNDHWM, sndhwm)
        self.sock.setsockopt(zmq.RCVHWM, sndhwm)
        self.sock.setsockopt(zmq.HEARTBEAT_IVL, heartbeat_ms)
        self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, heartbeat_ms * 3)
        self.sock.setsockopt(zmq.HEARTBEAT_TTL, heartbeat_ms * 3)
        # A frame over this size disconnects its sender before it is buffered (see frame_cap).
        self.sock.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes)
        self.sock.setsockopt(zmq.IPV6, 1)  # tcp://[::1]:7600 binds; IPv4 addresses still work
        # All I/O goes through a plain (sync) shadow of the socket, never blocking, on the loop's
        # thread; the event loop only watches the socket's FD (see serve()).
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
        """Bind, or raise a ConfigError of one line naming the address and the fix."""
        try:
            if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
                base = endpoint[: -len(":0")]
                port = self.sock.bind_to_random_port(base)
                self.endpoint = f"{base}:{port}"
            else:
                self.sock.bind(endpoint)
                self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        except zmq.ZMQError as exc:
            raise ConfigError(bind_error(endpoint, exc)) from None
        return self.endpoint

    def send(self, identity: bytes, payload: bytes) -> None:
        try:
            self._tx.send_multipart((identity, payload), flags=zmq.NOBLOCK, copy=len(payload) < 65536)
        except zmq.Again:
            raise PeerOverloaded() from None
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EHOSTUNREACH:
                raise PeerGone() from None
            raise
        finally:
            # ZMQ_FD is edge-triggered, and any socket operation may consume the edge that
            # announced incoming frames: after sending, look at ZMQ_EVENTS and drain if needed.
            if self._loop is not None and int(self._tx.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                self._schedule_drain()

    async def serve(self, on_frame: FrameHandler) -> None:
        """Receive until cancelled, calling ``on_frame(identity, payload)`` for every envelope.

        The socket's FD is watched by the event loop; each wake-up drains every ready frame (up to
        a batch, then yields to the loop) until EAGAIN, which re-arms the edge-triggered FD.
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._on_frame = on_frame
        fd = int(self._tx.getsockopt(zmq.FD))
        loop.add_reader(fd, self._schedule_drain)
        self._schedule_drain()
        try:
            await loop.create_future()  # until cancelled
        finally:
            loop.remove_reader(fd)
            self._loop = None

    def input_pending(self) -> bool:
        """Frames that arrived and are not read yet. Reading ``ZMQ_EVENTS`` may consume the FD's
        edge, so a drain is scheduled when there are."""
        if self._drain_scheduled:
            return True
        if self._loop is not None and int(self._tx.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            self._schedule_drain()
            return True
        return False

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        on_frame = self._on_frame
        if on_frame is None:
            return
        for _ in range(DRAIN_BATCH):
            try:
                frames = self._tx.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:  # socket closed during shutdown
                return
            self._dispatch(frames, on_frame)
        self._schedule_drain()  # more may be waiting: let other tasks run first

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
