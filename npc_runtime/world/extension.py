"""The world concern's extension: wire messages, each NPC's view for dialogue, actions, saves.

The world file comes from ``settings.world.file``, or is the single ``*.world.yaml`` in the personas
folder; with none, the extension stays inactive (NPCs then have no world view, and world messages
are answered with a ``world_unavailable`` error). State and the event log live in the runtime's
SQLite file; every event is committed in one transaction before it is acknowledged. With
``world.shared_db`` (a PostgreSQL URL; cluster mode, docs/scaling.md) they live in PostgreSQL,
shared by several runtime workers: this worker's state is a replica that follows the shared log
(a NOTIFY doorbell, a catch-up on every ring, a slow poll) and tells its clients what other
workers changed with the usual ``world_changed``.

It is also the :class:`~npc_runtime.host.WorldFeed` other concerns follow (memory remembers what
NPCs learned) and it lists the scene's names for speech recognition (:meth:`scene_names`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..dialogue.context import ContextPart
from ..errors import ConfigError, SaveFormatError
from ..expr import Type
from ..expr.values import effect_target
from ..host import (
    ActionRejected,
    ContextRequest,
    ConversationView,
    Extension,
    Host,
    Peer,
    Route,
    ValueSource,
    WorldListener,
    route,
)
from ..personas.schema import ActionSpec, Persona
from ..personas.yamlfile import Problem
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages.conversation import ContentProblem
from ..protocol.messages.world import (
    EVENT_FIELD_NAMES,
    FactOut,
    LearnedOut,
    TransitionOut,
    WorldChanged,
    WorldEventApplied,
    WorldEventMsg,
    WorldFileError,
    WorldReset,
    WorldStateQuery,
    WorldStateReply,
    WorldTell,
)
from ..storage.postgres import Doorbell, PgDatabase, current_request, is_postgres_url
from ..storage.shared import SharedDatabase, SqlConnection
from .compiled import WORLD_SUFFIX, load_world, parse_world_text
from .engine import Changes, WorldEvent, WorldRejected
from .lint_hooks import expression_types
from .personas import check_persona
from .pgstore import CHANNEL, PgWorldStore
from .service import WorldService
from .state import WorldState
from .store import WorldLog, WorldStore

log = logging.getLogger(__name__)


class WorldSettings(BaseModel):
    """The ``[world]`` section of the runtime settings."""

    model_config = ConfigDict(extra="forbid")

    file: Path | None = None  # default: the single *.world.yaml in the personas folder
    enabled: bool = True
    hot_reload: bool = True  # watch the world file and reconcile the live state with edits
    reconcile: Literal["reconcile", "refuse"] = "reconcile"  # saves from a changed world file
    # Cluster mode: the world's state and log in PostgreSQL, shared with other workers.
    shared_db: str | None = None  # postgresql://user@host:port/db
    instance: str = "default"  # which world instance (one shared world; several for regions/shards)
    poll_interval: float = Field(default=1.0, gt=0)  # seconds between catch-ups without a NOTIFY
    owner: str = "npc-runtime"  # the connection's name: a cluster worker's id (fencing ends its sessions)

    @field_validator("shared_db")
    @classmethod
    def _postgres_only(cls, v: str | None) -> str | None:
        if v is not None and not is_postgres_url(v):
            raise ValueError("must be a postgresql:// URL")
        return v


def delta_fields(changes: Changes) -> dict[str, Any]:
    """The wire form of a change set (shared by world_event_applied and world_changed)."""
    return {
        "seq": changes.seq,
        "game_time": changes.game_time,
        "variables": {k: v[1] for k, v in changes.vars.items()},
        "quests": {k: v[1] for k, v in changes.quests.items()},
        "transitions": [
            TransitionOut(
                quest=f.quest,
                transition=f.transition,
                from_state=f.from_state,
                to_state=f.to_state,
                silent=f.say is None,
                say_npc=f.say[0] if f.say else None,
                say_text=f.say[1] if f.say else None,
            )
            for f in changes.fired
        ],
        "relations_added": [list(r) for r in changes.relations_added],
        "relations_removed": [list(r) for r in changes.relations_removed],
        "learned": [LearnedOut(npc=n, fact=f, source=s) for n, f, s in changes.learned],
    }


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def full_fields(state: WorldState) -> dict[str, Any]:
    return {
        "seq": state.seq,
        "game_time": state.game_time,
        "variables": dict(state.vars),
        "quests": dict(state.quests),
    }


class WorldExtension(Extension):
    name = "world"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.service: WorldService | None = None
        self.settings = WorldSettings()
        self._loading: tuple[WorldState, list[str]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.path: Path | None = None
        self._stamp: tuple[int, int] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._listeners: list[WorldListener] = []
        # Names other concerns own in persona conditions and effects (relationship.trust), and
        # where their values come from; wired by the host (use_values).
        self.external: dict[str, Type] = {}
        self._value_sources: list[ValueSource] = []
        self._shared: PgDatabase | None = None  # cluster mode's connection
        self._follower: asyncio.Task[None] | None = None
        self._followed: list[tuple[WorldEvent, Changes]] = []  # other workers' events, to announce
        self._reloads_seen = 0  # the service's whole-state reloads already announced

    def use_values(self, names: Mapping[str, str], sources: Sequence[ValueSource]) -> None:
        """Names other concerns own (name -> type name) and the concerns that give their values."""
        self.external = expression_types(names)
        self._value_sources = list(sources)

    # the feed other concerns follow ------------------------------------------------------------------
    def subscribe(self, listener: WorldListener) -> None:
        self._listeners.append(listener)

    def fact_text(self, fact_id: str) -> str | None:
        svc = self.service
        if svc is None:
            return None
        fact = svc.world.file.facts.get(fact_id)
        return fact.text if fact is not None else svc.state.event_facts.get(fact_id)

    def scene_names(self) -> list[str]:
        """Names of the world's entities (characters, places, items) for speech recognition."""
        svc = self.service
        if svc is None:
            return []
        names: list[str] = []
        for eid, entity in svc.world.file.entities.items():
            names.append(entity.name or eid.replace("_", " "))
        return names

    @property
    def active(self) -> bool:
        """True when a world is loaded (it then type-checks and evaluates persona conditions)."""
        return self.service is not None

    # lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            self.settings = WorldSettings.model_validate(self.host.settings.world or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"world.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid world settings: {problems}") from None
        if not self.settings.enabled:
            return
        path = self.settings.file or self._find_world_file(Path(self.host.settings.personas_dir))
        if path is None:
            log.info("no *%s in %s: world features are off", WORLD_SUFFIX, self.host.settings.personas_dir)
            return
        world = load_world(path)  # raises WorldContentError listing every problem
        self.service = WorldService(world, self._store(), self.settings.reconcile)
        self.service.on_followed = lambda ev, ch: self._followed.append((ev, ch))
        if self._shared is not None:
            self._follower = asyncio.create_task(self._follow(), name="world-follow")
        self.path, self._stamp = Path(path), _stamp(Path(path))
        if self.settings.hot_reload:
            self._watcher = asyncio.create_task(self._watch(), name="world-watch")
        log.info(
            "world '%s' loaded from %s (hash %s, %d quests, seq %d)",
            world.file.world, path, world.hash, len(world.file.quests), self.service.state.seq,
        )  # fmt: skip
        for note in self.service.notes:
            log.warning("world state reconciled with the changed world file: %s", note)

    def _store(self) -> WorldLog:
        db = self.host.db
        if isinstance(db, SharedDatabase):  # cluster mode: one connection for world and memory
            self._shared = db.pg
            return PgWorldStore(db.pg, self.settings.instance)
        dsn = self.settings.shared_db
        if dsn is None:
            return WorldStore(db)
        self._shared = PgDatabase(dsn, name=self.settings.owner)
        return PgWorldStore(self._shared, self.settings.instance)

    async def _follow(self) -> None:
        """Follow the shared log: catch up on every doorbell ring and at least every poll_interval."""
        assert self._shared is not None
        bell = Doorbell(self._shared.dsn, CHANNEL)
        try:
            await bell.start()
            while True:
                await bell.wait(self.settings.poll_interval)
                try:
                    await self.follow_now()
                except Exception:  # a lost connection: the next ring or poll tries again
                    log.exception("following the shared world log failed")
        finally:
            await bell.stop()

    async def follow_now(self) -> None:
        """Apply what other workers logged since this replica's state and tell the clients."""
        svc = self.service
        if svc is None:
            return
        svc.catch_up()
        await self._announce_followed()

    async def _announce_followed(self) -> None:
        svc = self.service
        if svc is None:
            return
        if svc.reloads != self._reloads_seen:  # a load, reset or another world file elsewhere
            self._reloads_seen = svc.reloads
            self._followed.clear()
            await self.host.broadcast(
                WorldChanged(cause="load", world_hash=svc.world.hash, **full_fields(svc.state))
            )
        while self._followed:
            event, changes = self._followed.pop(0)
            kind = event.kind if event.kind in ("action", "tell", "time") else "event"
            await self._broadcast(changes, kind)

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if self._shared is not None:
            if not isinstance(self.host.db, SharedDatabase):  # the host closes its own
                self._shared.close()
            self._shared = None
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def _watch(self) -> None:
        interval = float(self.host.settings.reload_interval)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload_if_changed()
            except Exception:  # a bug here must not stop the watcher
                log.exception("world file reload failed")

    async def reload_if_changed(self) -> bool:
        """Reload the world file if it changed on disk; True when a new version went live."""
        svc, path = self.service, self.path
        if svc is None or path is None:
            return False
        stamp = _stamp(path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            await self._file_error([Problem(str(path), None, "", f"cannot read world file: {exc}")])
            return False
        world, problems, _ = parse_world_text(text, str(path))
        if world is None:
            await self._file_error([p for p in problems if p.severity == "error"])
            return False
        try:
            notes, changes = svc.reload(world)
        except SaveFormatError as exc:
            await self._file_error([Problem(str(path), None, "", str(exc))])
            return False
        log.info("world file %s reloaded (hash %s)", path, world.hash)
        for note in notes:
            log.info("world reconciled with the edited world file: %s", note)
        # Persona conditions were checked against the old world: check them again (a persona that
        # no longer fits keeps its last good version live and the clients get a persona_error).
        self.host.refresh_personas(force=True)
        delta = delta_fields(changes)
        delta.update(full_fields(svc.state))
        await self.host.broadcast(WorldChanged(cause="reload", notes=notes, world_hash=world.hash, **delta))
        return True

    async def _file_error(self, problems: list[Problem]) -> None:
        for p in problems:
            log.warning("world file problem (the last good version stays live): %s", p)
        file = str(self.path)
        await self.host.broadcast(
            WorldFileError(file=file, problems=[ContentProblem(**p.as_dict()) for p in problems])
        )

    @staticmethod
    def _find_world_file(folder: Path) -> Path | None:
        found = sorted(folder.glob(f"*{WORLD_SUFFIX}")) if folder.is_dir() else []
        if len(found) > 1:
            names = ", ".join(f.name for f in found)
            raise ConfigError(f"several world files in {folder} ({names}); set world.file to choose one")
        return found[0] if found else None

    def _require(self, ref: Any) -> WorldService:
        if self.service is None:
            raise ProtocolError(
                ErrorCode.WORLD_UNAVAILABLE,
                "no world is loaded: put one *.world.yaml in the personas folder or set world.file",
                ref=ref,
            )
        return self.service

    # wire -------------------------------------------------------------------------------------------
    def routes(self) -> list[Route[Any]]:
        return [
            route(WorldEventMsg, self._on_event),
            route(WorldStateQuery, self._on_state),
            route(WorldTell, self._on_tell),
            route(WorldReset, self._on_reset),
        ]

    def _apply(self, event: WorldEvent, ref: Any) -> Changes:
        svc = self._require(ref)
        if event.request is None:
            event.request = current_request.get()
        try:
            return svc.apply(event)
        except WorldRejected as exc:
            raise ProtocolError(ErrorCode.WORLD_EVENT_INVALID, exc.message, ref=ref) from None

    async def _on_event(self, peer: Peer, msg: WorldEventMsg) -> None:
        await self._catch_up()
        data: dict[str, Any] = {}
        if msg.kind == "custom":
            data = {"name": msg.name, "payload": msg.payload}
        else:
            for key in EVENT_FIELD_NAMES:
                value = getattr(msg, key)
                if value is not None:
                    data[key] = value
        game_time = msg.game_time if msg.game_time is not None else self.host.game_time
        changes = self._apply(WorldEvent(msg.kind, data, list(msg.witnesses), game_time), msg.id)
        await self._announce_followed()
        await self.host.send(peer, WorldEventApplied(ref=msg.id, **delta_fields(changes)))
        await self._broadcast(changes, "event")

    async def _on_tell(self, peer: Peer, msg: WorldTell) -> None:
        game_time = msg.game_time if msg.game_time is not None else self.host.game_time
        ev = WorldEvent(
            "tell", {"npc": msg.npc_id, "fact": msg.fact, "by": msg.by or "player"}, [], game_time
        )
        changes = self._apply(ev, msg.id)
        await self._announce_followed()
        await self.host.send(peer, WorldEventApplied(ref=msg.id, **delta_fields(changes)))
        await self._broadcast(changes, "tell", npc_id=msg.npc_id)

    async def _on_state(self, peer: Peer, msg: WorldStateQuery) -> None:
        svc = self._require(msg.id)
        await self._catch_up()
        state = svc.state
        common = {"ref": msg.id, "world": svc.world.file.world, "world_hash": svc.world.hash}
        if msg.npc_id is None:
            reply = WorldStateReply(
                **common, **full_fields(state), relations=[list(r) for r in state.relations()]
            )
        else:
            if msg.npc_id not in svc.world.npcs:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_NPC, f"'{msg.npc_id}' is not a character of this world", ref=msg.id
                )
            view = svc.view(msg.npc_id)
            known = state.knowledge.get(msg.npc_id, {})
            facts = []
            for fid in view.fact_ids():
                decl = svc.world.file.facts.get(fid)
                text = decl.text if decl is not None else state.event_facts.get(fid, "")
                facts.append(FactOut(id=fid, text=text, source=known[fid].source, since=known[fid].since))
            reply = WorldStateReply(
                **common, seq=state.seq, game_time=state.game_time, npc_id=msg.npc_id,
                variables=view.variables(), quests=view.quests(), facts=facts,
            )  # fmt: skip
        await self.host.send(peer, reply)

    async def _on_reset(self, peer: Peer, msg: WorldReset) -> None:
        svc = self._require(msg.id)
        svc.new_game()
        await self.host.broadcast(
            WorldChanged(cause="reset", world_hash=svc.world.hash, **full_fields(svc.state))
        )

    async def _catch_up(self) -> None:
        """Spread rumours that fell due since the game last reported the time (never raises)."""
        svc = self.service
        if svc is None:
            return
        now = float(self.host.game_time)
        pending = svc.state.pending
        if now > svc.state.game_time and pending and pending[0][0] <= now:
            try:
                changes = svc.apply(WorldEvent("time", game_time=now))
            except WorldRejected as exc:  # e.g. a rumour's transition breaks a bound
                log.warning("rumours due at game time %.2f could not spread: %s", now, exc.message)
                return
            await self._announce_followed()
            await self._broadcast(changes, "time")

    async def _broadcast(self, changes: Changes, cause: str, **extra: Any) -> None:
        for listener in self._listeners:
            try:
                listener(changes, cause)
            except Exception:
                log.exception("a world listener failed")
        if changes.empty() and not changes.fired:
            return
        await self.host.broadcast(WorldChanged(cause=cause, **extra, **delta_fields(changes)))

    # dialogue -------------------------------------------------------------------------------------------
    async def context_part(self, request: ContextRequest) -> ContextPart | None:
        svc = self.service
        if svc is None:
            return None
        await self._catch_up()
        view = svc.view(request.persona.id)

        def judge(src: str, values: Mapping[str, Any]) -> bool:
            return bool(view.condition(src, values=dict(values)))

        def action_judge(src: str, values: Mapping[str, Any], args: Mapping[str, Any]) -> bool:
            return bool(view.condition(src, values=dict(values), args=args))

        known = set(view.fact_ids())
        return ContextPart(
            world_facts=view.facts(),
            hidden_facts=[d.text for fid, d in view.world.file.facts.items() if fid not in known and d.text],
            world_state={**view.variables(), **{f"quest.{q}": s for q, s in view.quests().items()}},
            judge=judge,
            action_judge=action_judge,
        )

    async def apply_action(
        self, conv: ConversationView, npc_id: str, spec: ActionSpec, args: dict[str, Any]
    ) -> None:
        # Effects on names another extension owns (relationship.trust += 0.1) are checked here with
        # the rest and applied by their owner, which runs after the world: a refused world part
        # stops the action before anything is applied.
        if all(effect_target(e) in self.external for e in spec.effects):
            return
        svc = self.service
        if svc is None:
            raise ActionRejected(f"action '{spec.name}' has world effects, but no world is loaded")
        data: dict[str, Any] = {
            "npc": npc_id,
            "action": spec.name,
            "effects": list(spec.effects),
            "when": spec.when,
            "args": args,
        }
        values: dict[str, Any] = {}
        for source in self._value_sources:
            values.update(source.expression_values(npc_id, conv.player_id))
        if values:
            data["values"] = values  # logged with the event, so a replay evaluates the same
        try:
            turn = current_request.get()  # the turn's input: a replayed turn's action is logged once
            request = None if turn is None else f"{turn}:{npc_id}:{spec.name}"
            changes = svc.apply(WorldEvent("action", data, [], self.host.game_time, request))
        except WorldRejected as exc:
            raise ActionRejected(exc.message) from None
        await self._announce_followed()
        await self._broadcast(changes, "action", conversation_id=conv.id, npc_id=npc_id)

    def check_persona(self, persona: Persona) -> list[tuple[str, str]]:
        if self.service is None:
            return []
        return check_persona(self.service.world, persona, self.external)

    # saves ---------------------------------------------------------------------------------------------
    def save_part(self) -> Any:
        return self.service.save_part() if self.service is not None else None

    def load_part(self, data: Any, conn: SqlConnection) -> None:
        if self.service is None:
            raise SaveFormatError("the save holds a world part, but this runtime has no world loaded")
        state, notes = self.service.prepare_load(data)
        self.service.write_load(state, conn)
        self._loading = (state, notes)

    def after_load(self) -> None:
        if self.service is None or self._loading is None:
            return
        state, notes = self._loading
        self._loading = None
        self.service.finish_load(state, notes)
        msg = WorldChanged(
            cause="load", notes=notes, world_hash=self.service.world.hash, **full_fields(state)
        )
        try:
            task = asyncio.get_running_loop().create_task(self.host.broadcast(msg))
        except RuntimeError:  # no loop (tools calling load outside the runtime)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
