"""Conversations: one per player × NPC group. Owns turn order, streaming and cancellation.

A turn runs as its own task. :meth:`Conversation.interrupt` cancels only the reply stream (the
provider and the sinks' synthesis); bookkeeping that must land (what the player heard, accepted
actions, memory writes by extensions) runs after it, shielded from cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from typing import TYPE_CHECKING, Any

from ..dialogue.actions import ActionRejected, check_args
from ..dialogue.arguments import unnamed_choices
from ..dialogue.base import ActionProposal, SourceTag, TextPiece
from ..dialogue.context import DialogueContext, HistoryEntry
from ..dialogue.providers.authored import pick_line
from ..errors import FencedError, ProviderError
from ..host import ReplyWith, TurnRecord, TurnSink
from ..personas.schema import ActionSpec, Persona
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages import (
    ActionOut,
    Ambient,
    ConversationEnded,
    Message,
    NpcAction,
    NpcTextDelta,
    NpcTextFinal,
    WarningMessage,
)
from ..storage.postgres import current_fence, current_request

if TYPE_CHECKING:
    from .app import Connection, Runtime

log = logging.getLogger(__name__)

MAX_PENDING_TURNS = 4


class Conversation:
    """The host's :class:`~npc_runtime.host.ConversationControl`."""

    def __init__(
        self,
        runtime: Runtime,
        connection: Connection,
        conversation_id: str,
        npc_ids: list[str],
        player_id: str,
        mode: str,
    ) -> None:
        self.runtime = runtime
        self.connection = connection
        self.id = conversation_id
        self.npc_ids = npc_ids
        self.player_id = player_id
        self.mode = mode
        self.s2s: str | None = None  # the speech-to-speech profile asked for at conversation_start
        self._sinks: list[TurnSink] = []
        self.history: deque[HistoryEntry] = deque(maxlen=max(runtime.settings.history_turns * 2, 2))
        self.turn_counter = 0
        self.closed = False
        self.last_speaker = npc_ids[0]
        self._pending: asyncio.Queue[tuple[str | None, str | None, Any, tuple[str, str] | None]] = (
            asyncio.Queue()
        )
        self._stream_task: asyncio.Task[None] | None = None
        self._turn_lock = asyncio.Lock()
        self._worker = asyncio.create_task(self._work(), name=f"conversation-{conversation_id}")
        self.current_turn: int | None = None
        # NPCs talking among themselves (start_ambient): stopped for good once the player speaks.
        self._ambient_task: asyncio.Task[None] | None = None
        self._ambient_stopped = False
        self._ambient_turn = False  # the turn in flight is one of the NPCs' exchange
        self.turn_context: DialogueContext | None = None  # the current turn's (sinks read it)

    # -- public -----------------------------------------------------------------------------
    def add_sink(self, sink: TurnSink) -> None:
        self._sinks.append(sink)

    def submit(
        self,
        text: str | None,
        *,
        to: str | None = None,
        ref: Any = None,
        scripted: tuple[str, str] | None = None,
    ) -> None:
        """Queue a player line (or a scripted line such as the greeting) for the next turn."""
        if self.closed:
            raise ProtocolError(ErrorCode.UNKNOWN_CONVERSATION, f"conversation {self.id} has ended", ref=ref)
        if self._pending.qsize() >= MAX_PENDING_TURNS:
            raise ProtocolError(
                ErrorCode.CONVERSATION_BUSY,
                f"{MAX_PENDING_TURNS} player lines are already waiting; wait for npc_text_final",
                ref=ref,
            )
        if to is not None and to not in self.npc_ids:
            raise ProtocolError(ErrorCode.UNKNOWN_NPC, f"'{to}' is not in conversation {self.id}", ref=ref)
        if text is not None and scripted is None:
            self._yield_to_player()
        self._pending.put_nowait((text, to, ref, scripted))

    def start_ambient(self, spec: Ambient) -> None:
        """Let the NPCs talk among themselves: the first opens (the seed line as written, or on the
        topic), the others answer in turn, each to the line before, for at most ``spec.turns``
        lines. Everyone present remembers what was said (memory's group rules). The player takes
        priority: a line from them ends the exchange and the NPC in flight stops speaking."""
        self._ambient_task = asyncio.create_task(self._ambient(spec), name=f"ambient-{self.id}")

    def _yield_to_player(self) -> None:
        if self._ambient_task is not None and not self._ambient_stopped:
            self._ambient_stopped = True
            if self._ambient_turn:
                self.interrupt()

    async def run_turn(
        self,
        player_text: str | None,
        to: str | None = None,
        ref: Any = None,
        scripted: tuple[str, str] | None = None,
        *,
        ambient: bool = False,
        said_by: str | None = None,
        reply_with: ReplyWith | None = None,
    ) -> TurnRecord | None:
        """Run one NPC reply (the voice pipeline calls this with a final transcript; with
        ``reply_with`` for a speech-to-speech turn).

        Turns of one conversation never overlap: a turn asked for while another runs (a typed line
        during a spoken reply, a farewell) waits for it to finish, then runs in order.
        ``ambient``: a line of the NPCs' own exchange; ``player_text`` is then what it answers
        (the line ``said_by`` another NPC, or the opening topic), not something the player said.
        """
        if not ambient and player_text is not None and scripted is None:
            self._yield_to_player()  # a spoken line from the player
        async with self._turn_lock:
            if ambient and self._ambient_stopped:
                return None
            self._ambient_turn = ambient
            # The turn's world writes are keyed by its input, so a turn replayed elsewhere logs once.
            # (cluster workers only: they run under a fence; embedded clients may reuse message ids)
            keyed = ref is not None and current_fence.get() is not None
            request = current_request.set(f"{self.id}:{ref}" if keyed else None)
            try:
                return await self._run_turn(player_text, to, ref, scripted, ambient, said_by, reply_with)
            finally:
                self._ambient_turn = False
                current_request.reset(request)

    async def _ambient(self, spec: Ambient) -> None:
        speakers = self.npc_ids
        try:
            if spec.seed_line:
                record = await self.run_turn(
                    None, to=speakers[0], scripted=(spec.seed_line, "authored"), ambient=True
                )
            else:
                record = await self.run_turn(spec.topic, to=speakers[0], ambient=True)
            for i in range(1, spec.turns):
                if record is None or not record.heard_text.strip() or record.interrupted:
                    break
                record = await self.run_turn(
                    record.heard_text, to=speakers[i % len(speakers)], ambient=True, said_by=record.npc_id
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the NPCs' exchange failed in conversation %s", self.id)

    async def _run_turn(
        self,
        player_text: str | None,
        to: str | None,
        ref: Any,
        scripted: tuple[str, str] | None,
        ambient: bool = False,
        said_by: str | None = None,
        reply_with: ReplyWith | None = None,
    ) -> TurnRecord | None:
        if self.closed:
            return None
        self.turn_counter += 1
        turn_id = self.turn_counter
        npc_id = self._pick_speaker(player_text or "", to)
        persona = self.runtime.personas.get(npc_id)
        if persona is None:
            await self.send(
                WarningMessage(
                    code=ErrorCode.UNKNOWN_NPC,
                    message=f"NPC '{npc_id}' is no longer loaded",
                    conversation_id=self.id,
                    ref=ref,
                )
            )
            return None
        self.last_speaker = npc_id
        ctx = await self.runtime.context_for(
            persona,
            self.player_id,
            player_text or "",
            history=self.history,
            others=[n for n in self.npc_ids if n != npc_id],
        )
        if said_by is not None:
            speaker = self.runtime.personas.get(said_by)
            ctx.extra["said_by"] = speaker.name if speaker is not None else said_by
        state = _TurnState()
        state.ambient = ambient
        self.current_turn = turn_id
        self.turn_context = ctx  # the voice sink reads the turn's context (moods)
        for sink in self._sinks:
            await sink.on_start(turn_id, npc_id)
        stream = asyncio.create_task(self._stream(ctx, turn_id, npc_id, state, scripted, ref, reply_with))
        self._stream_task = stream
        await asyncio.wait({stream})
        interrupted = stream.cancelled()
        if not interrupted and stream.exception() is not None:
            log.error("turn %s/%s failed", self.id, turn_id, exc_info=stream.exception())
        self._stream_task = None
        self.current_turn = None
        return await asyncio.shield(self._finish(ctx, turn_id, npc_id, state, interrupted, ref))

    async def interrupt_all(self) -> bool:
        """The game's ``interrupt``: cancel the reply in flight and stop what is being spoken."""
        cancelled = self.interrupt()
        for sink in self._sinks:
            try:
                await sink.on_interrupt()
            except Exception:
                log.exception("turn sink failed to stop in conversation %s", self.id)
        return cancelled

    def interrupt(self) -> bool:
        """Cancel the reply in flight; returns False when nothing was playing."""
        if self._stream_task is not None and not self._stream_task.done():
            self._stream_task.cancel()
            return True
        return False

    def prefill(self, player_text: str) -> None:
        """Read the coming turn ahead with the player's words so far (see runtime/prefill.py)."""
        if player_text.strip() and not self.closed and self.runtime.prefiller.reads_ahead():
            self.runtime.prefiller.request(self, self._pick_speaker(player_text, None), player_text)

    async def send(self, msg: Message) -> None:
        self.runtime.send_now(self.connection, msg)

    async def close(self, reason: str, *, notify: bool = True, ref: Any = None) -> None:
        """End the conversation; ``ref``: the id of the client's request that ended it."""
        if self.closed:
            return
        self.closed = True
        self.interrupt()
        self._worker.cancel()
        for ext in self.runtime.extensions:
            try:
                await ext.on_conversation_end(self, reason)
            except Exception:
                log.exception("extension %s failed on conversation end", ext.name)
        if notify:
            await self.send(ConversationEnded(conversation_id=self.id, reason=reason, ref=ref))

    async def say_farewell(self, ref: Any = None) -> None:
        persona = self.runtime.personas.get(self.last_speaker)
        if persona and persona.farewell:
            ctx = await self.runtime.context_for(persona, self.player_id, "")
            line = pick_line(persona.farewell, ctx, self.turn_counter)
            if line is not None:
                await self.run_turn(None, to=self.last_speaker, ref=ref, scripted=(line.text, "farewell"))

    # -- internals ----------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            text, to, ref, scripted = await self._pending.get()
            try:
                await self.run_turn(text, to=to, ref=ref, scripted=scripted)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("turn failed in conversation %s", self.id)

    def _pick_speaker(self, text: str, to: str | None) -> str:
        if to is not None:
            return to
        if len(self.npc_ids) == 1:
            return self.npc_ids[0]
        lowered = text.lower()
        for npc_id in self.npc_ids:  # addressed by name ("Bram, what do you think?")
            persona = self.runtime.personas.get(npc_id)
            if persona and re.search(rf"\b{re.escape(persona.name.split()[0].lower())}\b", lowered):
                return npc_id
        best, best_score = self.last_speaker, 0.0
        for npc_id in self.npc_ids:  # the NPC with the best authored answer
            persona = self.runtime.personas.get(npc_id)
            if persona is None:
                continue
            ctx = DialogueContext(persona=persona, player_id=self.player_id, player_text=text)
            _topic, score = self.runtime.authored.match(ctx)
            if score > best_score:
                best, best_score = npc_id, score
        return best

    async def _emit(self, turn_id: int, npc_id: str, state: _TurnState, text: str) -> None:
        if not text:
            return
        state.text += text
        state.seq += 1
        await self.send(
            NpcTextDelta(conversation_id=self.id, turn_id=turn_id, npc_id=npc_id, seq=state.seq, text=text)
        )
        for sink in self._sinks:
            await sink.on_text(turn_id, npc_id, text)

    async def _stream(
        self,
        ctx: DialogueContext,
        turn_id: int,
        npc_id: str,
        state: _TurnState,
        scripted: tuple[str, str] | None,
        ref: Any,
        reply_with: ReplyWith | None = None,
    ) -> None:
        if scripted is not None:
            state.source = scripted[1]
            await self._emit(turn_id, npc_id, state, scripted[0])
            return
        provider = self.runtime.pick_provider(ctx)
        if reply_with is not None:
            provider = reply_with(ctx, provider)
        try:
            async for chunk in provider.stream(ctx):
                if isinstance(chunk, SourceTag):
                    state.source = chunk.source
                elif isinstance(chunk, TextPiece):
                    await self._emit(turn_id, npc_id, state, chunk.text)
                elif isinstance(chunk, ActionProposal):
                    await asyncio.shield(
                        self._take_action(ctx.persona, ctx, turn_id, npc_id, state, chunk, ref)
                    )
        except ProviderError as exc:
            code = ErrorCode.PROVIDER_TIMEOUT if exc.timeout else ErrorCode.PROVIDER_FAILED
            log.warning("dialogue provider failed in conversation %s: %s", self.id, exc)
            await self.send(
                WarningMessage(
                    code=code,
                    message=f"{exc}; the NPC answered with a fallback line",
                    conversation_id=self.id,
                    ref=ref,
                )
            )
            said, opener = state.text.strip(), str(ctx.extra.get("opener") or "").strip()
            if not said or said == opener:  # nothing, or only a thinking line ("Hm, let me think.")
                state.source = "fallback"
                await self._emit(turn_id, npc_id, state, self.runtime.fallbacks.pick(ctx.persona, ctx))

    async def _take_action(
        self,
        persona: Persona,
        ctx: DialogueContext,
        turn_id: int,
        npc_id: str,
        state: _TurnState,
        proposal: ActionProposal,
        ref: Any,
    ) -> None:
        spec: ActionSpec | None = persona.action(proposal.name)
        try:
            if spec is None:
                raise ActionRejected(f"'{persona.id}' has no action '{proposal.name}'")
            args = check_args(spec, proposal.args)
            if state.source == "llm" and self.runtime.settings.llm_actions_named:
                unnamed = unnamed_choices(spec, args, ctx.player_text, state.text)
                if unnamed:
                    raise ActionRejected(
                        f"action '{spec.name}' not taken: nobody named its {', '.join(unnamed)} "
                        f"({', '.join(f'{n}={args[n]}' for n in unnamed)}) in this turn"
                    )
            if not ctx.allows_action(spec.when, args):
                shown = f" with {args}" if args else ""
                raise ActionRejected(f"action '{spec.name}'{shown} is not allowed now (when: {spec.when})")
            for ext in self.runtime.extensions:
                await ext.apply_action(self, npc_id, spec, args)
        except ActionRejected as exc:
            await self.send(
                WarningMessage(
                    code=ErrorCode.ACTION_REJECTED, message=str(exc), conversation_id=self.id, ref=ref
                )
            )
            return
        state.actions.append((spec.name, args))
        await self.send(
            NpcAction(conversation_id=self.id, turn_id=turn_id, npc_id=npc_id, name=spec.name, args=args)
        )

    async def _finish(
        self, ctx: DialogueContext, turn_id: int, npc_id: str, state: _TurnState, interrupted: bool, ref: Any
    ) -> TurnRecord:
        heard = state.text
        for sink in self._sinks:
            try:
                result = await sink.on_end(turn_id, npc_id, state.text, interrupted)
            except Exception:
                log.exception("turn sink failed at the end of turn %s", turn_id)
                continue
            if result is not None and len(result) < len(heard):
                heard = result
        # A barge-in after the text had finished streaming: the player still heard only part of it.
        interrupted = interrupted or len(heard) < len(state.text)
        # In the NPCs' own exchange the prompt is the line before (already in the history) or the
        # opening topic, which nobody said: neither is the player's.
        said = None if state.ambient else ctx.player_text or None
        if said:
            self.history.append(HistoryEntry("player", said))
        if heard:
            self.history.append(HistoryEntry(npc_id, heard))
        record = TurnRecord(
            conversation_id=self.id,
            turn_id=turn_id,
            npc_id=npc_id,
            player_id=self.player_id,
            player_text=said,
            npc_text=state.text,
            heard_text=heard,
            interrupted=interrupted,
            source=state.source,
            actions=list(state.actions),
            game_time=self.runtime.game_time,
        )
        # What the turn must leave behind (memories) commits BEFORE its npc_text_final, the
        # client's acknowledgement: a worker killed in between leaves the line unanswered, and
        # the gateway runs it again elsewhere (memory writes are keyed by the line, so once).
        for ext in self.runtime.extensions:
            try:
                await ext.on_turn_done(self, record)
            except FencedError as exc:  # the conversation moved: its new owner answers the line
                log.warning("turn %s/%s not acknowledged: %s", self.id, turn_id, exc)
                return record
            except Exception:
                log.exception("extension %s failed to record turn %s", ext.name, turn_id)
        await self.send(
            NpcTextFinal(
                conversation_id=self.id,
                turn_id=turn_id,
                npc_id=npc_id,
                text=state.text,
                source=state.source,
                interrupted=interrupted,
                ambient=state.ambient,
                ref=ref,
                actions=[ActionOut(name=n, args=a) for n, a in state.actions],
            )
        )
        if not state.ambient:  # a language model reads the next turn while the player thinks
            self.runtime.prefiller.request(self, npc_id)
        return record


class _TurnState:
    __slots__ = ("actions", "ambient", "seq", "source", "text")

    def __init__(self) -> None:
        self.ambient = False
        self.text = ""
        self.seq = 0
        self.source = "llm"
        self.actions: list[tuple[str, dict[str, Any]]] = []
