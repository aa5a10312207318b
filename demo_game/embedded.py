"""Run a Runtime inside the game process, on its own thread and event loop.

The game still talks to it over ZeroMQ on loopback, exactly as it would talk to a separate
``npc-runtime serve`` process (``--connect``): embedding changes where the runtime runs, not how the
game uses it.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

from npc_runtime.errors import NpcRuntimeError
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings

REPO_PERSONAS = Path(__file__).resolve().parent.parent / "personas"


def cache_dir() -> Path:
    """``~/.cache/thornbrook-demo``, or a temp dir when the home is not writable."""
    cache = Path.home() / ".cache" / "thornbrook-demo"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return cache
    except OSError:
        return Path(tempfile.mkdtemp(prefix="thornbrook-"))


def default_db_path() -> Path:
    return cache_dir() / "runtime.sqlite3"


class EmbeddedRuntime:
    def __init__(self, personas_dir: Path, db_path: Path, provider: str = "authored") -> None:
        self.settings = Settings.model_validate(
            {
                "bind": "tcp://127.0.0.1:0",
                "personas_dir": personas_dir,
                "db": str(db_path),
                "dialogue": {"provider": provider},
            }
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-runtime", daemon=True)
        self._runtime: Runtime | None = None
        self.endpoint = ""

    def start(self, timeout: float = 300.0) -> str:
        """Start the runtime; return the loopback endpoint it bound. The bound is for a hang only:
        loading the speech models took over 60 s on a loaded 2-core machine."""
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            self.endpoint = fut.result(timeout)
        except TimeoutError:
            raise NpcRuntimeError(f"the embedded runtime did not start within {timeout:g}s") from None
        return self.endpoint

    async def _start(self) -> str:
        self._runtime = Runtime(self.settings)
        return await self._runtime.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._runtime is not None:
            asyncio.run_coroutine_threadsafe(self._runtime.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
