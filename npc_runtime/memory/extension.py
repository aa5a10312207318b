"""The memory concern's extension (docs/memory.md).

What an NPC remembers comes only from what it perceived:

- every finished turn: what the NPC heard the player say and what the player *heard* the NPC say
  (``TurnRecord.heard_text``, shorter than the reply after an interruption); other NPCs of a group
  conversation overhear both;
- persona ``memories:`` (seeded once per NPC);
- what the game or the world says the NPC witnessed or was told: ``memory_add`` on the wire, the
  facts the world's committed changes say an NPC learned (memory follows the
  :class:`~npc_runtime.host.WorldFeed` the host gives it), or :meth:`MemoryExtension.observe`.

Relationship values are names of the persona expression language (``relationship.trust``, one
per configured dimension, type float): declared by :meth:`MemoryExtension.expression_names`, their
values given with each turn's context part (and to the world as its
:class:`~npc_runtime.host.ValueSource`), and action effects on them (``relationship.trust += 0.1``)
applied by :meth:`MemoryExtension.apply_action`. Conditions that read only relationship values are
judged here, with the same language (:mod:`npc_runtime.expr.values`), so they work without a world.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..dialogue.context import ContextPart
from ..expr import FLOAT, EvalError, ExprError, Hidden, Type, param_type
from ..expr.evaluate import Fn
from ..expr.values import (
    ValuesEnv,
    check_value_effect,
    compile_condition,
    condition_names,
    effect_target,
    effect_value,
)
from ..host import (
    ActionRejected,
    ContextRequest,
    ConversationView,
    Extension,
    Host,
    Peer,
    Route,
    TurnRecord,
    WorldFeed,
    route,
)
from ..personas.schema import ActionSpec, Persona
from ..protocol import ErrorCode, ProtocolError
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
from ..storage.postgres import current_request
from ..storage.shared import SqlConnection
from .reflection import LLMReflector
from .relations import RelationshipChange
from .service import MemoryService
from .settings import MemorySettings
from .snapshot import export_state, import_state, pack
from .types import InvalidMemoryError

if TYPE_CHECKING:
    from ..settings import Settings

Complete = Callable[[str], Awaitable[str]]  # single-shot completion of a language model

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

    def __init__(self, host: Host, *, complete: Complete | None = None) -> None:
        """``complete``: a language model's single-shot completion; with it (and reflection
        "auto") NPCs reflect with the model, the extractive method staying the fallback."""
        super().__init__(host)
        self.settings = MemorySettings.from_section(host.settings.memory)
        self._complete = complete
        self._world: WorldFeed | None = None
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
        self._service = MemoryService(self.host.db, self.settings, clock=self.host.clock)
        if self.settings.reflection == "auto" and self._complete is not None:
            self._service.reflector = LLMReflector(self._complete)
        self._seed(self.host.personas.ids())

    async def stop(self) -> None:
        # Reflection with a language model can take long; an insight not made is made next time
        # (nothing acknowledged is lost), so shutdown does not wait for it.
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def on_personas_changed(self, npc_ids: list[str]) -> None:
        if self._service is not None:
            self._seed(npc_ids)

    def _seed(self, npc_ids: list[str]) -> None:
        for npc_id in npc_ids:
            persona = self.host.personas.get(npc_id)
            if persona is None:
                continue
            seeds = [(m.text, float(m.importance), m.player, m.game_time) for m in persona.memories]
            # An NPC without seeds is not marked: memories a designer adds later are seeded then.
            if seeds and self.service.seed(npc_id, seeds):
                log.info("memory: seeded %d memories for %s", len(seeds), npc_id)

    # -- the world -------------------------------------------------------------------------
    def follow(self, world: WorldFeed) -> None:
        """Remember what NPCs learn from the world's committed changes (wired by the host)."""
        self._world = world
        world.subscribe(self._on_world_changes)

    def _on_world_changes(self, changes: Any, cause: str) -> None:
        """The world committed a change: every NPC that learned a fact (witnessed it, was told,
        heard a rumour) remembers it. Start-of-game knowledge (reset, reload) is the world's own
        and is not copied into memory."""
        if cause not in ("event", "tell", "time", "action"):
            return
        world = self._world
        for npc_id, fact_id, source in changes.learned:
            text = (world.fact_text(fact_id) if world is not None else None) or str(fact_id)
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
        t = self.host.game_time if game_time is None else game_time
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
            npc_id, player_id, deltas, game_time=self.host.game_time, reason=reason, absolute=absolute
        )
        if change.changes:
            self._spawn(self._announce(change))
        return change

    def learn_fact(self, npc_id: str, player_id: str, kind: str, text: str) -> bool:
        """Remember a fact about a player (kind: name, promise, deed, fact)."""
        return self.service.facts.add(npc_id, player_id, kind, text, game_time=self.host.game_time)

    # -- turns -----------------------------------------------------------------------------
    async def _ensure_index(self, npc_id: str) -> None:
        """Load an NPC's vectors in a worker thread (about 1.5 s per 100,000 memories), so the
        first turn with a long-lived NPC does not stall every other conversation."""
        store = self.service.store
        if not store.has_index(npc_id):
            built = await asyncio.to_thread(store.build_index, npc_id)
            store.install_index(npc_id, built)

    async def context_part(self, request: ContextRequest) -> ContextPart:
        npc_id = request.persona.id
        await self._ensure_index(npc_id)
        part = self.service.context(
            npc_id, request.player_id, request.player_text or None, self.host.game_time
        )
        return ContextPart(
            memories=part.memories,
            relationship=part.relationship,
            player_facts=part.player_facts,
            player_name=part.player_name,
            values=_named(part.relationship),
            judge=self._judge,
        )

    async def on_turn_done(self, conv: ConversationView, record: TurnRecord) -> None:
        t = record.game_time if record.game_time is not None else self.host.game_time
        svc = self.service
        request = current_request.get()  # cluster mode: the turn's input, so a re-run writes once
        svc.remember_turn(
            record.npc_id,
            record.player_id,
            player_text=record.player_text,
            heard_text=record.heard_text,
            game_time=t,
            conversation_id=record.conversation_id,
            routine=record.source in ("greeting", "farewell"),
            request=request,
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
                    request=request,
                )
        for npc_id in conv.npc_ids:
            self._after_write(npc_id, t)

    async def apply_action(
        self, conv: ConversationView, npc_id: str, spec: ActionSpec, args: dict[str, Any]
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

    def _judge(self, src: str, values: Mapping[str, Any]) -> bool | None:
        """Judge conditions that read only relationship values (the same expression language as
        the world's, so they work without a world); None leaves any other to the next judge."""
        if src not in self._conditions:
            names = condition_names(src)
            mine = bool(names) and all(n.startswith(REL_PREFIX) for n in names or ())
            # ExprError (a misspelt dimension): raised again on every call; ctx.allows says false
            self._conditions[src] = compile_condition(src, self._types()) if mine else None
        fn = self._conditions[src]
        return None if fn is None else bool(fn(ValuesEnv(dict(values))))

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        """Relationship names in conditions and effects. With a world loaded, the world checks
        them (with every other name); without one, memory does."""
        if self._world is not None and self._world.active:
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
            persona = self.host.personas.get(npc_id)
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
        await self.host.broadcast(
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
    def routes(self) -> list[Route[Any]]:
        return [
            route(MemoryAdd, self._on_memory_add),
            route(MemoryQuery, self._on_memory_query),
            route(RelationshipGet, self._on_relationship_get),
            route(RelationshipAdjust, self._on_relationship_adjust),
            route(RelationshipSet, self._on_relationship_set),
            route(PlayerFactAdd, self._on_player_fact_add),
        ]

    def _npc(self, npc_id: str, ref: Any) -> str:
        if self.host.personas.get(npc_id) is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_NPC,
                f"unknown NPC id '{npc_id}'; known: {', '.join(self.host.personas.ids())}",
                ref=ref,
            )
        return npc_id

    async def _on_memory_add(self, peer: Peer, msg: MemoryAdd) -> None:
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            mid = self.observe(npc_id, msg.text, msg.importance, msg.game_time, msg.player_id, kind=msg.kind)
        await self.host.send(peer, MemoryAdded(ref=msg.id, npc_id=npc_id, memory_id=mid))

    async def _on_memory_query(self, peer: Peer, msg: MemoryQuery) -> None:
        npc_id = self._npc(msg.npc_id, msg.id)
        await self._ensure_index(npc_id)
        with _wire_errors(msg.id):
            found = self.service.retrieve(
                npc_id, msg.query, self.host.game_time, k=msg.limit, player_id=msg.player_id
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
        await self.host.send(peer, MemoryResults(ref=msg.id, npc_id=npc_id, memories=out))

    async def _reply_relationship(self, peer: Peer, ref: Any, npc_id: str, player_id: str) -> None:
        await self.host.send(
            peer,
            Relationship(
                ref=ref,
                npc_id=npc_id,
                player_id=player_id,
                values=self.relationship(npc_id, player_id),
                facts=self.service.facts.describe(npc_id, player_id),
            ),
        )

    async def _on_relationship_get(self, peer: Peer, msg: RelationshipGet) -> None:
        npc_id = self._npc(msg.npc_id, msg.id)
        await self._reply_relationship(peer, msg.id, npc_id, msg.player_id)

    async def _on_relationship_adjust(self, peer: Peer, msg: RelationshipAdjust) -> None:
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            self.adjust_relationship(npc_id, msg.player_id, msg.changes, reason=msg.reason or "game")
        await self._reply_relationship(peer, msg.id, npc_id, msg.player_id)

    async def _on_relationship_set(self, peer: Peer, msg: RelationshipSet) -> None:
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            self.adjust_relationship(
                npc_id, msg.player_id, msg.values, reason=msg.reason or "game", absolute=True
            )
        await self._reply_relationship(peer, msg.id, npc_id, msg.player_id)

    async def _on_player_fact_add(self, peer: Peer, msg: PlayerFactAdd) -> None:
        npc_id = self._npc(msg.npc_id, msg.id)
        with _wire_errors(msg.id):
            self.learn_fact(npc_id, msg.player_id, msg.kind, msg.text)
        await self._reply_relationship(peer, msg.id, npc_id, msg.player_id)

    # -- saves -----------------------------------------------------------------------------
    def save_part(self) -> Any:
        with self.host.db.transaction() as conn:
            return pack(export_state(conn))

    def load_part(self, data: Any, conn: SqlConnection) -> None:
        bounds = {dim: (b.min, b.max) for dim, b in self.settings.relationships.items()}
        import_state(conn, data, self.service.store.embedder, bounds, shared=self.host.db.shared)

    def after_load(self) -> None:
        self.service.store.invalidate()
        self._seed(self.host.personas.ids())  # NPCs added after the save was made


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
