"""Run a character test suite against a dialogue provider, over a real runtime.

Every scenario gets its own SQLite file and an embedded :class:`~npc_runtime.runtime.app.Runtime`
bound to a loopback ZeroMQ port; the suite talks to it as a game does (``AsyncClient``: world
events, a conversation, player lines). A ``restart`` step stops that runtime and starts a new one
on the same file. A language-model provider is built once and shared by the runtimes of the whole
suite (the model loads once and keeps its per-NPC caches); with ``authored`` each runtime builds
its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..dialogue.base import DialogueChunk, DialogueProvider
from ..dialogue.context import DialogueContext
from ..dialogue.guard import out_of_character
from ..dialogue.providers.authored import FallbackPicker
from ..protocol.messages import GameTime, NpcTextFinal
from ..protocol.messages.world import WorldEventMsg, WorldStateQuery, WorldStateReply, WorldTell
from ..runtime.app import Runtime, build_provider
from ..settings import Settings
from ..transport.client import AsyncClient
from .suite import Expect, Scenario, Step, Suite

__all__ = ["ScenarioResult", "SuiteResult", "TurnResult", "run_suite"]


@dataclass
class TurnResult:
    step: int
    say: str
    reply: str
    source: str
    actions: list[dict[str, Any]]
    warnings: list[str]
    seconds: float
    failures: list[str] = field(default_factory=list)


@dataclass
class ScenarioResult:
    id: str
    npc: str
    tags: list[str]
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(not t.failures for t in self.turns)


@dataclass
class SuiteResult:
    suite: str
    provider: str
    scenarios: list[ScenarioResult]
    seconds: float

    @property
    def passed(self) -> int:
        return sum(1 for s in self.scenarios if s.passed)

    @property
    def checks(self) -> tuple[int, int]:
        turns = [t for s in self.scenarios for t in s.turns]
        return sum(1 for t in turns if not t.failures), len(turns)

    def as_json(self) -> dict[str, Any]:
        ok, total = self.checks
        return {
            "suite": self.suite,
            "provider": self.provider,
            "passed": self.passed,
            "scenarios": len(self.scenarios),
            "pass_rate": round(self.passed / len(self.scenarios), 3) if self.scenarios else 0.0,
            "turns_passed": ok,
            "turns": total,
            "seconds": round(self.seconds, 1),
            "results": [
                {**asdict(s), "passed": s.passed, "turns": [asdict(t) for t in s.turns]}
                for s in self.scenarios
            ],
        }


class _Shared(DialogueProvider):
    """Lends one provider to several runtimes in turn: their ``stop`` does not close it."""

    name: ClassVar[str] = "shared"

    def __init__(self, inner: DialogueProvider) -> None:
        super().__init__(first_chunk_timeout=inner.first_chunk_timeout, total_timeout=inner.total_timeout)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # the runtime reads it to pick authored turns

    def stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:
        return self.inner.stream(ctx)

    def _stream(self, ctx: DialogueContext) -> AsyncIterator[DialogueChunk]:  # pragma: no cover
        return self.inner.stream(ctx)

    def complete_fn(self) -> Callable[[str], Awaitable[str]] | None:
        return self.inner.complete_fn()

    async def complete(self, prompt: str, *, max_tokens: int = 256) -> str:
        return await self.inner.complete(prompt, max_tokens=max_tokens)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("\u2019", "'").split())


def mentions(text: str, term: str) -> bool:
    """``term`` occurs in ``text`` as whole words (case-insensitive; "wolf" does not match "wolves")."""
    return re.search(rf"(?<![a-z0-9]){re.escape(_norm(term))}(?![a-z0-9])", _norm(text)) is not None


def check(
    expect: Expect,
    final: NpcTextFinal,
    warnings: list[tuple[str, str]],
    fallback_lines: list[str],
    state: dict[str, Any] | None,
) -> list[str]:
    """Every way the reply misses the expectation (empty: passed)."""
    text = final.text
    failures: list[str] = []
    if expect.mentions_any and not any(mentions(text, t) for t in expect.mentions_any):
        failures.append(f"mentions none of {expect.mentions_any}")
    for term in expect.mentions_all:
        if not mentions(text, term):
            failures.append(f"does not mention {term!r}")
    for term in expect.must_not_mention:
        if mentions(text, term):
            failures.append(f"mentions {term!r}")
    taken = {a.name: a.args for a in final.actions}
    if expect.action is not None:
        args = taken.get(expect.action.name)
        if args is None:
            failures.append(f"action {expect.action.name} not taken (taken: {sorted(taken) or 'none'})")
        else:
            for k, v in expect.action.args.items():
                if args.get(k) != v:
                    failures.append(f"action {expect.action.name}: {k}={args.get(k)!r}, expected {v!r}")
    if expect.no_action is True and taken:
        failures.append(f"took {sorted(taken)}, expected no action")
    elif isinstance(expect.no_action, str) and expect.no_action in taken:
        failures.append(f"took {expect.no_action}")
    if expect.rejected is not None:
        refused = [m for code, m in warnings if code == "action_rejected"]
        if not refused or expect.rejected in taken:
            failures.append(f"{expect.rejected} was not refused (warnings: {refused or 'none'})")
    if expect.in_character:
        broke = out_of_character(text)
        if broke:
            failures.append(f"out of character: {broke!r}")
    if expect.answered is not None:
        answered = final.source != "fallback" and _norm(text) not in {_norm(f) for f in fallback_lines}
        if answered != expect.answered:
            failures.append(
                "answered with a fallback line" if expect.answered else "answered, expected a fallback"
            )
    if expect.source is not None and final.source != expect.source:
        failures.append(f"source {final.source}, expected {expect.source}")
    for name, value in expect.state.items():
        got = (state or {}).get(name)
        if got != value:
            failures.append(f"world {name} = {got!r}, expected {value!r}")
    return failures


class _Session:
    """One scenario's runtime, client and conversation (re-made by ``restart``)."""

    def __init__(
        self,
        suite: Suite,
        scenario: Scenario,
        db: Path,
        dialogue: dict[str, Any],
        shared: _Shared | None,
        runtime: dict[str, Any] | None = None,
    ):
        self.suite = suite
        self.scenario = scenario
        self.settings = Settings(
            bind="tcp://127.0.0.1:0",
            personas_dir=suite.personas_dir,
            db=str(db),
            dialogue=dialogue,
            voice={"enabled": False},  # text turns: no speech models to load for each scenario
            log_level="WARNING",
            **(runtime or {}),
        )
        self.shared = shared
        self.runtime: Runtime | None = None
        self.client: AsyncClient | None = None
        self.conversation: str | None = None
        self.game_time = 0.0

    async def open(self) -> None:
        self.runtime = Runtime(self.settings, provider=self.shared)
        endpoint = await self.runtime.start()
        self.client = AsyncClient(endpoint, name="npc-runtime-eval")
        await self.client.connect(timeout=10.0)
        started = await self.client.start_conversation(
            self.scenario.npc, player_id=self.scenario.player, greet=False
        )
        self.conversation = started.conversation_id

    async def close(self) -> None:
        if self.client is not None:
            if self.conversation is not None:
                with contextlib.suppress(Exception):
                    await self.client.end_conversation(self.conversation)
            await self.client.close()
        if self.runtime is not None:
            await self.runtime.stop()
        self.client = self.runtime = self.conversation = None

    def fallback_lines(self) -> list[str]:
        assert self.runtime is not None
        persona = self.runtime.personas.get(self.scenario.npc)
        return [line.text for line in persona.fallback] if persona else []

    async def state(self) -> dict[str, Any]:
        assert self.client is not None
        reply = await self.client.request(WorldStateQuery())
        return dict(reply.variables) if isinstance(reply, WorldStateReply) else {}

    async def step(self, index: int, step: Step, turn_timeout: float) -> TurnResult | None:
        assert self.client is not None and self.conversation is not None
        if step.restart:
            await self.close()
            await self.open()
            return None
        if step.game_time is not None:
            self.game_time = step.game_time
            await self.client.send(GameTime(hours=step.game_time))
            return None
        if step.tell is not None:
            await self.client.request(WorldTell(npc_id=step.tell["npc"], fact=step.tell["fact"]))
            return None
        if step.say is None:
            msg = WorldEventMsg(
                kind=step.kind,
                name=step.event,
                payload=step.payload,
                witnesses=step.witnesses,
                **step.fields,
            )
            await self.client.request(msg)
            return None
        started = time.perf_counter()
        final = await self.client.say(self.conversation, step.say, timeout=turn_timeout)
        seconds = time.perf_counter() - started
        warnings: list[tuple[str, str]] = []
        while True:
            try:
                w = await self.client.next_event(timeout=0.05, types=("warning",))
            except TimeoutError:
                break
            warnings.append((str(getattr(w, "code", "")), str(getattr(w, "message", ""))))
        state = await self.state() if step.expect.state else None
        return TurnResult(
            step=index,
            say=step.say,
            reply=final.text,
            source=final.source,
            actions=[{"name": a.name, "args": a.args} for a in final.actions],
            warnings=[f"{c}: {m}" for c, m in warnings],
            seconds=round(seconds, 2),
            failures=check(step.expect, final, warnings, self.fallback_lines(), state),
        )


async def run_scenario(
    suite: Suite,
    scenario: Scenario,
    dialogue: dict[str, Any],
    shared: _Shared | None,
    *,
    turn_timeout: float,
    folder: Path,
    runtime: dict[str, Any] | None = None,
) -> ScenarioResult:
    result = ScenarioResult(scenario.id, scenario.npc, list(scenario.tags))
    session = _Session(suite, scenario, folder / f"{scenario.id}.sqlite3", dialogue, shared, runtime)
    try:
        await session.open()
        for i, step in enumerate(scenario.steps):
            turn = await session.step(i, step, turn_timeout)
            if turn is not None:
                result.turns.append(turn)
    except Exception as exc:  # a broken scenario is reported, the suite goes on
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        await session.close()
    return result


async def run_suite(
    suite: Suite,
    dialogue: dict[str, Any],
    *,
    only: list[str] | None = None,
    turn_timeout: float = 300.0,
    progress: Callable[[ScenarioResult], None] | None = None,
    runtime: dict[str, Any] | None = None,
) -> SuiteResult:
    """Run the selected scenarios one after another; ``dialogue`` is the runtime's dialogue section,
    ``runtime`` other runtime settings (``prefer_authored``, ``memory``, ...)."""
    started = time.perf_counter()
    name = str(dialogue.get("provider", "authored"))
    shared: _Shared | None = None
    inner: DialogueProvider | None = None
    if name != "authored":
        inner = build_provider(dialogue, FallbackPicker())
        load = getattr(inner, "load", None)
        if load is not None:
            await load()  # before any runtime serves: loading a model can hold the GIL for seconds
        shared = _Shared(inner)
    results: list[ScenarioResult] = []
    try:
        with tempfile.TemporaryDirectory(prefix="npc-eval-") as tmp:
            for scenario in suite.select(only):
                r = await run_scenario(
                    suite,
                    scenario,
                    dialogue,
                    shared,
                    turn_timeout=turn_timeout,
                    folder=Path(tmp),
                    runtime=runtime,
                )
                results.append(r)
                if progress is not None:
                    progress(r)
    finally:
        if inner is not None:
            await inner.aclose()
    return SuiteResult(suite.suite, name, results, time.perf_counter() - started)


def run_suite_sync(suite: Suite, dialogue: dict[str, Any], **kw: Any) -> SuiteResult:
    return asyncio.run(run_suite(suite, dialogue, **kw))
