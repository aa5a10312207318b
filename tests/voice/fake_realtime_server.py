"""A small server of the tests' own that speaks the OpenAI Realtime event protocol over a real
websocket on loopback (run as a subprocess: ``python fake_realtime_server.py SCRIPT LOG``).

It does not understand speech: it answers each ``response.create`` with the next reply of its
script (JSON): the reply's audio (s16le 24 kHz from a file, e.g. real Piper speech), its
transcript word by word, an optional function call, and, to test failures, a slow start
(``delay_s`` before the first audio) or a dropped connection (``drop``: ``before_audio`` or
``after_audio``). It checks what a real server checks (a commit needs audio, a truncation may not
pass the audio it sent, the event types it knows) and answers ``error`` otherwise. Every client
event is written to the LOG file as one JSON line (audio appends as their byte count), for the
tests to read, and so are each connection's opening (``__connect__``) and end (``__disconnect__``). Prints ``LISTENING <port>`` when it accepts connections.

Script: ``{"api": "ga"|"beta", "transcript": "what the player said", "delta_ms": 100,
"replies": [{"text": "...", "audio": "path.raw", "call": {"name": "...", "arguments": {...}},
"delay_s": 0, "drop": null}]}``; the last reply repeats when the script runs out.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

RATE = 24_000
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):04d}"


class Server:
    def __init__(self, script: dict[str, Any], log: Path) -> None:
        self.script = script
        self.api = script.get("api", "ga")
        self.replies: list[dict[str, Any]] = script["replies"]
        self.next_reply = 0  # across connections: a reconnect goes on with the script
        self.log = log.open("a", encoding="utf-8")

    def record(self, event: dict[str, Any]) -> None:
        self.log.write(json.dumps(event) + "\n")
        self.log.flush()

    def names(self) -> tuple[str, str]:
        if self.api == "beta":
            return "response.audio.delta", "response.audio_transcript.delta"
        return "response.output_audio.delta", "response.output_audio_transcript.delta"

    async def handle(self, ws: ServerConnection) -> None:
        request = ws.request
        headers = request.headers if request is not None else {}
        self.record(
            {
                "type": "__connect__",
                "path": request.path if request is not None else "",
                "authorized": str(headers.get("Authorization", "")).startswith("Bearer "),
                "beta": headers.get("OpenAI-Beta"),
            }
        )
        conn = Connection(self, ws)
        try:
            await conn.run()
        finally:
            self.record({"type": "__disconnect__"})  # the client closed the link (or it broke)


class Connection:
    def __init__(self, server: Server, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.session: dict[str, Any] = {}
        self.buffer = bytearray()
        self.audio_ms: dict[str, float] = {}  # assistant item id -> audio sent
        self.reply_task: asyncio.Task[None] | None = None
        self.response_id: str | None = None

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", new_id("event"))
        await self.ws.send(json.dumps(event))

    async def error(self, code: str, message: str, event_id: str | None = None) -> None:
        self.server.record({"type": "__error__", "code": code, "event_id": event_id})
        await self.send(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "event_id": event_id,
                },
            }
        )

    async def run(self) -> None:
        await self.send(
            {"type": "session.created", "session": {"id": new_id("sess"), "object": "realtime.session"}}
        )
        try:
            async for raw in self.ws:
                try:
                    event = json.loads(raw)
                except json.JSONDecodeError:
                    await self.error("invalid_json", "the frame is not JSON")
                    continue
                await self.on_event(event)
        except ConnectionClosed:
            pass
        finally:
            if self.reply_task is not None:
                self.reply_task.cancel()

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            pcm = base64.b64decode(event.get("audio", ""))
            self.buffer += pcm
            self.server.record({"type": kind, "bytes": len(pcm)})
            return
        self.server.record(event)
        if kind == "session.update":
            self.session.update(event.get("session") or {})
            await self.send({"type": "session.updated", "session": self.session})
        elif kind == "input_audio_buffer.clear":
            self.buffer.clear()
            await self.send({"type": "input_audio_buffer.cleared"})
        elif kind == "input_audio_buffer.commit":
            if len(self.buffer) < RATE // 10 * 2:  # as the real server: at least 100 ms of audio
                await self.error("input_audio_buffer_commit_empty", "buffer too small", event.get("event_id"))
                return
            item = new_id("item")
            ms = 1000.0 * len(self.buffer) / 2 / RATE
            self.server.record({"type": "__committed__", "item_id": item, "ms": ms})
            self.buffer.clear()
            await self.send(
                {"type": "input_audio_buffer.committed", "item_id": item, "previous_item_id": None}
            )
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item,
                    "content_index": 0,
                    "transcript": self.server.script.get("transcript", ""),
                }
            )
        elif kind == "conversation.item.create":
            item = dict(event.get("item") or {})
            item.setdefault("id", new_id("item"))
            await self.send({"type": "conversation.item.created", "item": item})
        elif kind == "response.create":
            if self.reply_task is not None and not self.reply_task.done():
                await self.error(
                    "conversation_already_has_active_response",
                    "a response is in progress",
                    event.get("event_id"),
                )
                return
            self.reply_task = asyncio.create_task(self.reply())
        elif kind == "response.cancel":
            if self.reply_task is None or self.reply_task.done():
                await self.error("response_cancel_not_active", "no active response", event.get("event_id"))
                return
            self.reply_task.cancel()
            await self.send(
                {
                    "type": "response.done",
                    "response": {"id": self.response_id, "status": "cancelled", "output": []},
                }
            )
        elif kind == "conversation.item.truncate":
            item, end = event.get("item_id"), event.get("audio_end_ms", -1)
            if item not in self.audio_ms:
                await self.error("item_not_found", f"no assistant item {item}", event.get("event_id"))
            elif not isinstance(end, int) or end < 0 or end > self.audio_ms[item] + 1:
                await self.error("invalid_value", "audio_end_ms is past the audio", event.get("event_id"))
            else:
                await self.send(
                    {
                        "type": "conversation.item.truncated",
                        "item_id": item,
                        "content_index": 0,
                        "audio_end_ms": end,
                    }
                )
        else:
            await self.error("invalid_event", f"unknown event type {kind!r}", event.get("event_id"))

    async def reply(self) -> None:
        server = self.server
        script = server.replies[min(server.next_reply, len(server.replies) - 1)]
        server.next_reply += 1
        rid = self.response_id = new_id("resp")
        item = new_id("item")
        audio_name, text_name = server.names()
        await self.send({"type": "response.created", "response": {"id": rid, "status": "in_progress"}})
        await asyncio.sleep(float(script.get("delay_s", 0)))  # a slow start
        await self.send(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": {"id": item, "type": "message", "role": "assistant"},
            }
        )
        words = [w + " " for w in script.get("text", "").split()]
        if words:
            words[-1] = words[-1].rstrip()
        pcm = Path(script["audio"]).read_bytes() if script.get("audio") else b""
        step = int(RATE * server.script.get("delta_ms", 100) / 1000) * 2
        pieces = [pcm[i : i + step] for i in range(0, len(pcm), step)]
        base = {"response_id": rid, "item_id": item, "output_index": 0, "content_index": 0}
        # The transcript runs a little ahead of the audio, as the real server's does.
        for word in words[:2]:
            await self.send({"type": text_name, **base, "delta": word})
        if script.get("drop") == "before_audio":
            await self.ws.close(1011, "dropped by the test script")
            return
        per_piece = max(1, -(-len(words[2:]) // max(1, len(pieces))))
        rest = iter(words[2:])
        self.audio_ms[item] = 0.0
        for n, piece in enumerate(pieces):
            await self.send({"type": audio_name, **base, "delta": base64.b64encode(piece).decode("ascii")})
            self.audio_ms[item] += 1000.0 * len(piece) / 2 / RATE
            for word in itertools.islice(rest, per_piece):
                await self.send({"type": text_name, **base, "delta": word})
            if script.get("drop") == "after_audio" and n == len(pieces) // 3:
                await self.ws.close(1011, "dropped by the test script")
                return
            await asyncio.sleep(0)
        for word in rest:
            await self.send({"type": text_name, **base, "delta": word})
        call = script.get("call")
        if call:
            call_id, call_item = new_id("call"), new_id("item")
            args = json.dumps(call.get("arguments", {}))
            await self.send(
                {
                    "type": "response.output_item.added",
                    "response_id": rid,
                    "output_index": 1,
                    "item": {
                        "id": call_item,
                        "type": "function_call",
                        "name": call["name"],
                        "call_id": call_id,
                    },
                }
            )
            await self.send(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": rid,
                    "item_id": call_item,
                    "output_index": 1,
                    "call_id": call_id,
                    "name": call["name"],
                    "arguments": args,
                }
            )
        await self.send(
            {"type": "response.done", "response": {"id": rid, "status": "completed", "output": []}}
        )


async def main(script_path: str, log_path: str) -> None:
    server = Server(json.loads(Path(script_path).read_text(encoding="utf-8")), Path(log_path))
    async with serve(server.handle, "127.0.0.1", 0, max_size=2**24) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await asyncio.Future()  # until the test terminates the process


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
