"""The OpenAI Realtime API over a websocket (``websockets``), and servers that speak it.

One websocket per voice conversation. The runtime keeps its own turn-taking (local VAD and
recogniser), so the session is configured without server VAD: the player's utterance is appended
as it is spoken (``input_audio_buffer.append``), then committed and answered
(``input_audio_buffer.commit``, ``response.create``) when the local turn detector says the turn
is over. Both event dialects are understood: the GA names (``response.output_audio.delta``...)
and the beta ones (``response.audio.delta``...); ``api`` chooses the shape of what is sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from ...errors import ConfigError, MissingDependencyError, ProviderError
from .base import (
    S2S_RATE,
    PlayerTranscript,
    ReplyAudio,
    ReplyCall,
    ReplyText,
    S2sEvent,
    S2sRequest,
    S2sSession,
)
from .config import S2sProfile

try:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed
except ImportError as exc:  # pragma: no cover - only without the package
    raise MissingDependencyError("websockets", "s2s") from exc

log = logging.getLogger(__name__)

_AUDIO_DELTA = ("response.output_audio.delta", "response.audio.delta")
_TEXT_DELTA = ("response.output_audio_transcript.delta", "response.audio_transcript.delta")
_CLOSED: dict[str, Any] = {"type": "__closed__"}
_MAX_FOLLOW_UPS = 1  # replies asked for after tool calls that came without speech
# Errors about these requests do not end a reply: a cancel that crossed the reply's end, a
# truncation or a clear the server could not apply (logged).
_MINOR = ("response.cancel", "conversation.item.truncate", "input_audio_buffer.clear")


def api_key_for(profile: S2sProfile, environ: dict[str, str] | None = None) -> str:
    """The profile's API key, or a ConfigError naming the variable (loopback servers need none)."""
    env = os.environ if environ is None else environ
    key = env.get(profile.api_key_env, "").strip()
    if key:
        return key
    host = urlsplit(profile.base_url).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1"):
        return "sk-local-no-key"
    raise ConfigError(
        f"speech-to-speech at {profile.base_url} needs an API key: set the environment variable "
        f"{profile.api_key_env} (or point the profile's api_key_env at the variable that holds it)"
    )


class OpenAiRealtime(S2sSession):
    name: ClassVar[str] = "openai-realtime"

    def __init__(self, profile: S2sProfile, api_key: str) -> None:
        super().__init__(connect_timeout=profile.connect_timeout_s, total_timeout=profile.total_timeout_s)
        self.profile = profile
        self._key = api_key
        self._ws: ClientConnection | None = None
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._response: str | None = None  # id of the response in flight
        self._sent: dict[str, str] = {}  # event id -> type, of recent minor requests
        self._next_id = 0
        self.player_transcripts: list[str] = []  # the server's transcripts of the player

    @property
    def url(self) -> str:
        return f"{self.profile.base_url}/realtime?model={quote(self.profile.model)}"

    # -- link ------------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        headers = {"Authorization": f"Bearer {self._key}"}
        if self.profile.api == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        ws = await connect(self.url, additional_headers=headers, max_size=2**24, open_timeout=None)
        self._ws = ws
        self._events = asyncio.Queue()
        self._out = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._read(ws), name="realtime-read"),
            asyncio.create_task(self._write(ws), name="realtime-write"),
        ]
        self._send({"type": "session.update", "session": self._session({})})

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    event = json.loads(raw)
                except (json.JSONDecodeError, TypeError):
                    log.warning("realtime: ignored a frame that is not JSON")
                    continue
                if isinstance(event, dict):
                    self._events.put_nowait(event)
        except ConnectionClosed:
            pass
        finally:
            self.connected = False
            self._events.put_nowait(_CLOSED)

    async def _write(self, ws: ClientConnection) -> None:
        try:
            while (text := await self._out.get()) is not None:
                await ws.send(text)
        except ConnectionClosed:
            self.connected = False
            self._events.put_nowait(_CLOSED)

    def _send(self, event: dict[str, Any]) -> None:
        if event["type"] in _MINOR:
            self._next_id += 1
            event = {"event_id": f"npc_{self._next_id}", **event}
            self._sent[event["event_id"]] = event["type"]
            if len(self._sent) > 64:
                self._sent.pop(next(iter(self._sent)))
        self._out.put_nowait(json.dumps(event))

    def _append(self, pcm: bytes) -> None:
        self._send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")})

    def _clear(self) -> None:
        self._send({"type": "input_audio_buffer.clear"})

    def _commit(self) -> None:
        self._send({"type": "input_audio_buffer.commit"})

    async def _cancel_reply(self) -> bool:
        if self._response is not None:
            self._send({"type": "response.cancel", "response_id": self._response})
            self._response = None
        return self.connected

    async def _truncate(self, item_id: str, audio_end_ms: int) -> None:
        self._send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": audio_end_ms,
            }
        )

    async def _close(self) -> None:
        ws, self._ws = self._ws, None
        self._out.put_nowait(None)  # the writer sends what is queued (a cancel), then stops
        tasks, self._tasks = self._tasks, []
        self._response = None
        try:
            if ws is not None and len(tasks) > 1:
                await asyncio.wait(tasks[1:], timeout=1.0)
            for task in tasks:
                task.cancel()
            if ws is not None:
                await ws.close()  # the closing handshake (waits for the server's reply)
        except BaseException:
            # Cut short (the caller was cancelled, or the close failed): nothing else holds the
            # link now, so end it at once rather than leave its socket open.
            for task in tasks:
                task.cancel()
            if ws is not None:
                ws.transport.abort()
            raise

    # -- session shape -----------------------------------------------------------------------------------
    def _session(self, turn: dict[str, Any]) -> dict[str, Any]:
        p = self.profile
        if p.api == "beta":
            session: dict[str, Any] = {
                "modalities": ["audio", "text"],
                "voice": p.voice,
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "turn_detection": None,
                "input_audio_transcription": {"model": p.transcription_model}
                if p.transcription_model
                else None,
            }
            if p.temperature is not None:
                session["temperature"] = p.temperature
        else:
            fmt = {"type": "audio/pcm", "rate": S2S_RATE}
            session = {
                "type": "realtime",
                "model": p.model,
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": fmt,
                        "turn_detection": None,
                        "transcription": {"model": p.transcription_model} if p.transcription_model else None,
                    },
                    "output": {"format": fmt, "voice": p.voice},
                },
            }
        session.update(turn)
        return session

    def _history_item(self, role: str, text: str) -> dict[str, Any]:
        kind = "input_text" if role == "user" else ("output_text" if self.profile.api == "ga" else "text")
        return {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": role, "content": [{"type": kind, "text": text}]},
        }

    # -- one reply -----------------------------------------------------------------------------------------
    async def _next(self) -> dict[str, Any]:
        while True:
            event = await self._events.get()
            if event is _CLOSED:
                self._events.put_nowait(_CLOSED)  # every later read sees it too
                raise ProviderError(self.name, "the server closed the connection")
            if event.get("type") != "error":
                return event
            err = event.get("error") or {}
            what = f"server error {err.get('code') or err.get('type')}: {err.get('message')}"
            about = self._sent.get(str(err.get("event_id")))
            if about is None:
                raise ProviderError(self.name, what)
            log.info("realtime: %s (about %s); going on", what, about)

    async def _reply(self, request: S2sRequest) -> AsyncIterator[S2sEvent]:
        while not self._events.empty():  # events of replies cut short earlier
            stale = self._events.get_nowait()
            if stale is _CLOSED:
                raise ProviderError(self.name, "the server closed the connection")
        if self.fresh:  # a new link: the server has not heard the conversation so far
            for role, text in request.history:
                self._send(self._history_item(role, text))
        self._send(
            {
                "type": "session.update",
                "session": self._session(
                    {"instructions": request.instructions, "tools": request.tools, "tool_choice": "auto"}
                ),
            }
        )
        follow_ups = 0
        while True:
            self._send({"type": "response.create"})
            calls: list[ReplyCall] = []
            spoke = False
            async for event in self._one_response():
                spoke = spoke or isinstance(event, ReplyAudio)
                if isinstance(event, ReplyCall):
                    calls.append(event)
                yield event
            for call in calls:  # the runtime checks and applies the action; the model is told so
                self._send(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "function_call_output",
                            "call_id": call.call_id,
                            "output": json.dumps({"submitted": True}),
                        },
                    }
                )
            if spoke or not calls or follow_ups >= _MAX_FOLLOW_UPS:
                return
            follow_ups += 1  # it only called a tool: ask it to say its line too

    async def _one_response(self) -> AsyncIterator[S2sEvent]:
        response: str | None = None
        while True:
            event = await self._next()
            kind = event.get("type", "")
            if kind == "response.created":
                if response is None:
                    response = self._response = str((event.get("response") or {}).get("id", ""))
                continue
            if kind == "conversation.item.input_audio_transcription.completed":
                text = str(event.get("transcript", "")).strip()
                self.player_transcripts.append(text)
                yield PlayerTranscript(text)
                continue
            if response is None or event.get("response_id", response) != response:
                continue  # not ours (yet)
            if kind in _AUDIO_DELTA:
                yield ReplyAudio(base64.b64decode(event.get("delta", "")), str(event.get("item_id", "")))
            elif kind in _TEXT_DELTA:
                yield ReplyText(str(event.get("delta", "")), str(event.get("item_id", "")))
            elif kind == "response.function_call_arguments.done":
                yield ReplyCall(
                    str(event.get("name", "")), str(event.get("arguments", "")), str(event.get("call_id", ""))
                )
            elif kind == "response.done":
                body = event.get("response") or {}
                if body.get("id", response) != response:
                    continue
                self._response = None
                if body.get("status") == "failed":
                    detail = (body.get("status_details") or {}).get("error") or {}
                    raise ProviderError(
                        self.name, f"the reply failed: {detail.get('message', 'no reason given')}"
                    )
                return
