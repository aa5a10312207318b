"""The llama.cpp engine of the ``local`` provider (xllamacpp's embedded server), one per model.

Thread-safe; requests run in worker threads and stream their deltas back to the event loop
through an asyncio queue (:class:`Generation`). Each NPC's slot (KV cache) can be saved to and
restored from disk (llama.cpp offers that over its HTTP API only: loopback, locked with a random
key).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import MissingDependencyError
from ..models import cache_dir

if TYPE_CHECKING:
    from .local import LocalSettings

__all__ = ["Engine", "Generation"]

log = logging.getLogger(__name__)


@dataclass
class Generation:
    """One request running in a worker thread; deltas come back through an asyncio queue."""

    queue: asyncio.Queue[tuple[str, Any]]
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0
    first_token: float | None = None
    timings: dict[str, Any] = field(default_factory=dict)


class Engine:
    """The llama.cpp server of one model, loaded once; thread-safe."""

    def __init__(self, settings: LocalSettings, path: Path) -> None:
        try:
            import xllamacpp as xlc
        except ImportError as exc:
            raise MissingDependencyError(
                "xllamacpp", "llm", command="pip install 'npc-runtime[llm]' (or scripts/setup.sh)"
            ) from exc
        p = xlc.CommonParams()
        p.model.path = str(path)
        p.n_parallel = settings.slots
        p.n_ctx = settings.context * settings.slots
        p.n_predict = settings.max_tokens
        p.cpuparams.n_threads = settings.threads
        p.cpuparams_batch.n_threads = settings.batch_threads or settings.threads
        p.warmup = False
        # The embedded HTTP listener (127.0.0.1, random port) is not used by the runtime: lock it
        # with a random key nobody knows, and no cross-origin access from browser pages.
        self._key = secrets.token_urlsafe(24)
        p.api_keys = [self._key]
        p.cors_origins = ""
        p.n_threads_http = 1
        p.verbosity = settings.log_verbosity
        self.slot_dir: Path | None = None
        if settings.persist_cache:
            self.slot_dir = cache_dir(settings.model_dir) / "slots"
            self.slot_dir.mkdir(parents=True, exist_ok=True)
            p.slot_save_path = str(self.slot_dir) + "/"
        self.path = path
        self.server = xlc.Server(p)

    def slot_file(self, npc_id: str) -> str:
        return f"{self.path.stem}-{npc_id}.bin"

    def _slot_action(self, slot: int, action: str, filename: str) -> dict[str, Any]:
        """Save or restore a slot's KV cache (llama.cpp offers this over its HTTP API only)."""
        req = urllib.request.Request(
            f"{self.server.listening_address}/slots/{slot}?action={action}",
            data=json.dumps({"filename": filename}).encode(),
            headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=120) as resp:  # loopback, our own server
            return dict(json.loads(resp.read()))

    def save_slot(self, slot: int, npc_id: str) -> bool:
        if self.slot_dir is None:
            return False
        try:
            self._slot_action(slot, "save", self.slot_file(npc_id))
        except (OSError, ValueError) as exc:
            log.warning("could not save the prompt cache of %s: %s", npc_id, exc)
            return False
        return True

    def restore_slot(self, slot: int, npc_id: str) -> int:
        """Tokens restored from disk (0: nothing saved, or it could not be read)."""
        if self.slot_dir is None or not (self.slot_dir / self.slot_file(npc_id)).is_file():
            return 0
        try:
            return int(self._slot_action(slot, "restore", self.slot_file(npc_id)).get("n_restored", 0))
        except (OSError, ValueError) as exc:
            log.warning("could not restore the prompt cache of %s: %s", npc_id, exc)
            return 0

    def chat(self, request: dict[str, Any], gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        def put(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(gen.queue.put_nowait, (kind, value))

        def on_chunk(chunk: Any) -> bool:
            if gen.stop.is_set():
                return True
            if isinstance(chunk, dict) and "error" in chunk:
                put("error", chunk["error"])
                return True
            choices = chunk.get("choices") or [] if isinstance(chunk, dict) else []
            for choice in choices:
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    if gen.first_token is None:
                        gen.first_token = time.perf_counter()
                    put("text", text)
            if isinstance(chunk, dict) and chunk.get("timings"):
                gen.timings = dict(chunk["timings"])
            return False

        try:
            result = self.server.handle_chat_completions({**request, "stream": True}, on_chunk)
            if isinstance(result, dict) and "error" in result:
                put("error", result["error"])
        except Exception as exc:  # the binding raises on a bad request
            put("error", f"{type(exc).__name__}: {exc}")
        finally:
            put("end", None)
