"""A pyzmq (libzmq) CURVE server for the C# client's CURVE tests: a ROUTER that echoes every
message back to its sender, with libzmq heartbeats on (so PING/PONG run inside the encryption).

    python tests/bindings/curve_peer.py KEYDIR

Writes KEYDIR/server.key and KEYDIR/server.key_secret, and two client certificates (allowed.key /
allowed.key_secret: in KEYDIR/clients, accepted; stranger.key / stranger.key_secret: refused, so
ZAP authentication is exercised), then prints ``listening on ENDPOINT`` and serves until stdin closes.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator


def _wait_for_stdin_eof(stop: threading.Event) -> None:
    sys.stdin.read()
    stop.set()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    keys = Path(argv[0])
    clients = keys / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    _, server_secret = zmq.auth.create_certificates(keys, "server")
    allowed_public, _ = zmq.auth.create_certificates(keys, "allowed")
    zmq.auth.create_certificates(keys, "stranger")
    (clients / "allowed.key").write_bytes(Path(allowed_public).read_bytes())
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_curve(domain="*", location=str(clients))
    sock = ctx.socket(zmq.ROUTER)
    public, secret = zmq.auth.load_certificate(server_secret)
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    sock.setsockopt(zmq.HEARTBEAT_IVL, 100)  # PING every 100 ms, inside the CURVE session
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
    sock.bind("tcp://127.0.0.1:*")
    print(f"listening on {sock.getsockopt_string(zmq.LAST_ENDPOINT)}", flush=True)
    stop = threading.Event()
    threading.Thread(target=_wait_for_stdin_eof, args=(stop,), daemon=True).start()
    while not stop.is_set():
        if sock.poll(100):
            frames = sock.recv_multipart()
            sock.send_multipart(frames)  # routing id + the message, echoed
    sock.close(0)
    auth.stop()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
