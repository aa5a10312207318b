"""``npc-runtime serve --mode gateway|worker``: build and run the process of a cluster mode."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from pydantic import ValidationError

from .. import __version__
from ..errors import ConfigError
from ..settings import Settings
from ..storage.postgres import is_postgres_url
from .settings import ClusterSettings


def cluster_settings(settings: Settings, db: str | None) -> ClusterSettings:
    """The ``[cluster]`` settings, with ``--db`` (a postgresql:// URL) as the cluster's database."""
    doc = dict(settings.cluster)
    if db is not None and is_postgres_url(db):
        doc["db"] = db
    if not doc.get("db"):
        raise ConfigError("gateway and worker modes need --db postgresql://... (or [cluster] db)")
    try:
        return ClusterSettings.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"[cluster] settings: {exc}") from None


async def serve(settings: Settings, mode: str, db: str | None, metrics: Any = None) -> int:
    cluster = cluster_settings(settings, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if mode == "gateway":
        from .gateway import Gateway

        gateway = Gateway(settings, cluster)
        endpoint = await gateway.start()
        print(f"npc-runtime {__version__} gateway listening on {endpoint}", flush=True)
        try:
            await stop.wait()
        finally:
            await gateway.stop()
    else:
        from .worker import WorkerRuntime

        worker = WorkerRuntime(settings, cluster, metrics=metrics)
        endpoint = await worker.start()
        print(
            f"npc-runtime {__version__} worker {cluster.worker_id} listening on {endpoint} "
            f"with NPCs: {', '.join(worker.personas.ids())}",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await worker.stop()
    print("npc-runtime stopped", flush=True)
    return 0
