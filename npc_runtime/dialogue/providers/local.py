"""The ``local`` dialogue provider: a packaged language model, offline (llama.cpp via xllamacpp).

The model comes from a registry package (:mod:`npc_runtime.dialogue.models`; Qwen2.5-Coder-1.5B-
Instruct by default), run by ``xllamacpp``'s embedded llama.cpp server (a prebuilt wheel) in a
process of its own (:mod:`.local_process`; ``own_process = false``: in this one). See docs/llm.md.

- **Prompt**: the same builder as the ``openai`` provider (:func:`~..prompt.build_prompt`), with
  actions as a reply line ``[action name {json}]``.
- **Per-NPC prompt caches**: every NPC gets its own llama.cpp slot (its own KV cache), so the
  fixed part of its prompt (persona, rules, lines, world view, history) is read once and each
  turn reads only the new last message (:mod:`.local_cache`). ``warm_up`` reads each NPC's
  fixed prefix at start, giving way to players; ``prefill`` reads a turn's context ahead (for
  example while the player is still speaking). More NPCs than slots: the least recently used
  slot is reused.
- **Constrained actions**: when the NPC may act now, generation is constrained by a grammar
  (llguidance): free spoken text on one line, then exactly one line ``[action none]`` or
  ``[action NAME {args}]`` whose arguments follow a JSON schema built from the action's typed
  parameters and enums. The model proposes; the runtime's action checks decide, as with every
  provider.
- **Streaming**: sentence by sentence; each sentence passes :class:`~..guard.ReplyGuard` before
  it is yielded. The first sentence's first clause (a comma, semicolon, colon or dash after four
  words or more; ``first_clause``) is yielded as soon as it is generated, so speech can start on
  it: the clause passes the guard alone, then the whole sentence when it ends (failing then, an
  authored deflection ends the reply after the clause). A failing first sentence: the reply is generated again once, then replaced by
  one of the NPC's authored fallback lines (a deflection). A failing later sentence ends the
  reply there. ``last_guard`` holds the turn's :class:`~..guard.GuardReport`; the totals are in
  ``guard_totals``.
- **Openers**: when the running estimate of this model's pace (:class:`~.local_engine.Pace`)
  says the first sentence will come later than ``opener_after``, one of the persona's openers is
  said at once and the turn's one generation continues it (the opener is the start of the
  model's answer). A model expected in time but late anyway gets the opener at ``opener_after``
  while its generation goes on. Never a dropped and restarted request.
- **Threads**: one by default (``threads``): with a busy core, two threads are slower than one.
  Generation runs in worker threads, never on the event loop; a cancelled turn (barge-in) stops
  the generation at the next token.
- **Single-shot** :meth:`complete` (for LLM reflection) runs on a slot of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from ...errors import ConfigError, ProviderError
from ...personas.schema import ActionSpec
from ...text import CLAUSE_WORDS, clause_end, split_sentences
from ..base import ActionProposal, DialogueChunk, DialogueProvider, SourceTag, TextPiece
from ..context import DialogueContext, HistoryEntry
from ..guard import GuardReport, GuardVerdict, ReplyGuard
from ..hygiene import SpokenFilter
from ..models import MODELS, model_path
from ..prompt import (
    Prompt,
    PromptSettings,
    allowed_actions,
    build_prompt,
    estimate_tokens,
    instruction_sentences,
    player_words,
)
from .local_cache import PromptCaches
from .local_engine import Engine, EngineBase, Generation, LocalSettings, Pace
from .local_process import ProcessEngine
from .local_reply import action_grammar, reply_sentences, tidy
from .openai import ActionLineParser

__all__ = ["LocalProvider", "LocalSettings", "action_grammar"]

log = logging.getLogger(__name__)


class LocalProvider(PromptCaches, DialogueProvider):
    name: ClassVar[str] = "local"

    def __init__(
        self,
        settings: LocalSettings,
        *,
        fallback: Callable[[DialogueContext], str] | None = None,
    ) -> None:
        super().__init__(first_chunk_timeout=settings.first_token_timeout, total_timeout=settings.timeout)
        self.settings = settings
        self._fallback = fallback
        self._engine: EngineBase | None = None
        self.restarts = 0  # the model's process was started again after it died
        self._load_lock = asyncio.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.slots, thread_name_prefix="llm")
        self._slots: OrderedDict[str, int] = OrderedDict()  # npc id -> slot, least recent first
        self._anchors: dict[tuple[str, str], tuple[str, str]] = {}  # first history entry shown
        self.last_prompt: Prompt | None = None
        self.last_guard: GuardReport | None = None
        self.last_timings: dict[str, Any] = {}
        self.last_turn: dict[str, Any] = {}  # requests, opener ("at once", "late"), first sentence tokens
        self.pace = Pace()  # this model's measured speed: is a turn's first sentence going to be late?
        self.guard_totals: dict[str, int] = {"turns": 0, "regenerated": 0, "replaced": 0, "cut": 0}
        self.warmed: set[str] = set()
        self.warm_gave_way = 0  # warm-up reads stopped for a player's work (and done again later)
        self._ahead: dict[tuple[str, str], list[str]] = {}  # (npc, player) -> memories read ahead
        self._last_opener: dict[str, str] = {}
        self._random = random.Random(settings.seed)
        self._warm_task: asyncio.Task[None] | None = None
        self._players_work = 0  # turns and players' read-aheads running
        self._idle = asyncio.Event()  # no player's work runs: warm-up may read the next NPC's prompt
        self._idle.set()
        self._warm_read: asyncio.Task[None] | None = None  # warm-up's read in flight; players pre-empt it

    @classmethod
    def from_settings(
        cls, d: dict[str, Any], fallback: Callable[[DialogueContext], str] | None = None
    ) -> LocalProvider:
        try:
            settings = LocalSettings.model_validate(d)
        except ValidationError as exc:
            lines = [
                f"dialogue.{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConfigError("invalid local dialogue settings:\n  " + "\n  ".join(lines)) from None
        if settings.model_path is None and settings.model not in MODELS:
            raise ConfigError(
                f"dialogue.model: unknown local model '{settings.model}'; use one of {list(MODELS)}"
            )
        return cls(settings, fallback=fallback)

    # -- model ------------------------------------------------------------------------------------
    def model_file(self) -> Path:
        s = self.settings
        if s.model_path:
            path = Path(s.model_path).expanduser()
            if not path.is_file():
                raise ConfigError(f"dialogue.model_path: no such file {path}")
            return path
        return model_path(s.model, directory=s.model_dir)

    async def load(self) -> EngineBase:
        """Load the model (once), in its own process by default; a model whose process has died
        (a crash, the out-of-memory killer) is started again here, at the next request. In the
        runtime's process (``own_process = false``) llama.cpp holds the GIL while it loads (2-20 s
        for the default model) and the event loop stalls meanwhile, so the runtime calls
        :meth:`prepare` before it serves."""
        async with self._load_lock:
            if self._engine is not None and not self._engine.alive():
                log.warning("the language model's process died; starting it again")
                self.restarts += 1
                self._engine.close()
                self._engine = None
            if self._engine is None:
                loop = asyncio.get_running_loop()
                kind = ProcessEngine if self.settings.own_process else Engine
                self._engine = await loop.run_in_executor(
                    self._pool, lambda: kind(self.settings, self.model_file())
                )
            return self._engine

    def _slot(self, npc_id: str) -> int:
        """This NPC's slot; the last slot is kept for :meth:`complete`."""
        if npc_id in self._slots:
            self._slots.move_to_end(npc_id)
            return self._slots[npc_id]
        used = set(self._slots.values())
        free = [i for i in range(self.settings.slots - 1) if i not in used]
        if free:
            slot = free[0]
        else:
            _old, slot = self._slots.popitem(last=False)
        self._slots[npc_id] = slot
        return slot

    # -- requests ---------------------------------------------------------------------------------
    def _window(self, ctx: DialogueContext) -> list[HistoryEntry]:
        """The history to show, cut so that its start moves in jumps, not one entry per turn: a
        window sliding by one would change the prompt right after the system message every turn,
        and the NPC's cache would be read again from there (hundreds of tokens)."""
        history, limit = ctx.history, self.settings.history
        if limit <= 0:
            return []
        key = (ctx.persona.id, ctx.player_id)
        anchor = self._anchors.get(key)
        start = 0
        if anchor is not None:
            found = [i for i, h in enumerate(history) if (h.speaker, h.text) == anchor]
            start = found[-1] if found else 0
        if len(history) - start > limit:  # jump: keep the newest half of the window
            start = len(history) - max(1, limit // 2)
        kept = list(history[start:])
        if kept:
            self._anchors[key] = (kept[0].speaker, kept[0].text)
        return kept

    def _prompt_settings(self, ctx: DialogueContext) -> PromptSettings:
        s = self.settings
        return PromptSettings(
            max_prompt_tokens=s.prompt_tokens,
            max_history=s.history,
            reply_sentences=reply_sentences(ctx.persona, s.reply_sentences),
        )

    def request(
        self, ctx: DialogueContext, *, attempt: int = 0, prefix: str = "", ahead: bool = False
    ) -> tuple[dict[str, Any], list[ActionSpec]]:
        """The llama.cpp request for one turn, and the actions it offers. ``prefix``: words already
        said (an opener), which the model continues; ``ahead``: a prefill, whose memories the turn
        that follows reuses, so that it reads only the player's words."""
        s = self.settings
        actions = allowed_actions(ctx) if s.actions == "grammar" else []
        settings = self._prompt_settings(ctx)
        key = (ctx.persona.id, ctx.player_id)
        memories = list(ctx.memories[: s.memories])
        if ahead:
            self._ahead[key] = memories
        elif key in self._ahead:  # read ahead; at most turn_memories new ones cost reading time now
            memories = self._ahead[key]
            memories = memories + [m for m in ctx.memories if m not in memories][: s.turn_memories]
        ctx = dataclasses.replace(ctx, memories=memories, history=self._window(ctx))
        prompt = build_prompt(ctx, settings, text_actions=bool(actions))
        self.last_prompt = prompt
        messages = prompt.messages
        if prefix:  # llama.cpp continues a final assistant message
            messages = [*messages, {"role": "assistant", "content": prefix}]
        request: dict[str, Any] = {
            "messages": messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature + 0.2 * attempt,
            "top_p": s.top_p,
            "repeat_penalty": s.repeat_penalty,
            "cache_prompt": True,
            "timings_per_token": True,  # the figures come with every delta (a reply may end early)
            "id_slot": self._slot(ctx.persona.id),
        }
        if s.seed is not None:
            request["seed"] = s.seed + attempt
        if actions:
            sentences = settings.reply_sentences + (1 if prefix else 0)  # after an opener: one more
            request["grammar"] = action_grammar(actions, max_chars=70 * sentences + 20)
        else:
            request["stop"] = ["\n\n"]
        return request, actions

    async def _generate(
        self, request: dict[str, Any], ctx: DialogueContext | None = None
    ) -> AsyncGenerator[str, None]:
        engine = await self.load()
        loop = asyncio.get_running_loop()
        gen = Generation(asyncio.Queue(), started=time.perf_counter())
        future = loop.run_in_executor(self._pool, engine.chat, request, gen, loop)
        try:
            while True:
                kind, value = await gen.queue.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise ProviderError(self.name, f"llama.cpp: {value}")
                else:
                    break
        finally:
            gen.stop.set()  # a cancelled turn (barge-in) or a guard failure stops at the next token
            engine.cancel(gen)  # (in the model's own process: now)
            first_token_s = None if gen.first_token is None else gen.first_token - gen.started
            self.last_timings = {**gen.timings, "first_token_s": first_token_s}
            self.pace.update(gen.timings, first_token_s)
            if ctx is not None:
                ctx.extra["llm_timings"] = self.last_timings
            if future.done():
                future.result()

    # -- a turn -----------------------------------------------------------------------------------
    async def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        async with self._for_player():
            async for chunk in self._turn(ctx):
                yield chunk

    async def _turn(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        report = GuardReport()
        self.last_guard = report
        # Hooks for the turn's owner (turn_metrics): the context belongs to this turn alone.
        ctx.extra["guard"] = report
        self.guard_totals["turns"] += 1
        guard = self._guard(ctx) if self.settings.guard else None
        base_limit = reply_sentences(ctx.persona, self.settings.reply_sentences)
        loop = asyncio.get_running_loop()
        turn: dict[str, Any] = {
            "requests": 0,
            "opener": None,
            "first_clause_tokens": None,  # set when the first clause went out before its sentence ended
            "first_sentence_tokens": None,
        }
        self.last_turn = turn
        opener = self._pick_opener(ctx)
        opened = False  # the opener was said
        prefix = ""  # the start of the model's answer (the opener said): the model continues it
        if opener is not None and self._expect_late(ctx):
            # Late by the running estimate (always for the 1.5B model on a small CPU): the opener
            # now, and the one generation of this turn continues it. Nothing is dropped and read again.
            opened, prefix = True, opener
            turn["opener"] = "at once"
            for chunk in self._open(ctx, opener):
                yield chunk
        after = self.settings.opener_after
        opener_at = None if opener is None or opened or after is None else loop.time() + after
        attempt = 0
        carried: str | None = None  # a first clause said, whose sentence a second attempt ends
        while True:
            request, actions = self.request(ctx, attempt=attempt, prefix=prefix)
            turn["requests"] += 1
            # After an opener the model's first sentence is often a bridge ("Hm." -> "I've been
            # thinking about this."), so one more sentence is allowed: a terse NPC still answers.
            limit = base_limit + (1 if opened else 0)
            lines = ActionLineParser()
            spoken = SpokenFilter(
                speaker_names=[ctx.persona.name, ctx.persona.id, "npc", "assistant"],
                other_speakers=["player", "user", "you", *ctx.others],
            )
            buffer = ""
            said: list[str] = []  # the model's sentences said in this attempt
            early: str | None = carried  # the first sentence's first clause, said before its end
            clause_said = carried  # the first clause said (in this attempt or the one before)
            failed = False
            made = 0  # deltas (about one token each) generated in this attempt
            async with contextlib.aclosing(self._generate(request, ctx)) as deltas:
                stream = deltas.__aiter__()
                pending: asyncio.Future[str] | None = None
                try:
                    while True:
                        if pending is None:
                            pending = asyncio.ensure_future(anext(stream))
                        if (
                            opener is not None
                            and opener_at is not None
                            and not opened
                            and not (said or clause_said)
                        ):
                            done, _ = await asyncio.wait({pending}, timeout=max(opener_at - loop.time(), 0.0))
                            if not done:  # late after all: the opener now, the same generation goes on
                                opened, limit = True, base_limit + 1
                                turn["opener"] = "late"
                                for chunk in self._open(ctx, opener):
                                    yield chunk
                                continue
                        try:
                            delta = await pending
                        except StopAsyncIteration:
                            pending = None
                            break
                        pending = None
                        made += 1
                        buffer += spoken.feed(lines.feed(delta))
                        sentences, buffer = split_sentences(buffer)
                        for sentence in map(tidy, sentences):
                            if not sentence:
                                continue
                            if len(said) >= limit:
                                continue  # over the persona's length: not said (the action still counts)
                            if early is not None:  # the rest of the first sentence: checked whole
                                whole, sentence = f"{early} {sentence}", sentence
                                early = None
                                if self._check(guard, report, whole, said) is not None:
                                    failed = True
                                    break
                                said.append(whole)
                                yield TextPiece(sentence + " ")
                                self._first_sentence(turn, made)
                                continue
                            if self._check(guard, report, sentence, said) is not None:
                                failed = True
                                break
                            if not said:
                                self._first_sentence(turn, made)
                                if not opened:
                                    yield SourceTag("llm")
                            said.append(sentence)
                            yield TextPiece(sentence + " ")
                        if not failed and not said and early is None and self.settings.first_clause:
                            # The first clause of the first sentence goes out at once (to TTS): it is
                            # checked now, and the whole sentence again when it ends.
                            end = clause_end(buffer, CLAUSE_WORDS)
                            clause = tidy(buffer[:end]) if end is not None else ""
                            if clause:
                                if self._check(guard, report, clause, said) is not None:
                                    failed = True
                                    break
                                turn["first_clause_tokens"] = made
                                if not opened:
                                    yield SourceTag("llm")
                                early, buffer, clause_said = clause, buffer[end:].lstrip(), clause
                                yield TextPiece(clause + " ")
                        if failed or spoken.stopped or (len(said) >= limit and not actions):
                            break
                finally:
                    if pending is not None:  # stopped early (guard, barge-in): end the waiting read
                        pending.cancel()
                        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                            await pending
            if not failed:
                rest = tidy(buffer + spoken.feed(lines.finish()) + spoken.finish())
                if early is not None:  # the reply's end ends its first sentence, the clause said
                    whole = f"{early} {rest}".strip()
                    if rest and self._check(guard, report, whole, said) is not None:
                        failed = True
                    else:
                        said.append(whole)
                        self._first_sentence(turn, made)
                        if rest:
                            yield TextPiece(rest)
                    early, rest = None, ""
                if rest and len(said) < limit:
                    if self._check(guard, report, rest, said) is not None:
                        failed = True
                    else:
                        if not said:
                            self._first_sentence(turn, made)
                            if not opened:
                                yield SourceTag("llm")
                        said.append(rest)
                        yield TextPiece(rest)
            if failed and clause_said and not said and attempt < 1:
                # The first clause was said and its sentence failed the guard: generated once more,
                # going on after the clause (the model's own words so far).
                carried = clause_said
                prefix = " ".join(p for p in ((opener if opened else ""), carried) if p)
                attempt += 1
                report.regenerated += 1
                self.guard_totals["regenerated"] += 1
                log.info(
                    "guard rejected the sentence after the first clause of %s; generating again",
                    ctx.persona.id,
                )
                continue
            if failed and clause_said and not said:
                # Failing again: an authored line ends the reply (a clause alone would leave the
                # NPC in mid-sentence).
                report.cut = report.replaced = True
                self.guard_totals["cut"] += 1
                self.guard_totals["replaced"] += 1
                log.info(
                    "guard ended a reply of %s after its first clause: %s",
                    ctx.persona.id,
                    report.failures[-1],
                )
                yield TextPiece(self._deflection(ctx))
                return
            if failed and said:
                report.cut = True  # what was said stands; the reply ends before the bad sentence
                self.guard_totals["cut"] += 1
                log.info("guard ended a reply of %s: %s", ctx.persona.id, report.failures[-1])
                return
            if opened:
                prefix = opener or ""  # a second attempt goes on after the opener said too
            if failed and attempt < 1:
                attempt += 1
                report.regenerated += 1
                self.guard_totals["regenerated"] += 1
                log.info(
                    "guard rejected a reply of %s (%s); generating again", ctx.persona.id, report.failures[-1]
                )
                continue
            acts = [proposal for proposal in lines.proposals if proposal.name != "none"]
            if failed or (not said and opened and not acts):  # an opener alone is no answer
                report.replaced = failed
                self.guard_totals["replaced"] += int(failed)
                log.info("an authored line ends the reply of %s (guard: %s)", ctx.persona.id, failed)
                if not opened:
                    yield SourceTag("fallback")
                yield TextPiece(self._deflection(ctx))
                return
            if not said and not opened:  # nothing speakable (labels, stage directions): once more
                if attempt < 1:
                    attempt += 1
                    continue
                raise ProviderError(self.name, "the model returned no speakable text")
            for proposal in acts:
                yield ActionProposal(proposal.name, proposal.args)
            return

    def _open(self, ctx: DialogueContext, opener: str) -> list[DialogueChunk]:
        """Say ``opener`` (and remember it: never the same one twice running)."""
        ctx.extra["opener"] = opener
        self._last_opener[ctx.persona.id] = opener
        return [SourceTag("llm"), TextPiece(opener + " ")]

    def _first_sentence(self, turn: dict[str, Any], made: int) -> None:
        turn["first_sentence_tokens"] = made
        self.pace.sentence(made)

    def _expect_late(self, ctx: DialogueContext) -> bool:
        """True when this turn's first sentence is expected after ``opener_after``: the tokens
        left to read (the player's words when the turn was read ahead, else the whole last
        message, about 120 more) and a first sentence, at this model's measured pace. Unmeasured
        (the first turns after start): late."""
        after = self.settings.opener_after
        if after is None:
            return False
        to_read = estimate_tokens(player_words(ctx.player_text)) + 8  # quotes, end of turn, reply start
        if (ctx.persona.id, ctx.player_id) not in self._ahead:
            to_read += 120
        expected = self.pace.first_sentence_s(to_read)
        return expected is None or expected > after

    @staticmethod
    def _check(
        guard: ReplyGuard | None, report: GuardReport, sentence: str, said: list[str]
    ) -> GuardVerdict | None:
        """The guard's failing verdict for ``sentence`` (recorded in ``report``), or None."""
        report.checked += 1
        verdict = guard.check(sentence, before=" ".join(said)) if guard is not None else None
        if verdict is None or verdict.ok:
            return None
        report.failures.append(verdict)
        return verdict

    def _pick_opener(self, ctx: DialogueContext) -> str | None:
        """An opener for this turn, never the one this NPC said last; None without openers or when
        the turn does not answer the player (NPCs talking among themselves)."""
        if self.settings.opener_after is None or ctx.extra.get("said_by") or not ctx.player_text.strip():
            return None
        last = self._last_opener.get(ctx.persona.id)
        choices = [o for o in ctx.persona.openers if o != last]
        return self._random.choice(choices) if choices else None

    def _guard(self, ctx: DialogueContext) -> ReplyGuard:
        return ReplyGuard(ctx, instructions=instruction_sentences(ctx, self._prompt_settings(ctx)))

    def _deflection(self, ctx: DialogueContext) -> str:
        if self._fallback is not None:
            return self._fallback(ctx)
        usable = [line.text for line in ctx.persona.fallback if ctx.allows(line.when)]
        return (usable or [ctx.persona.fallback[0].text])[0]

    # -- single shot --------------------------------------------------------------------------------
    def complete_fn(self) -> Callable[[str], Awaitable[str]] | None:
        """:meth:`complete` for memory reflection when ``reflection`` is on. Off by default: on a
        small CPU a reflection (up to ``complete_tokens``) slows the turns that run meanwhile, and
        the extractive reflector works without it."""
        return self.complete if self.settings.reflection else None

    async def _complete(self, prompt: str, max_tokens: int) -> str:
        """Background work (memory reflection): it waits until no player is being answered, is
        capped at ``complete_tokens``, and streams, so a cancellation stops it at the next token."""
        await self._idle.wait()
        request = {
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": min(max_tokens, self.settings.complete_tokens),
            "temperature": 0.3,
            "cache_prompt": True,
            "id_slot": self.settings.slots - 1,
        }
        if self.settings.seed is not None:
            request["seed"] = self.settings.seed
        pieces: list[str] = []
        async with contextlib.aclosing(self._generate(request)) as deltas:
            async for delta in deltas:
                pieces.append(delta)
        return "".join(pieces)

    async def aclose(self) -> None:
        if self._warm_task is not None and not self._warm_task.done():
            self._warm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_task
        self._pool.shutdown(wait=False, cancel_futures=True)
        engine, self._engine = self._engine, None
        if engine is not None:  # the in-process server stops when its last reference goes
            await asyncio.get_running_loop().run_in_executor(None, engine.close)
