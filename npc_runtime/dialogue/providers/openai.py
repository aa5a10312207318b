"""The ``openai`` dialogue provider: any OpenAI-compatible chat endpoint, streamed token by token.

Works with OpenAI itself and with local servers that speak the same API: Ollama
(``http://127.0.0.1:11434/v1``), llama.cpp's ``llama-server``, vLLM, LM Studio. See docs/llm.md.

One turn: :func:`~npc_runtime.dialogue.prompt.build_prompt` turns the :class:`DialogueContext` into
chat messages; the allowed actions go out as tools (function calling), or, with
``actions = "text"`` for servers without tool support, as an instruction to end the reply with a
line ``[action name {json}]`` that is parsed out of the stream here. The reply streams back through
:class:`~npc_runtime.dialogue.hygiene.SpokenFilter`. The provider yields ``SourceTag("llm")`` with
the first piece of the reply, then the text pieces, then the action proposals (the runtime checks
them against the persona and the world before anything happens).

Every failure (time-out, HTTP error status, connection refused, a malformed stream, an empty
reply) becomes a :class:`~npc_runtime.errors.ProviderError` (``timeout=True`` for time-outs), so
the conversation answers with an authored fallback line and warns the client.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import Choice
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...errors import ConfigError, ProviderError
from ..base import (
    DEFAULT_REPLY_BUDGET,
    ActionProposal,
    DialogueChunk,
    DialogueProvider,
    SourceTag,
    TextPiece,
)
from ..context import DialogueContext
from ..hygiene import SpokenFilter
from ..prompt import Prompt, PromptSettings, action_tools, allowed_actions, build_prompt

__all__ = ["ActionLineParser", "OpenAIProvider", "OpenAISettings"]

log = logging.getLogger(__name__)

LOCAL_DUMMY_KEY = "sk-local-no-key"
_ACTION_BODY = re.compile(r"action\s+([a-z][a-z0-9_]*)\s*(\{.*\})?\s*", re.DOTALL)
_MAX_ACTION_LINE = 600


class OpenAISettings(BaseModel):
    """The ``dialogue`` settings section for ``provider = "openai"``."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai"] = "openai"
    base_url: str | None = Field(
        default=None, description="e.g. http://127.0.0.1:11434/v1 for Ollama; empty: api.openai.com"
    )
    model: str = Field(min_length=1, description="Model name as the server knows it")
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the API key (optional for loopback servers)",
    )
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(
        default=160, ge=1, le=8192, description="Reply token limit; null: not sent"
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds for the whole reply")
    first_token_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to the first token, and the longest pause between tokens"
    )
    connect_timeout: float = Field(default=3.0, gt=0)
    reply_budget: float = Field(
        default=DEFAULT_REPLY_BUDGET,
        gt=0,
        description="Seconds from the turn's start to the NPC's first words; then an authored fallback",
    )
    max_retries: int = Field(
        default=0, ge=0, le=5, description="Retries of a failed request (each adds latency)"
    )
    actions: Literal["tools", "text", "none"] = Field(
        default="tools",
        description="How actions reach the model: function calling, a reply line, or not at all",
    )
    prompt_tokens: int = Field(
        default=1500, ge=200, description="Token budget of the prompt (chars/4 estimate)"
    )
    history: int = Field(default=12, ge=0, description="Most recent history entries put in the prompt")
    reply_sentences: int = Field(default=3, ge=1, le=10)
    stop: list[str] = Field(
        default_factory=list, max_length=4, description='Stop sequences, e.g. ["\\nPlayer:"]'
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields the server understands, e.g. top_k"
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"base_url must be an http(s) URL such as http://127.0.0.1:11434/v1, got {value!r}"
            )
        return value.rstrip("/")

    @property
    def is_local(self) -> bool:
        host = urlsplit(self.base_url).hostname if self.base_url else None
        if host is None:
            return False
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


@dataclass
class _ToolCall:
    name: str = ""
    arguments: str = ""


@dataclass
class ActionLineParser:
    """Removes ``[action name {json}]`` lines from a text stream and collects them (streaming-safe).

    ``feed`` returns the text to pass on; a ``[`` is held back until it is known whether it opens an
    action line. Brackets inside JSON strings are handled; an unclosed line longer than
    ``_MAX_ACTION_LINE`` characters is released as text.
    """

    proposals: list[ActionProposal] = field(default_factory=list)
    _buf: str = ""

    def feed(self, text: str) -> str:
        self._buf += text
        out: list[str] = []
        while self._buf:
            start = self._buf.find("[")
            if start < 0:
                out.append(self._buf)
                self._buf = ""
                break
            out.append(self._buf[:start])
            self._buf = self._buf[start:]
            head = self._buf[1:].lstrip()[:6]
            if not "action".startswith(head) and not head.startswith("action"):
                out.append("[")  # some other bracket: hygiene decides what to do with it
                self._buf = self._buf[1:]
                continue
            end = _matching_bracket(self._buf)
            if end is None:
                if len(self._buf) > _MAX_ACTION_LINE:
                    out.append(self._buf[0])
                    self._buf = self._buf[1:]
                    continue
                break  # wait for more
            self._parse(self._buf[1:end])
            self._buf = self._buf[end + 1 :]
        return "".join(out)

    def finish(self) -> str:
        rest, self._buf = self._buf, ""
        return "" if rest.lstrip("[ ").startswith("action") else rest

    def _parse(self, body: str) -> None:
        m = _ACTION_BODY.fullmatch(body.strip())
        if m is None:
            log.debug("ignored a malformed action line")
            return
        args: Any = {}
        if m.group(2):
            try:
                args = json.loads(m.group(2))
            except json.JSONDecodeError:
                log.debug("ignored action %s: its arguments are not JSON", m.group(1))
                return
        if not isinstance(args, dict):
            log.debug("ignored action %s: its arguments are not an object", m.group(1))
            return
        self.proposals.append(ActionProposal(m.group(1), args))


def _matching_bracket(text: str) -> int | None:
    """Index of the ``]`` closing the ``[`` at text[0], skipping JSON strings; None if not yet."""
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _tool_proposals(calls: dict[int, _ToolCall]) -> list[ActionProposal]:
    out: list[ActionProposal] = []
    for index in sorted(calls):
        call = calls[index]
        if not call.name:
            continue
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError:
            log.debug("ignored tool call %s: its arguments are not JSON", call.name)
            continue
        if not isinstance(args, dict):
            log.debug("ignored tool call %s: its arguments are not an object", call.name)
            continue
        out.append(ActionProposal(call.name, args))
    return out


class _Reply:
    """Turns the deltas of one streamed reply into chunks: text through hygiene, then actions."""

    def __init__(self, ctx: DialogueContext, mode: str) -> None:
        persona = ctx.persona
        player = str(ctx.extra.get("player_name") or ctx.player_id)
        self.mode = mode
        self.spoken = SpokenFilter(
            speaker_names=[persona.name, persona.id, "npc", "assistant"],
            other_speakers=["player", "user", "you", player, *ctx.others],
        )
        self.lines = ActionLineParser() if mode == "text" else None
        self.calls: dict[int, _ToolCall] = {}
        self.started = self.said = self.empty = False
        self.persona_id = persona.id

    @property
    def stopped(self) -> bool:
        return self.spoken.stopped

    def use_action_lines(self) -> None:
        self.mode = "text"
        self.lines = ActionLineParser()

    def feed(self, choice: Choice) -> list[DialogueChunk]:
        delta = choice.delta
        for tc in delta.tool_calls or ():
            call = self.calls.setdefault(tc.index if tc.index is not None else len(self.calls), _ToolCall())
            if tc.function is not None:
                call.name += tc.function.name or ""
                call.arguments += tc.function.arguments or ""
        if choice.finish_reason == "length":
            log.info("the reply of %s hit max_tokens", self.persona_id)
        text = delta.content or ""
        if self.lines is not None:
            text = self.lines.feed(text)
        return self._text(self.spoken.feed(text))

    def finish(self) -> list[DialogueChunk]:
        """The rest: held text, then the proposals. Sets :attr:`empty` when there was nothing to say or do."""
        rest = self.lines.finish() if self.lines is not None else ""
        out = self._text(self.spoken.feed(rest) + self.spoken.finish())
        proposals = [*(self.lines.proposals if self.lines is not None else []), *_tool_proposals(self.calls)]
        if not self.said and not proposals:
            self.empty = True
            return []
        if not self.started:
            out.append(SourceTag("llm"))
        return [*out, *proposals]

    def _text(self, text: str) -> list[DialogueChunk]:
        if not text:
            return []
        out: list[DialogueChunk] = []
        if not self.started:
            self.started = True
            out.append(SourceTag("llm"))
        self.said = True
        out.append(TextPiece(text))
        return out


class OpenAIProvider(DialogueProvider):
    name: ClassVar[str] = "openai"

    def __init__(self, settings: OpenAISettings, *, api_key: str) -> None:
        super().__init__(
            first_chunk_timeout=settings.first_token_timeout,
            total_timeout=settings.timeout,
            reply_budget=settings.reply_budget,
        )
        self.settings = settings
        self._api_key = api_key
        # Made now, not on the first turn: building the client (TLS context, lazy imports) takes
        # ~60-120 ms that the first player would otherwise wait through.
        self._client: openai.AsyncOpenAI | None = self._make_client()
        self.last_prompt: Prompt | None = None  # for metrics and debugging
        # "tools" turns into "text" for good when the server says it does not support tools.
        self.actions_mode: str = settings.actions

    @classmethod
    def from_settings(cls, d: dict[str, Any], environ: dict[str, str] | None = None) -> OpenAIProvider:
        """Validate the ``dialogue`` settings section; raise ConfigError naming every problem."""
        try:
            settings = OpenAISettings.model_validate(d)
        except ValidationError as exc:
            lines = [
                f"dialogue.{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConfigError("invalid openai dialogue settings:\n  " + "\n  ".join(lines)) from None
        env = os.environ if environ is None else environ
        key = env.get(settings.api_key_env, "").strip()
        if not key:
            if not settings.is_local:
                where = settings.base_url or "api.openai.com"
                raise ConfigError(
                    f"the openai dialogue provider needs an API key for {where}: set the environment variable "
                    f"{settings.api_key_env} (or point dialogue.api_key_env at the variable that holds it)"
                )
            key = LOCAL_DUMMY_KEY  # local servers ignore the key, but the client wants one
        return cls(settings, api_key=key)

    def _make_client(self) -> openai.AsyncOpenAI:
        s = self.settings
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=s.base_url,
            max_retries=s.max_retries,
            timeout=openai.Timeout(s.timeout, connect=s.connect_timeout, read=s.first_token_timeout),
        )
        _ = client.chat.completions  # resolve the lazily imported resources now
        return client

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    def _request(self, ctx: DialogueContext, mode: str) -> dict[str, Any]:
        s = self.settings
        actions = allowed_actions(ctx) if mode != "none" else []
        tools = action_tools(actions) if mode == "tools" and actions else None
        prompt = build_prompt(
            ctx,
            PromptSettings(
                max_prompt_tokens=s.prompt_tokens, max_history=s.history, reply_sentences=s.reply_sentences
            ),
            text_actions=mode == "text",
            tools=tools,
        )
        self.last_prompt = prompt
        if prompt.dropped:
            log.debug("prompt for %s over budget; dropped %s", ctx.persona.id, prompt.dropped)
        request: dict[str, Any] = {
            "model": s.model,
            "messages": prompt.messages,
            "stream": True,
            "temperature": s.temperature,
        }
        if s.max_tokens is not None:
            request["max_tokens"] = s.max_tokens
        if s.stop:
            request["stop"] = s.stop
        if tools:
            request["tools"] = tools
            request["tool_choice"] = "auto"
        if s.extra_body:
            request["extra_body"] = s.extra_body
        return request

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        reply = _Reply(ctx, self.actions_mode)
        try:
            stream = await self._open(ctx, reply)
            async with stream:
                async for chunk in stream:
                    if not chunk.choices:
                        continue
                    for piece in reply.feed(chunk.choices[0]):
                        yield piece
                    if reply.stopped:
                        log.debug("the model began another speaker's line; reply cut there")
                        break
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        pieces = reply.finish()
        if reply.empty:
            raise ProviderError(self.name, f"{self.settings.model} returned no speakable text")
        for piece in pieces:
            yield piece

    async def _open(self, ctx: DialogueContext, reply: _Reply) -> openai.AsyncStream[ChatCompletionChunk]:
        """Send the request; if the server rejects tools, resend with action lines (and remember)."""
        request = self._request(ctx, reply.mode)
        try:
            return await self._get_client().chat.completions.create(**request)
        except openai.APIStatusError as exc:
            if "tools" not in request or not _rejects_tools(exc):
                raise
            log.warning(
                "%s rejected tools (HTTP %s); using [action ...] reply lines from now on",
                self._where(),
                exc.status_code,
            )
            self.actions_mode = "text"
            reply.use_action_lines()
            return await self._get_client().chat.completions.create(**self._request(ctx, "text"))

    async def _complete(self, prompt: str, max_tokens: int) -> str:
        """One non-streamed chat completion of ``prompt`` (memory reflection)."""
        s = self.settings
        try:
            result = await self._get_client().chat.completions.create(
                model=s.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=min(s.temperature, 0.5),
                max_tokens=max_tokens,
                stream=False,
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        if not result.choices:
            raise ProviderError(self.name, f"{s.model} returned no choices")
        return result.choices[0].message.content or ""

    def _error(self, exc: openai.OpenAIError) -> ProviderError:
        where = self._where()
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(self.name, f"{where} timed out", timeout=True)
        if isinstance(exc, openai.APIStatusError):
            return ProviderError(self.name, f"{where} answered HTTP {exc.status_code}: {_short(exc)}")
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(self.name, f"cannot reach {where} ({_short(exc)}); is the server running?")
        return ProviderError(self.name, f"{type(exc).__name__}: {_short(exc)}")

    def _where(self) -> str:
        return self.settings.base_url or "api.openai.com"


def _rejects_tools(exc: openai.APIStatusError) -> bool:
    """Does this error say the server or model cannot do function calling?"""
    return exc.status_code in (400, 404, 422, 500, 501) and "tool" in str(exc).lower()


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
