"""A voice conversation's speech-to-speech path, as the runtime's own turns.

The local pipeline still hears the player (VAD, turn-taking, recogniser, barge-in): its final
transcript is the player's line in the turn's context, memory and history, as in the cascade.
:class:`S2sTurns` also streams each utterance to the model as it is spoken (it is the voice
conversation's ``tap``), and answers a turn through :class:`S2sDialogue`, a dialogue provider the
voice extension hands the host for that one turn (``run_turn(..., reply_with=...)``). So the
model's reply goes the runtime's way: its transcript is the turn's text (``npc_text_delta``,
``npc_text_final``, the ``TurnRecord`` memory keeps), its tool calls are the turn's action
proposals (checked against the persona and the world's rules like any other), and its audio goes
out as ``npc_audio`` on the turn's reply (see :mod:`.output`).

No audio from the model within ``budget_s`` of the end of the player's speech (a slow start, a
failed connection, a link dropped before it spoke): a typed warning, and the cascade answers the
same turn. A link lost after the NPC began to speak ends the turn with what was said (and a
warning); the next turn reconnects.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import numpy as np

from ...clock import Clock
from ...dialogue.base import ActionProposal, DialogueChunk, DialogueProvider, SourceTag, TextPiece
from ...dialogue.context import DialogueContext
from ...dialogue.prompt import INSTRUCTION_MARK, action_tools, allowed_actions, build_prompt
from ...errors import ProviderError
from ...protocol.errors import ErrorCode
from ..events import Problem, VoiceEvent
from ..frames import STT_RATE, Int16Array
from ..resample import StreamResampler
from ..speaker import Reply, Speaker
from .base import S2S_RATE, PlayerTranscript, ReplyAudio, ReplyCall, ReplyText, S2sRequest, S2sSession
from .output import ExternalVoice

log = logging.getLogger(__name__)

Emit = Callable[[VoiceEvent], Awaitable[None]]


def request_for(ctx: DialogueContext) -> S2sRequest:
    """The turn's instructions (what the cascade's language model is told: the persona, its view
    of the world, the player, and the memories this turn recalls), its tools and the conversation
    so far. The player's words are not in it: the model hears them."""
    tools = action_tools(allowed_actions(ctx))
    prompt = build_prompt(ctx, tools=tools)
    history = [(m["role"], m["content"]) for m in prompt.messages[1:-1]]
    flat = [{"type": "function", **tool["function"]} for tool in tools]
    instructions = prompt.messages[0]["content"]
    last = prompt.messages[-1]["content"]
    if INSTRUCTION_MARK in last:  # the recalled memories ride with the player's line
        recalled = last.split(INSTRUCTION_MARK)[0].strip()
        if recalled:
            instructions += "\n\n" + recalled
    return S2sRequest(instructions=instructions, tools=flat, history=history)


class S2sTurns:
    """One voice conversation's link to a speech-to-speech model."""

    def __init__(
        self,
        session: S2sSession,
        speaker: Speaker,
        emit: Emit,
        clock: Clock,
        *,
        budget_s: float,
        chunk_ms: float,
        out_rate: Callable[[str], int],
    ) -> None:
        self.session = session
        self.speaker = speaker
        self._emit = emit
        self._clock = clock
        self.budget_s = budget_s
        self._chunk_ms = chunk_ms
        self._out_rate = out_rate
        self._up = StreamResampler(STT_RATE, S2S_RATE)
        self._utterance: list[bytes] = []  # the utterance at 24 kHz, to resend on a new link
        self._streamed_on: int | None = None  # the link the utterance was streamed on, if whole
        # Utterances over and waiting for their turn: (audio, the link it was committed on).
        self._ready: deque[tuple[list[bytes], int | None]] = deque(maxlen=8)
        self.items: dict[int, tuple[str, ExternalVoice]] = {}  # turn id -> (item id, its voice)
        self.server_transcripts: list[str] = []
        self.stats = {"s2s": 0, "fallbacks": 0, "cut": 0, "truncated": 0}

    # -- the tap: the utterance as the local pipeline hears it ------------------------------------
    def begin(self) -> None:
        self._up = StreamResampler(STT_RATE, S2S_RATE)
        self._utterance = []
        self.session.clear()
        self._streamed_on = self.session.stats["connects"] if self.session.connected else None

    def audio(self, samples: Int16Array) -> None:
        pcm = self._up.process(samples).astype("<i2").tobytes()
        if pcm:
            self._utterance.append(pcm)
            self.session.append(pcm)

    def discard(self) -> None:
        self._utterance = []
        self.session.clear()

    def end(self) -> None:
        """The utterance starts a turn: commit it now (the player may speak again before the
        turn begins), or keep it to send when the turn connects."""
        tail = self._up.process(np.zeros(0, dtype=np.int16), last=True).astype("<i2").tobytes()
        if tail:
            self._utterance.append(tail)
            self.session.append(tail)
        link = self.session.stats["connects"] if self.session.connected else None
        committed = link if link is not None and self._streamed_on == link else None
        if committed is not None:
            self.session.commit()
        self._ready.append((self._utterance, committed))
        self._utterance = []
        self._up = StreamResampler(STT_RATE, S2S_RATE)

    async def warm(self) -> None:
        """Open the link before the first turn (a failure here only costs that turn the budget)."""
        try:
            await self.session.connect()
        except ProviderError as exc:
            if not self.session.closed:
                log.warning("speech-to-speech link not open yet (%s); the first turn will retry", exc)

    # -- turns ------------------------------------------------------------------------------------------
    def provider(self, ctx: DialogueContext, cascade: DialogueProvider) -> DialogueProvider:
        """The host's ``reply_with`` hook: answer this turn with the model, else with ``cascade``."""
        return S2sDialogue(self, cascade)

    def take_utterance(self) -> tuple[list[bytes], int | None] | None:
        """The oldest utterance waiting for its turn (each s2s turn takes one, used or not)."""
        return self._ready.popleft() if self._ready else None

    async def _commit_audio(self, utterance: tuple[list[bytes], int | None] | None, deadline: float) -> None:
        """Connect if need be, and make sure the server has the turn's utterance."""
        await self.session.connect(deadline - self._clock.monotonic())
        if utterance is None:
            raise ProviderError(self.session.name, "no utterance to answer")
        audio, committed = utterance
        if committed != self.session.stats["connects"]:  # not (wholly) on this link: send it now
            self.session.clear()
            for pcm in audio:
                self.session.append(pcm)
            self.session.commit()

    async def answer(
        self, ctx: DialogueContext, reply: Reply, utterance: tuple[list[bytes], int | None] | None
    ) -> AsyncIterator[DialogueChunk]:
        """The model's reply as dialogue chunks; its audio goes out on ``reply`` meanwhile.
        Raises ProviderError before any audio went out (the caller then asks the cascade)."""
        start = reply.timer.t_end if reply.timer is not None else self._clock.monotonic()
        deadline = start + self.budget_s
        if deadline <= self._clock.monotonic():
            raise ProviderError(
                self.session.name,
                f"the budget of {self.budget_s:g} s from the end of the player's speech was spent "
                "before the model was asked",
                timeout=True,
            )
        reply.external = True
        for old in [t for t in self.items if t < reply.turn_id - 4]:
            del self.items[old]
        request = request_for(ctx)
        await self._commit_audio(utterance, deadline)
        voice = ExternalVoice(reply, self._emit, self._clock, self._out_rate(reply.npc_id), self._chunk_ms)
        held = ""  # transcript that came before the first audio: said once the voice starts
        spoke = False
        within = deadline - self._clock.monotonic()
        try:
            async for event in self.session.reply(request, within):
                if isinstance(event, ReplyAudio):
                    self.items[reply.turn_id] = (event.item_id, voice)
                    if not spoke:
                        spoke = True
                        yield SourceTag("llm")
                        if held:
                            voice.text(held)
                            yield TextPiece(held)
                            held = ""
                    await voice.audio(event.pcm)
                elif isinstance(event, ReplyText):
                    if spoke:
                        voice.text(event.text)
                        yield TextPiece(event.text)
                    else:
                        held += event.text
                elif isinstance(event, ReplyCall):
                    proposal = self._proposal(event)
                    if proposal is not None:
                        yield proposal
                elif isinstance(event, PlayerTranscript):
                    self.server_transcripts.append(event.text)
                    log.info(
                        "conversation: the model heard the player say %r (local: %r)",
                        event.text,
                        ctx.player_text,
                    )
        except ProviderError:
            if spoke:  # the player hears what came: send it, then the caller ends the turn
                await voice.flush()
            raise
        if not spoke:
            raise ProviderError(self.session.name, "the reply had no audio")
        if held:
            voice.text(held)
            yield TextPiece(held)
        await voice.flush()

    def _proposal(self, call: ReplyCall) -> ActionProposal | None:
        try:
            args: Any = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            log.warning("the model called %s with arguments that are not a JSON object; ignored", call.name)
            return None
        return ActionProposal(call.name, args)

    async def heard(self, reply: Reply) -> None:
        """After a cut reply: tell the model how much of it the player heard (its transcript on the
        server is cut there too, so it does not think it said what nobody heard)."""
        entry = self.items.pop(reply.turn_id, None)
        if entry is None:
            return
        item_id, voice = entry
        played = reply.played_ms
        if played is None:
            start = reply.playback_started or reply.first_sent
            now = self._clock.monotonic()
            played = 0.0 if start is None else min(reply.sent_ms, (now - start) * 1000.0)
        self.stats["truncated"] += 1
        await self.session.truncate(item_id, int(min(played, voice.received_ms)))

    async def warn(self, code: ErrorCode, message: str) -> None:
        await self._emit(Problem(code, message, "warning"))

    async def close(self) -> None:
        await self.session.close()


class S2sDialogue(DialogueProvider):
    """One turn answered by the speech-to-speech model, or by the cascade when it cannot."""

    name: ClassVar[str] = "s2s"

    def __init__(self, turns: S2sTurns, cascade: DialogueProvider) -> None:
        super().__init__(
            first_chunk_timeout=turns.budget_s + cascade.first_chunk_timeout,
            total_timeout=turns.session.total_timeout + cascade.total_timeout,
        )
        self.turns = turns
        self.cascade = cascade

    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        turns = self.turns
        utterance = turns.take_utterance()
        reply = turns.speaker.current
        if reply is None or reply.stopped:  # no voice reply for this turn: nothing to speak with
            async for chunk in self.cascade.stream(ctx):
                yield chunk
            return
        turns.stats["s2s"] += 1
        try:
            async for chunk in turns.answer(ctx, reply, utterance):
                yield chunk
            return
        except ProviderError as exc:
            code = ErrorCode.PROVIDER_TIMEOUT if exc.timeout else ErrorCode.PROVIDER_FAILED
            if reply.seq > 0:  # the player already hears the model: the turn ends with what it said
                turns.stats["cut"] += 1
                log.warning("speech-to-speech failed mid-reply: %s", exc)
                await turns.warn(code, f"{exc}; the reply was cut there, the next turn reconnects")
                return
            turns.stats["fallbacks"] += 1
            log.warning("speech-to-speech failed: %s; answering with the cascade", exc)
            why = str(exc)
            if exc.timeout and "budget" not in why:
                why = (
                    f"{turns.session.name}: no audio within {turns.budget_s:g} s of the end of the "
                    "player's speech"
                )
            await turns.warn(code, f"{why}; the NPC answered through the cascade (STT, dialogue, TTS)")
        reply.external = False  # the cascade's text is synthesized as usual
        async for chunk in self.cascade.stream(ctx):
            yield chunk
