"""A small, real OpenAI-compatible HTTP server for tests, on 127.0.0.1 and a free port.

It speaks ``POST /v1/chat/completions`` with ``stream: true`` the way OpenAI, Ollama, llama.cpp's
server and vLLM do: HTTP/1.1, ``Content-Type: text/event-stream``, chunked transfer encoding,
one ``data: {chat.completion.chunk}\\n\\n`` event per delta and ``data: [DONE]\\n\\n`` at the end.
Each request takes the next scripted reply (text deltas, tool-call deltas, an HTTP error status,
or a stall) and is recorded, so tests can check the prompt and the tools that were sent.

It runs in its own thread (``http.server``), independent of the test's event loop, like a real
server would. Stalls wait on an event that :meth:`FakeOpenAIServer.close` sets: no sleeps.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAIServer", "HttpError", "Recorded", "Stall", "Stream", "text_reply", "tool_reply"]


@dataclass
class Stream:
    """A streamed reply: ``chunks`` are the ``delta`` objects; ``stall`` stops after them."""

    deltas: list[dict[str, Any]]
    finish_reason: str = "stop"
    stall: bool = False  # after the deltas, send nothing more until the server closes
    interval: float = 0.0  # seconds between deltas (a trickling server); a timed wait, not a sleep


@dataclass
class HttpError:
    status: int = 500
    message: str = "internal error (scripted)"


@dataclass
class Stall:
    """Accept the request and never answer (until the server closes)."""


Reply = Stream | HttpError | Stall


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)


def text_reply(*pieces: str, stall: bool = False) -> Stream:
    """A reply streamed as the given content deltas (the first delta also carries the role)."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": p} for p in pieces]
    return Stream(deltas, stall=stall)


def tool_reply(*pieces: str, calls: list[tuple[str, str]], split: int = 3) -> Stream:
    """Text deltas, then tool calls whose JSON arguments arrive in pieces of ``split`` characters."""
    stream = text_reply(*pieces)
    for index, (name, arguments) in enumerate(calls):
        first = {
            "index": index,
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        stream.deltas.append({"tool_calls": [first]})
        for i in range(0, len(arguments), split):
            part = arguments[i : i + split]
            stream.deltas.append({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    stream.finish_reason = "tool_calls"
    return stream


@dataclass
class _State:
    script: deque[Reply] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sockets: set[socket.socket] = field(default_factory=set)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def setup(self) -> None:
        super().setup()
        # Like real servers: without it, Nagle + delayed ACK hold each small SSE event ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.state.lock:
            self.server.state.sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.state.lock:
            self.server.state.sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        state = self.server.state
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        with state.lock:
            state.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = state.script.popleft() if state.script else HttpError(500, "no reply scripted")
        if isinstance(reply, HttpError):
            self._json(reply.status, {"error": {"message": reply.message, "type": "server_error"}})
        elif isinstance(reply, Stall):
            state.release.wait(timeout=60)
            self.close_connection = True
        elif body.get("stream") is False:  # a single-shot completion: the whole text at once
            text = "".join(str(d.get("content") or "") for d in reply.deltas)
            self._json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 0,
                    "model": str(body.get("model", "fake-model")),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                },
            )
        else:
            self._stream(reply, str(body.get("model", "fake-model")))

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Stream, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i, delta in enumerate(reply.deltas):
                if i and reply.interval and self.server.state.release.wait(reply.interval):
                    break  # the server is closing
                self._event(_chunk(model, delta, None))
            if reply.stall:
                self.server.state.release.wait(timeout=60)
                self.close_connection = True
                return
            self._event(_chunk(model, {}, reply.finish_reason))
            self._send(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client went away (time-out, cancellation)
            self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        self._send(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    state: _State

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up (a provider giving up at its time-out) is what several tests do on
        # purpose: not worth a traceback in the test output. Anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FakeOpenAIServer:
    """``with FakeOpenAIServer() as server: server.script(text_reply("Hi")); server.base_url``"""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[Recorded]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    def script(self, *replies: Reply) -> None:
        with self._server.state.lock:
            self._server.state.script.extend(replies)

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def close(self) -> None:
        state = self._server.state
        state.release.set()
        self._server.shutdown()
        with state.lock:
            for sock in list(state.sockets):  # idle keep-alive connections
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
