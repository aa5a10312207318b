"""The ``local`` provider's model in a process of its own (the default, ``own_process = true``).

Why a process: llama.cpp holds Python's GIL while it loads a model (about 6 s for the default model
on 2 cores), and in the runtime's process every streamed token runs Python on the runtime's GIL.
In a child process the runtime's event loop, and a game that embeds the runtime, never wait for
the model, and a crash of the model costs the turn that was running (the provider's fallback
answers it) instead of the runtime: the next turn starts the model again.

The child is xllamacpp's embedded llama.cpp server, the same engine as in-process, reached over
loopback HTTP (its OpenAI-style streaming chat endpoint, which takes llama.cpp's own fields:
``id_slot``, ``cache_prompt``, ``grammar``) and locked with a random key that only the runtime knows
(handed over on the child's stdin, never on its command line). The child exits when its stdin
closes, so it never outlives the runtime, even one killed with SIGKILL.

Run as ``python -m npc_runtime.dialogue.providers.local_process`` by :class:`ProcessEngine` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...errors import ProviderError
from .local_engine import ChunkReader, EngineBase, Generation, LocalSettings, server_params

__all__ = ["ProcessEngine"]

log = logging.getLogger(__name__)

READY = "npc-llm-ready "  # the child's one line on its handshake pipe: READY + {"address": ...}


class ProcessEngine(EngineBase):
    """One model served by a child process; thread-safe. Construction blocks until the model is
    loaded (call it from a worker thread: the wait holds no lock)."""

    def __init__(self, settings: LocalSettings, path: Path) -> None:
        super().__init__(settings, path)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # the handshake only: the child sends llama.cpp's own output to stderr
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # An engine dropped without close() still ends its child, and reaps it.
        self._finalizer = weakref.finalize(self, _end, self.proc)
        order = {"settings": settings.model_dump(), "path": str(path), "key": self._key}
        try:
            self.proc.stdin.write(json.dumps(order).encode() + b"\n")
            self.proc.stdin.flush()  # stdin stays open: the child lives while it is
            line = self.proc.stdout.readline().decode(errors="replace")
        except OSError as exc:
            self.proc.stdout.close()
            self.close()
            raise ProviderError("local", f"the model's process could not start: {exc}") from exc
        self.proc.stdout.close()
        if not line.startswith(READY):
            self.close()
            raise ProviderError(
                "local",
                f"the model's process exited while loading {path.name} "
                f"(exit code {self.proc.returncode}; its stderr says why)",
            )
        self.address = str(json.loads(line[len(READY) :])["address"])
        url = urlsplit(self.address)
        self._host, self._port = url.hostname or "127.0.0.1", int(url.port or 80)
        log.info("model %s serving in process %d at %s", path.name, self.proc.pid, self.address)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _failure(self, exc: Exception) -> str:
        """What broke a request: the model's process dying (its sockets close a moment before its
        exit status exists, so wait that moment) or the connection itself."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1.0)
        code = self.proc.poll()
        if code is not None:
            return f"the model's process is gone (exit code {code})"
        return f"{type(exc).__name__}: {exc}"

    def chat(self, request: dict[str, Any], gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        reader = ChunkReader(gen, loop)
        body = json.dumps({**request, "stream": True}).encode()
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.settings.timeout)
        gen.connection = conn
        try:
            if gen.stop.is_set():
                return
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=body,
                headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            if resp.status != 200:
                reader.put("error", f"HTTP {resp.status}: {resp.read(2000).decode(errors='replace')}")
                return
            for raw in resp:  # server-sent events: "data: {chunk}" lines, then "data: [DONE]"
                line = raw.strip()
                if line.startswith(b"data: "):
                    payload = line[6:]
                    if payload == b"[DONE]" or reader(json.loads(payload)):
                        break
                elif line.startswith(b"error: "):
                    reader.put("error", json.loads(line[7:]))
                    break
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if not gen.stop.is_set():  # a cancelled request ends with its socket shut: not an error
                reader.put("error", self._failure(exc))
        finally:
            gen.connection = None
            conn.close()  # llama.cpp stops generating for a closed connection
            reader.put("end", None)

    def cancel(self, gen: Generation) -> None:
        """Shut the request's socket: its worker thread returns at once instead of at the next token."""
        conn = gen.connection
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """End the child (closing its stdin ends it; SIGKILL after 5 s)."""
        self._finalizer()


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _child() -> int:
    """The model's process: read the order, load the model, say where it listens, live until stdin
    closes."""
    handshake = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # llama.cpp may print to stdout: send it to stderr, keep stdout for the handshake
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the terminal stops the runtime, which ends us
    order = json.loads(sys.stdin.buffer.readline() or b"{}")
    if not order:
        return 2
    import xllamacpp as xlc

    settings = LocalSettings.model_validate(order["settings"])
    server = xlc.Server(server_params(settings, Path(order["path"]), order["key"]))
    handshake.write(READY + json.dumps({"address": str(server.listening_address)}) + "\n")
    handshake.close()
    while sys.stdin.buffer.read(65536):  # nothing more is sent; EOF: the runtime closed us or died
        pass
    os._exit(0)  # llama.cpp's server threads are not joined: nothing of ours is left to flush


if __name__ == "__main__":
    sys.exit(_child())
