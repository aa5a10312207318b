"""A cluster worker: the full runtime, with its world in PostgreSQL, reporting to the registry.

It differs from an embedded runtime in three ways, all around the host's own routes:

- it heartbeats its load (open conversations) into the registry, so gateways can place work;
- a ``conversation_start`` from a gateway carries the conversation id the gateway chose and
  claimed for this worker (:func:`~.settings.start_id`); the worker reads the conversation's epoch
  and runs the conversation under that fence (:data:`~npc_runtime.storage.postgres.current_fence`,
  copied into every task the conversation starts), so after a move its late writes are refused;
- a world event or tell from a gateway link is keyed by the gateway's session and the client's
  message id (:data:`~npc_runtime.storage.postgres.current_request`), so an input the gateway
  replays on another worker after a failover is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..host import Peer
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages import ConversationStart
from ..protocol.messages.world import WorldEventMsg, WorldTell
from ..runtime.app import Runtime
from ..settings import Settings
from ..storage.postgres import Fence, PgDatabase, current_fence, current_request
from ..storage.registry import Registry
from .settings import ClusterSettings, conversation_of_start

log = logging.getLogger(__name__)

LINK_PREFIX = b"gw:"  # a gateway link's routing id: gw:<session key>#<n>
Handler = Callable[[Any, Any], Awaitable[None]]


def worker_settings(settings: Settings, cluster: ClusterSettings) -> Settings:
    """The runtime settings of a worker: the world shared in the cluster's database."""
    world = {**settings.world, "shared_db": cluster.db, "owner": cluster.worker_id}
    return settings.model_copy(update={"world": world})


def link_session(identity: bytes) -> str | None:
    """The gateway session a link's routing id names, or None for any other client."""
    if not identity.startswith(LINK_PREFIX):
        return None
    return identity[len(LINK_PREFIX) :].split(b"#", 1)[0].decode("ascii", "replace")


class WorkerRuntime(Runtime):
    def __init__(self, settings: Settings, cluster: ClusterSettings, **kwargs: Any) -> None:
        super().__init__(worker_settings(settings, cluster), **kwargs)
        self.cluster = cluster
        self.worker_id = cluster.worker_id
        self._owners: PgDatabase | None = None
        self._registry: Registry | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        wraps: list[tuple[type[Any], Callable[[Handler], Handler]]] = [
            (ConversationStart, self._fenced_start),
            (WorldEventMsg, self._keyed),
            (WorldTell, self._keyed),
        ]
        for message, wrap in wraps:
            if message in self._handlers:
                self._handlers[message] = wrap(self._handlers[message])

    def new_conversation_id(self, msg: ConversationStart) -> str:
        return conversation_of_start(msg.id) or super().new_conversation_id(msg)

    @property
    def load(self) -> float:
        return float(len(self.conversations))

    async def start(self) -> str:
        endpoint = await super().start()
        dsn, name = self.cluster.db, self.worker_id
        self._owners = await asyncio.to_thread(PgDatabase, dsn, name)
        registry_db = await asyncio.to_thread(PgDatabase, dsn, name)
        self._registry = await asyncio.to_thread(Registry, registry_db, self.cluster.max_age)
        self.advertised = self.cluster.advertise or endpoint
        await asyncio.to_thread(self._registry.heartbeat, self.worker_id, self.advertised, self.load)
        self._heartbeat = asyncio.create_task(self._beat(), name="cluster-heartbeat")
        log.info("worker %s registered at %s", self.worker_id, self.advertised)
        return endpoint

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._registry is not None:
            try:
                await asyncio.to_thread(self._registry.leave, self.worker_id)
            except Exception as exc:  # the database is gone: the heartbeat ages out instead
                log.warning("worker %s could not leave the registry: %s", self.worker_id, exc)
            self._registry.db.close()
        if self._owners is not None:
            self._owners.close()
        await super().stop()

    async def _beat(self) -> None:
        """Heartbeat from the event loop's own task: a worker whose loop is stuck stops beating."""
        assert self._registry is not None
        while True:
            await asyncio.sleep(self.cluster.heartbeat)
            try:
                await asyncio.to_thread(self._registry.heartbeat, self.worker_id, self.advertised, self.load)
            except Exception as exc:
                log.warning("worker %s heartbeat failed: %s", self.worker_id, exc)

    # -- the host's routes, wrapped ----------------------------------------------------------------
    def _fenced_start(self, handler: Handler) -> Handler:
        async def start(peer: Peer, msg: ConversationStart) -> None:
            key = conversation_of_start(msg.id)
            if key is None or self._owners is None:
                await handler(peer, msg)
                return
            rows = await asyncio.to_thread(
                self._owners.execute, "SELECT epoch, owner FROM cluster_owners WHERE key=%s", (key,)
            )
            if not rows or rows[0][1] != self.worker_id:
                raise ProtocolError(
                    ErrorCode.INTERNAL,
                    f"conversation '{key}' is not claimed for worker {self.worker_id}",
                    ref=msg.id,
                )
            old = self.conversations.get(key)
            if old is not None:  # it moved away and back: the old copy's work is stale
                await self.end_conversation(old, "moved", notify=False)
            token = current_fence.set(Fence(key, int(rows[0][0])))
            try:  # the conversation's tasks copy the fence from here
                await handler(peer, msg)
            finally:
                current_fence.reset(token)

        return start

    def _keyed(self, handler: Handler) -> Handler:
        async def keyed(peer: Peer, msg: Any) -> None:
            session = link_session(self.own(peer).identity)
            if session is None or msg.id is None:
                await handler(peer, msg)
                return
            token = current_request.set(f"{session}:{msg.id}")
            try:
                await handler(peer, msg)
            finally:
                current_request.reset(token)

        return keyed
