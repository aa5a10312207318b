"""Shared fixtures: a real runtime on a random loopback port and real clients.

``runtime_server`` runs the runtime in the test's own event loop (real ZeroMQ ROUTER on
127.0.0.1, real SQLite file in tmp_path, personas copied from the repo so tests may edit them).
``runtime_process`` runs ``npc-runtime serve`` as a real subprocess for tests that kill it.
``pg_dsn`` is a fresh database on a real PostgreSQL server (Debian's postgresql-15, started once
per test session in a temporary directory by ``npc_runtime/storage/pgserver.py``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.storage.pgserver import TempPostgres
from npc_runtime.transport.client import AsyncClient
from testsupport import ClientFactory, RuntimeProcess, start_runtime_process

REPO = Path(__file__).resolve().parent.parent
PERSONAS = REPO / "personas"
SLOW_LIST = Path(__file__).resolve().parent / "slow_tests.txt"
# Tests that run the real speech models (and the demo and engine bindings built on them) take
# minutes on a loaded 2-core machine (the scene-names test: 77 s at load 13): the default
# time-out (pyproject, 120 s) stays the bound of a hung test elsewhere.
HEAVY = ("tests/voice/", "tests/demo/", "tests/bindings/")
HEAVY_TIMEOUT = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slowest end-to-end tests (listed in tests/slow_tests.txt, and ``slow`` ones)
    ``e2e_slow``: ``scripts/test.sh --quick`` deselects them."""
    listed = {
        line.strip()
        for line in SLOW_LIST.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for item in items:
        nodeid = item.nodeid.split("[", 1)[0]
        if nodeid in listed or nodeid.split("::", 1)[0] in listed or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.e2e_slow)
        if nodeid.startswith(HEAVY) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(HEAVY_TIMEOUT))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TempPostgres]:
    with TempPostgres() as pg:
        yield pg


@pytest.fixture
def pg_dsn(pg_server: TempPostgres) -> str:
    """A new, empty database on the session's PostgreSQL server."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    return pg_server.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def personas_dir(tmp_path: Path) -> Path:
    dst = tmp_path / "personas"
    shutil.copytree(PERSONAS, dst)
    return dst


@pytest.fixture
def make_settings(
    tmp_path: Path, personas_dir: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    # NPC_TEST_WORLD_DB=postgres runs the suites with the world and memory shared in PostgreSQL;
    # =cluster also puts a one-worker cluster in ``runtime_server`` (see there): the same tests
    # must pass (docs/scaling.md).
    shared = os.environ.get("NPC_TEST_WORLD_DB") in ("postgres", "cluster")

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "bind": "tcp://127.0.0.1:0",
            "personas_dir": personas_dir,
            "db": str(tmp_path / "runtime.sqlite3"),
            "heartbeat_interval": 0.5,
            "client_timeout": 5.0,
            "reload_interval": 0.1,
            # Voice models load when a voice conversation first starts, not with every runtime.
            "voice": {"warm_up": False},
        }
        if shared:
            base["world"] = {"shared_db": request.getfixturevalue("pg_dsn")}
            overrides = {**overrides, "world": {**base["world"], **overrides.get("world", {})}}
        base.update(overrides)
        return Settings.model_validate(base)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def runtime_server(settings: Settings) -> AsyncIterator[Runtime]:
    if os.environ.get("NPC_TEST_WORLD_DB") == "cluster":
        async for worker in _one_worker_cluster(settings):
            yield worker
        return
    runtime = Runtime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _one_worker_cluster(settings: Settings) -> AsyncIterator[Runtime]:
    """NPC_TEST_WORLD_DB=cluster: a worker runtime (world and memory in PostgreSQL) behind a real
    gateway, both in the test's event loop. The test gets the worker (its internals are the
    runtime's) with ``endpoint`` set to the gateway's, so every client talks through the gateway:
    conversations placed and fenced by it, inputs keyed, the world authority (``authority_dev``)."""
    from npc_runtime.cluster.gateway import Gateway
    from npc_runtime.cluster.settings import ClusterSettings
    from npc_runtime.cluster.worker import WorkerRuntime

    cluster = ClusterSettings(
        db=settings.world["shared_db"], worker_id="w1", authority_dev=True, heartbeat=0.25, max_age=30.0
    )
    worker = WorkerRuntime(settings, cluster)
    await worker.start()
    gateway = Gateway(settings, cluster)
    try:
        worker.endpoint = await gateway.start()
        yield worker
    finally:
        await gateway.stop()
        await worker.stop()


@pytest.fixture
async def make_client(runtime_server: Runtime) -> AsyncIterator[ClientFactory]:
    clients: list[AsyncClient] = []

    async def make(name: str = "test-client", connect: bool = True) -> AsyncClient:
        c = AsyncClient(runtime_server.endpoint, name=name)
        clients.append(c)
        if connect:
            await c.connect(timeout=5.0)
        return c

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncClient:
    return await make_client()


@pytest.fixture
def runtime_process(tmp_path: Path, personas_dir: Path) -> Iterator[Callable[..., RuntimeProcess]]:
    procs: list[RuntimeProcess] = []

    def start(*extra: str, db: Path | None = None, voice: bool = False) -> RuntimeProcess:
        rp = start_runtime_process(
            [
                "--bind",
                "tcp://127.0.0.1:0",
                "--personas",
                str(personas_dir),
                "--db",
                str(db or tmp_path / "runtime.sqlite3"),
                *([] if voice else ["--no-voice"]),  # text-only tests load no voice models
                *extra,
            ]
        )
        procs.append(rp)
        return rp

    yield start
    for rp in procs:
        if rp.proc.poll() is None:
            rp.proc.kill()
        rp.proc.wait(timeout=10)
        if rp.proc.stdout:
            rp.proc.stdout.close()
