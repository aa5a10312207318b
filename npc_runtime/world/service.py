"""One running world: content + engine + the injected store, with saves and loads.

The runtime's :class:`~npc_runtime.runtime.world_ext.WorldExtension` is wire glue around this; tools
and tests use it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import SaveFormatError, StorageError
from .compiled import World
from .engine import Changes, Engine, WorldEvent, WorldRejected
from .knowledge import NpcView
from .saves import Policy, read_part, reconcile, save_part
from .state import WorldState, initial_state
from .store import AlreadyLogged, StaleReplica, WorldLog, replay

log = logging.getLogger(__name__)

OPTIMISTIC_TRIES = 3  # events computed against the replica before locking the world instance first
Followed = Callable[[WorldEvent, Changes], None]


class WorldService:
    def __init__(self, world: World, store: WorldLog, policy: Policy = "reconcile") -> None:
        self.world = world
        self.store = store
        self.policy = policy
        self.notes: list[str] = []  # what the last reconciliation changed
        self.start_changes = Changes()
        # Called for each event another writer appended, as this replica applies it (catch_up).
        self.on_followed: Followed | None = None
        self.reloads = 0  # whole-state reloads (a new epoch, or a replica that disagreed with the log)
        stored = store.load()
        if stored is None:
            engine = Engine(world, initial_state(world))
            changes = engine.start()
            created = store.create(engine.state, world.hash, world.file.world)
            if created is not None:
                self.engine, self.start_changes, self._held_epoch = engine, changes, created
                return
            stored = store.load()  # another worker created it first (a shared store): take theirs
            if stored is None:
                raise StorageError(f"{store.db.path}: world instance created and gone again; start again")
        if stored.world_id is not None and stored.world_id != world.file.world:
            raise StorageError(
                f"{store.db.path} holds the state of world '{stored.world_id}', but this runtime runs world "
                f"'{world.file.world}'; point the runtime at another database (--db) or the right world file"
            )
        elif stored.world_hash == world.hash:
            self.engine = Engine(world, WorldState.from_dict(stored.doc, world))
            self._held_epoch = stored.epoch
        else:
            if policy == "refuse":
                raise SaveFormatError(
                    f"the database holds world '{world.file.world}' made with another version of the world "
                    f"file (content hash {stored.world_hash}, now {world.hash}) and world.reconcile is "
                    "'refuse'; restore the old world file, use another database, or set it to 'reconcile'"
                )
            doc, self.notes = reconcile(stored.doc, world, stored.world_hash, "the stored state was")
            self.engine = Engine(world, WorldState.from_dict(doc, world))
            self.start_changes = self.engine.settle_all()
            self._held_epoch = store.reset(
                self.engine.state, world.hash, "world file changed", world_id=world.file.world
            )
            for note in self.notes:
                log.info("world reconciled with the changed world file: %s", note)

    @property
    def state(self) -> WorldState:
        return self.engine.state

    def apply(self, event: WorldEvent) -> Changes:
        """Apply and commit one event; when this returns, the event is durable.

        With a shared store another worker may have appended first: the store then refuses the
        write (StaleReplica), this replica catches up from the log, and the event is computed
        again against the current state (it may now be rejected, like any event). After
        OPTIMISTIC_TRIES lost races the instance's row is locked first, then the replica catches
        up and the event is computed under the lock, which cannot lose. An event whose
        ``request`` is already logged is not applied again: its logged changes are returned."""
        for attempt in range(OPTIMISTIC_TRIES + 1):
            try:
                if attempt < OPTIMISTIC_TRIES:
                    return self.engine.apply(event, persist=self.store.commit)
                with self.store.exclusive():
                    for logged, changes in self.catch_up():
                        if event.request is not None and logged.request == event.request:
                            return changes
                    return self.engine.apply(event, persist=self.store.commit)
            except StaleReplica:
                for logged, changes in self.catch_up():
                    if event.request is not None and logged.request == event.request:
                        return changes  # another worker logged this very request (a replay)
            except AlreadyLogged as done:
                return self._logged(event, done.seq)
            except WorldRejected:
                # A replayed request may be refused by the state it already changed (gold spent).
                seq = self.store.logged(event.request) if event.request is not None else None
                if seq is None:
                    raise
                return self._logged(event, seq)
        raise StorageError(f"world event '{event.kind}' could not be appended to the world log")

    def _logged(self, event: WorldEvent, seq: int) -> Changes:
        """The changes of an event already in the log (a replayed request)."""
        for logged, changes in self.catch_up():
            if logged.request == event.request:
                return changes
        return Changes(seq=seq, game_time=self.state.game_time)  # this replica had applied it

    def catch_up(self) -> list[tuple[WorldEvent, Changes]]:
        """Apply the events other writers logged since this replica's state, in sequence order.

        The log is the truth: a new epoch (a load elsewhere) or a replica that does not reproduce
        a logged event's sequence number reloads the whole state from the store."""
        epoch, seq = self.store.head()
        if epoch != self._epoch():
            self._reload(f"the world log moved to epoch {epoch}")
            return []
        out: list[tuple[WorldEvent, Changes]] = []
        if seq <= self.state.seq:
            return out
        for logged_seq, event in self.store.events_since(epoch, self.state.seq):
            try:
                changes = self.engine.apply(event)
            except WorldRejected as exc:
                self._reload(f"logged event {logged_seq} was rejected by this replica ({exc.message})")
                return out
            if self.state.seq != logged_seq:
                self._reload(f"this replica numbered logged event {logged_seq} as {self.state.seq}")
                return out
            out.append((event, changes))
            if self.on_followed is not None:
                self.on_followed(event, changes)
        return out

    def _epoch(self) -> int:
        return self._held_epoch

    def _reload(self, why: str) -> None:
        stored = self.store.load()
        if stored is None:
            raise StorageError(f"the world state vanished from {self.store.db.path}")
        log.info("world replica reloaded: %s", why)
        self.engine = Engine(self.world, WorldState.from_dict(stored.doc, self.world))
        self._held_epoch = stored.epoch
        self.reloads += 1

    def view(self, npc: str) -> NpcView:
        return self.engine.view(npc)

    def new_game(self) -> None:
        self.engine = Engine(self.world, initial_state(self.world))
        self.start_changes = self.engine.start()
        self._held_epoch = self.store.reset(
            self.engine.state, self.world.hash, "new game", world_id=self.world.file.world
        )

    def reload(self, world: World) -> tuple[list[str], Changes]:
        """Switch the live state to a changed world file (hot reload): reconcile, settle, store.

        Raises SaveFormatError (and keeps the current world) when the state does not fit."""
        if world.file.world != self.world.file.world:
            raise SaveFormatError(
                f"the world file now declares world '{world.file.world}' instead of '{self.world.file.world}'; "
                "restart the runtime with another database to change worlds"
            )
        if world.hash == self.world.hash:  # only comments or layout changed
            return [], Changes()
        doc, notes = reconcile(self.state.to_dict(), world, self.world.hash, "the live state was")
        engine = Engine(world, WorldState.from_dict(doc, world))
        changes = engine.settle_all()
        self._held_epoch = self.store.reset(
            engine.state, world.hash, "world file changed", world_id=world.file.world
        )
        self.world, self.engine, self.notes = world, engine, notes
        return notes, changes

    # saves -------------------------------------------------------------------------------------------
    def save_part(self) -> dict[str, Any]:
        return save_part(self.world, self.engine.state)

    def prepare_load(self, part: Any) -> tuple[WorldState, list[str]]:
        """Check (and reconcile) a save part without touching anything; raises SaveFormatError."""
        state, notes, reconciled = read_part(part, self.world, self.policy)
        if reconciled:
            Engine(self.world, state).settle_all()
        return state, notes

    def write_load(self, state: WorldState, conn: Any = None) -> None:
        self._held_epoch = self.store.reset(
            state, self.world.hash, "load", conn, world_id=self.world.file.world
        )

    def finish_load(self, state: WorldState, notes: list[str]) -> None:
        self.engine = Engine(self.world, state)
        self.notes = notes

    def load(self, part: Any) -> list[str]:
        """Load a save part (prepare + write + finish); returns the reconciliation notes."""
        state, notes = self.prepare_load(part)
        self.write_load(state)
        self.finish_load(state, notes)
        return notes

    # the log -------------------------------------------------------------------------------------------
    def replayed(self, epoch: int | None = None) -> WorldState:
        """The state rebuilt from an epoch's snapshot and its logged events (for checks and tools)."""
        epoch = epoch if epoch is not None else self.store.epoch()
        doc, _ = self.store.snapshot(epoch)
        engine = Engine(self.world, WorldState.from_dict(doc, self.world))
        replay(engine, self.store.events(epoch))
        return engine.state
