"""Runtime glue for the memory concern (docs/memory.md).

What an NPC remembers comes only from what it perceived:

- every finished turn: what the NPC heard the player say and what the player *heard* the NPC say
  (``TurnRecord.heard_text``, shorter than the reply after an interruption); other NPCs of a group
  conversation overhear both;
- persona ``memories:`` (seeded once per NPC);
- what the game or the world says the NPC witnessed or was told: ``memory_add`` on the wire, the
  facts the world's committed changes say an NPC learned (memory listens to
  ``WorldExtension.listeners``), or :meth:`MemoryExtension.observe` from another extension.

Relationship values are names of the persona expression language (``relationship.trust``, one
per configured dimension, type float): declared by :meth:`MemoryExtension.expression_names`, their
values put in ``ctx.values`` each turn, and action effects on them (``relationship.trust += 0.1``)
applied by :meth:`MemoryExtension.apply_action`. The world type-checks and evaluates them with its
own names; without a world, memory evaluates conditions that read only relationship values itself,
with the same language (:mod:`npc_runtime.world.values`).

Public methods for other extensions (``runtime.extension("memory")``): :meth:`observe`,
:meth:`relationship`, :meth:`adjust_relationship`, :meth:`learn_fact`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..dialogue.context import DialogueContext
from ..memory import InvalidMemoryError, MemoryService, MemorySettings, RelationshipChange
from ..memory.reflection import LLMReflector
from ..memory.snapshot import export_state, import_state, pack
from ..personas.schema import ActionSpec, Persona
from ..protocol import ErrorCode, Message, ProtocolError
from ..protocol.messages.memory import (
    MemoryAdd,
    MemoryAdded,
    MemoryOut,
    MemoryQuery,
    MemoryResults,
    PlayerFactAdd,
    Relationship,
    RelationshipAdjust,
    RelationshipChanged,
    RelationshipGet,
    RelationshipSet,
)
from ..world.evaluate import Fn
from ..world.expr import FLOAT, EvalError, ExprError, Hidden, Type
from ..world.personas import param_type
from ..world.values import (
    ValuesEnv,
    check_value_effect,
    compile_condition,
    condition_names,
    effect_target,
    effect_value,
)
from .extension import ActionRejected, Extension, Handler, TurnRecord

if TYPE_CHECKING:
    from .app import Runtime, Session
    from .conversations import Conversation
    from .settings import Settings

log = logging.getLogger(__name__)

REL_PREFIX = "relationship."  # persona expression names: relationship.<dimension>
# World fact sources (``witnessed``, ``told:<by>``, ``rumour:<npc>``, ``effect``) -> memory kind, importance.
_WORLD_SOURCES: dict[str, tuple[str, float]] = {
    "witnessed": ("observed", 6.0),
    "effect": ("observed", 5.0),
    "told": ("told", 5.0),
    "rumour": ("told", 4.0),
}


class MemoryExtension(Extension):
    name = "memory"

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.settings = MemorySettings.from_section(runtime.settings.memory)
        self._service: MemoryService | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reflecting: set[str] = set()
        # Conditions seen: compiled when they read only relationship values, else None (the world's)
        self._conditions: dict[str, Fn | None] = {}

    @property
    def service(self) -> MemoryService:
        if self._service is None:
            raise RuntimeError("the memory extension has not started")
        return self._service

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._service = MemoryService(self.runtime.db, self.settings, clock=self.runtime.clock)
        complete = getattr(self.runtime.provider, "complete", None)
        if (
            self.settings.reflection == "auto"
            and complete is not None
            and inspect.iscoroutinefunction(complete)
        ):
            # A provider with a language model that offers ``async complete(prompt) -> str``
            # reflects with it; the extractive method stays the fallback.
            self._service.reflector = LLMReflector(complete)
        world = self.runtime.extension("world")
        listeners = getattr(world, "listeners", None)
        if isinstance(listeners, list):
            listeners.append(self._on_world_changes)
        self._seed(self.runtime.personas.ids())

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def on_personas_changed(self, npc_ids: list[str]) -> None:
        if self._service is not None:
            self._seed(npc_ids)

    def _seed(self, npc_ids: list[str]) -> None:
        for npc_id in npc_ids:
            persona = self.runtime.personas.get(npc_id)
            if persona is None:
                continue
            seeds = [(m.text, float(m.importance), m.player, m.game_time) for m in persona.memories]
            # An NPC without seeds is not marked: memories a designer adds later are seeded then.
            if seeds and self.service.seed(npc_id, seeds):
                log.info("memory: seeded %d memories for %s", len(seeds), npc_id)

    # -- the world -------------------------------------------------------------------------
    def _on_world_changes(self, changes: Any, cause: str) -> None:
        """The world committed a change: every NPC that learned a fact (witnessed it, was told,
        heard a rumour) remembers it. Start-of-game knowledge (reset, reload) is the world's own
        and is not copied into memory."""
        if cause not in ("event", "tell", "time", "action"):
            return
        world = self.runtime.extension("world")
        svc = getattr(world, "service", None)
        facts = getattr(getattr(getattr(svc, "world", None), "file", None), "facts", None) or {}
        for npc_id, fact_id, source in getattr(changes, "learned", []):
            fact = facts.get(fact_id)
            text = getattr(fact, "text", None) or str(fact_id)
            kind, importance = _WORLD_SOURCES.get(str(source).split(":", 1)[0], ("told", 4.0))
            try:
                self.observe(npc_id, text, importance, float(changes.game_time), kind=kind)
            except InvalidMemoryError as exc:
                log.warning("memory: cannot remember world fact %s for %s: %s", fact_id, npc_id, exc)

    # -- public API for other extensions ---------------------------------------------------
    def observe(
        self,
        npc_id: str,
        text: str,
        importance: float = 5.0,
        game_time: float | None = None,
        player_id: str | None = None,
        *,
        kind: str = "observed",
    ) -> int:
        """Record that ``npc_id`` witnessed (``observed``) or was told (``told``) ``text``.

        Durable when it returns (the id of the new memory). Raises
        :class:`~npc_runtime.memory.InvalidMemoryError` for bad input."""
        t = self.runtime.game_time if game_time is None else game_time
        mid = self.service.observe(
            npc_id, text, importance=importance, game_time=t, player_id=player_id, kind=kind
        )
        self._after_write(npc_id, t)
        return mid

    def relationship(self, npc_id: str, player_id: str) -> dict[str, float]:
        """Current values, e.g. ``{"trust": 0.2, "affinity": 0.0}`` (for world conditions)."""
        return self.service.relationships.get(npc_id, player_id)

    def adjust_relationship(
        self,
        npc_id: str,
        player_id: str,
        deltas: dict[str, float],
        *,
        reason: str | None = None,
        absolute: bool = False,
    ) -> RelationshipChange:
        """Add (or set) values, clamped to their bounds; sends ``relationship_changed``."""
        change = self.service.adjust_relationship(
            npc_id, player_id, deltas, game_time=self.runtime.game_time, reason=reason, absolute=absolute
        )
        if change.changes:
            self._spawn(self._announce(change))
        return change

    def learn_fact(self, npc_id: str, player_id: str, kind: str, text: str) -> bool:
        """Remember a fact about a player (kind: name, promise, deed, fact)."""
        return self.service.facts.add(npc_id, player_id, kind, text, game_time=self.runtime.game_time)

    # -- turns -----------------------------------------------------------------------------
    async def _ensure_index(self, npc_id: str) -> None:
        """Load an NPC's vectors in a worker thread (about 1.5 s per 100,000 memories), so the
        first turn with a long-lived NPC does not stall every other conversation."""
        store = self.service.store
        if not store.has_index(npc_id):
            built = await asyncio.to_thread(store.build_index, npc_id)
            store.install_index(npc_id, built)

    async def contribute_context(self, conv: Conversation, ctx: DialogueContext) -> None:
        await self._ensure_index(ctx.persona.id)
        part = self.service.context(
            ctx.persona.id, ctx.player_id, ctx.player_text or None, self.runtime.game_time
        )
        ctx.memories = part.memories
        ctx.relationship = part.relationship
        ctx.player_facts = part.player_facts
        ctx.values.update(_named(part.relationship))
        ctx.condition = self._fallback_condition(ctx.condition, ctx.values)

    async def on_turn_done(self, conv: Conversation, record: TurnRecord) -> None:
        t = record.game_time if record.game_time is not None else self.runtime.game_time
        svc = self.service
        svc.remember_turn(
            record.npc_id,
            record.player_id,
            player_text=record.player_text,
            heard_text=record.heard_text,
            game_time=t,
            conversation_id=record.conversation_id,
            routine=record.source in ("greeting", "farewell"),
        )
        for other in conv.npc_ids:
            if other != record.npc_id:
                svc.remember_overheard(
                    other,
                    record.player_id,
                    speaker=record.npc_id,
                    player_text=record.player_text,
                    heard_text=record.heard_text,
                    game_time=t,
                    conversation_id=record.conversation_id,
                )
        for npc_id in conv.npc_ids:
            self._after_write(npc_id, t)

    async def apply_action(
        self, conv: Conversation, npc_id: str, spec: ActionSpec, args: dict[str, Any]
    ) -> None:
        """Apply the action's effects on ``relationship.<dimension>`` (``+=``, ``-=``, ``=``); the
        world (which runs first) applied or refused the rest. All are evaluated before any applies."""
        types = self._types(spec)
        env: dict[str, Any] = {**_named(self.relationship(npc_id, conv.player_id))}
        env.update({f"arg.{k}": v for k, v in args.items()})
        deltas: dict[str, float] = {}
        absolute: dict[str, float] = {}
        for effect in spec.effects:
            target = effect_target(effect)
            if target is None or not target.startswith(REL_PREFIX):
                continue
            try:
                _, op, value = effect_value(effect, types, env)
            except (ExprError, EvalError, Hidden, ArithmeticError) as exc:
                raise ActionRejected(f"action '{spec.name}': effect '{effect}': {exc}") from None
            dim = target[len(REL_PREFIX) :]
            if op == "=":
                absolute[dim] = float(value)
                deltas.pop(dim, None)
            else:
                deltas[dim] = deltas.get(dim, 0.0) + (float(value) if op == "+=" else -float(value))
        if absolute:
            self.adjust_relationship(
                npc_id, conv.player_id, absolute, reason=f"action:{spec.name}", absolute=True
            )
        if deltas:
            self.adjust_relationship(npc_id, conv.player_id, deltas, reason=f"action:{spec.name}")

    @classmethod
    def expression_names(cls, settings: Settings) -> dict[str, str]:
        dims = MemorySettings.from_section(settings.memory).relationships
        return {REL_PREFIX + dim: "float" for dim in dims}

    def expression_values(self, npc_id: str, player_id: str) -> dict[str, Any]:
        return _named(self.relationship(npc_id, player_id))

    def _types(self, spec: ActionSpec | None = None) -> dict[str, Type]:
        types: dict[str, Type] = {REL_PREFIX + dim: FLOAT for dim in self.settings.relationships}
        if spec is not None:
            types.update({f"arg.{k}": param_type(p) for k, p in spec.params.items()})
        return types

    def _fallback_condition(
        self, inner: Callable[[str], bool], values: dict[str, Any]
    ) -> Callable[[str], bool]:
        """A condition checker that evaluates conditions reading only relationship values itself
        (the same expression language as the world's, so it works without a world); every other
        condition goes to ``inner`` (the world's checker, which reads ``ctx.values`` too)."""
        types = self._types()

        def check(src: str) -> bool:
            if src not in self._conditions:
                names = condition_names(src)
                mine = bool(names) and all(n.startswith(REL_PREFIX) for n in names or ())
                # ExprError (a misspelt dimension): raised again on every call; ctx.allows says false
                self._conditions[src] = compile_condition(src, types) if mine else None
            fn = self._conditions[src]
            return inner(src) if fn is None else bool(fn(ValuesEnv(values)))

        return check

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        """Relationship names in conditions and effects. With a world loaded, the world checks
        them (with every other name); without one, memory does."""
        world = self.runtime.extension("world")
        if world is not None and getattr(world, "active", False):
            return []
        types = self._types()
        problems: list[tuple[str, str]] = []
        for path, src in persona.conditions():
            names = condition_names(src)
            if names and all(n.startswith(REL_PREFIX) for n in names):
                try:
                    compile_condition(src, types)
                except ExprError as exc:
                    problems.append((path, _problem(exc, src)))
        for i, action in enumerate(persona.actions):
            for j, effect in enumerate(action.effects):
                target = effect_target(effect)
                if target is not None and target.startswith(REL_PREFIX):
                    try:
                        check_value_effect(effect, self._types(action))
                    except ExprError as exc:
                        problems.append((f"actions.{i}.effects.{j}", _problem(exc, effect)))
        return problems

    def _after_write(self, npc_id: str, now: float) -> None:
        if npc_id not in self._reflecting and self.service.reflection_due(npc_id):
            persona = self.runtime.personas.get(npc_id)
            name = persona.name if persona is not None else npc_id
            if self._spawn(self._reflect(npc_id, name, now)):
                self._reflecting.add(npc_id)

    async def _reflect(self, npc_id: str, name: str, now: float) -> None:
        try:
            ids = await self.service.reflect(npc_id, name, now)
            if ids:
                log.info("memory: %s reflected (%d new insights)", npc_id, len(ids))
        except Exception:
            log.exception("memory: reflection for %s failed", npc_id)
        finally:
            self._reflecting.discard(npc_id)

    async def _announce(self, change: RelationshipChange) -> None:
        await self.runtime.broadcast(
            RelationshipChanged(
                npc_id=change.npc_id,
                player_id=change.player_id,
                values=change.values,
                changes=change.changes,
                reason=change.reason,
            )
        )

    def _spawn(self, coro: Any) -> bool:
        """Run ``coro`` in the background on the runtime's loop; False outside a running loop
        (e.g. a tool calling in from a thread: then there is nobody to notify, and reflection
        waits for the next write made on the loop)."""
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return False
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    # -- wire ------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        return {
            "memory_add": self._on_memory_add,
            "memory_query": self._on_memory_query,
            "relationship_get": self._on_relationship_get,
            "relationship_adjust": self._on_relationship_adjust,
            "relationship_set": self._on_relationship_set,
            "player_fact_add": self._on_player_fact_add,
        }

    def _npc(self, npc_id: str, ref: Any) -> str:
        if self.runtime.personas.get(npc_id) is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_NPC,
                f"unknown NPC id '{npc_id}'; known: {', '.join(self.runtime.personas.ids())}",
                ref=ref,
            )
        return npc_id

    async def _on_memory_add(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, MemoryAdd)
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            mid = self.observe(npc_id, msg.text, msg.importance, msg.game_time, msg.player_id, kind=msg.kind)
        await self.runtime.send(session, MemoryAdded(ref=msg.id, npc_id=npc_id, memory_id=mid))

    async def _on_memory_query(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, MemoryQuery)
        npc_id = self._npc(msg.npc_id, msg.id)
        await self._ensure_index(npc_id)
        with _wire_errors(msg.id):
            found = self.service.retrieve(
                npc_id, msg.query, self.runtime.game_time, k=msg.limit, player_id=msg.player_id
            )
        out = [
            MemoryOut(
                id=r.memory.id,
                kind=r.memory.kind,
                text=r.memory.text,
                importance=r.memory.importance,
                game_time=r.memory.game_time,
                player_id=r.memory.player_id,
                score=round(r.score, 4),
                recency=round(r.recency, 4),
                importance_score=round(r.importance, 4),
                relevance=round(r.relevance, 4),
            )
            for r in found
        ]
        await self.runtime.send(session, MemoryResults(ref=msg.id, npc_id=npc_id, memories=out))

    async def _reply_relationship(self, session: Session, ref: Any, npc_id: str, player_id: str) -> None:
        await self.runtime.send(
            session,
            Relationship(
                ref=ref,
                npc_id=npc_id,
                player_id=player_id,
                values=self.relationship(npc_id, player_id),
                facts=self.service.facts.describe(npc_id, player_id),
            ),
        )

    async def _on_relationship_get(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, RelationshipGet)
        npc_id = self._npc(msg.npc_id, msg.id)
        await self._reply_relationship(session, msg.id, npc_id, msg.player_id)

    async def _on_relationship_adjust(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, RelationshipAdjust)
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            self.adjust_relationship(npc_id, msg.player_id, msg.changes, reason=msg.reason or "game")
        await self._reply_relationship(session, msg.id, npc_id, msg.player_id)

    async def _on_relationship_set(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, RelationshipSet)
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            self.adjust_relationship(
                npc_id, msg.player_id, msg.values, reason=msg.reason or "game", absolute=True
            )
        await self._reply_relationship(session, msg.id, npc_id, msg.player_id)

    async def _on_player_fact_add(self, session: Session, msg: Message) -> None:
        assert isinstance(msg, PlayerFactAdd)
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            self.learn_fact(npc_id, msg.player_id, msg.kind, msg.text)
        await self._reply_relationship(session, msg.id, npc_id, msg.player_id)

    # -- saves -----------------------------------------------------------------------------
    def save_part(self) -> Any:
        with self.runtime.db.transaction() as conn:
            return pack(export_state(conn))

    def load_part(self, data: Any, conn: sqlite3.Connection) -> None:
        import_state(conn, data, self.service.store.embedder)

    def after_load(self) -> None:
        self.service.store.invalidate()
        self._seed(self.runtime.personas.ids())  # NPCs added after the save was made


def _named(relationship: dict[str, float]) -> dict[str, Any]:
    """``{"trust": 0.2}`` -> ``{"relationship.trust": 0.2}`` (names of the expression language)."""
    return {REL_PREFIX + dim: float(v) for dim, v in relationship.items()}


def _problem(exc: ExprError, src: str) -> str:
    col = f" (column {exc.col})" if exc.col else ""
    return f"{exc.message}{col} in '{src}'"


@contextmanager
def _wire_errors(ref: Any) -> Iterator[None]:
    """Turn :class:`InvalidMemoryError` into a typed ``error`` answering message ``ref``."""
    try:
        yield
    except InvalidMemoryError as exc:
        raise ProtocolError(ErrorCode.MEMORY_INVALID, str(exc), ref=ref) from None
