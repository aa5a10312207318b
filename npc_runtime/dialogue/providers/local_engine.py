"""The llama.cpp engine of the ``local`` provider (xllamacpp's embedded server), one per model.

The engine runs in the model's own process by default (:mod:`.local_process`) or in the runtime's
(:class:`Engine`). Either is thread-safe; requests run in worker threads and stream their deltas
back to the event loop through an asyncio queue (:class:`Generation`). Each NPC's slot (KV cache)
can be saved to and restored from disk (llama.cpp offers that over its HTTP API only: loopback,
locked with a random key).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...errors import MissingDependencyError
from ..models import MODELS, cache_dir

__all__ = ["Engine", "EngineBase", "Generation", "LocalSettings", "Pace", "server_params"]

log = logging.getLogger(__name__)


class LocalSettings(BaseModel):
    """The ``dialogue`` settings section for ``provider = "local"``."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["local"] = "local"
    model: str = Field(default="qwen2.5-coder-1.5b", description=f"A packaged model: {', '.join(MODELS)}")
    model_path: str | None = Field(default=None, description="A GGUF file instead of a packaged model")
    model_dir: str | None = Field(default=None, description="Where packaged models are assembled")
    own_process: bool = Field(
        default=True,
        description="Run the model in a process of its own (the runtime's event loop never waits for "
        "it, and a crash of the model costs a turn, not the runtime); false: in the runtime's process",
    )
    threads: int = Field(default=1, ge=1, le=64, description="Threads for generation")
    batch_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Threads for reading prompts (default: 2 where the machine has 2 cores, at least threads)",
    )
    read_batch: int = Field(
        default=256,
        ge=32,
        le=8192,
        description="Prompt tokens read in one step; between steps llama.cpp takes new requests and "
        "cancellations, so a smaller step lets a player's turn stop another NPC's warm-up sooner",
    )
    slots: int = Field(default=6, ge=2, le=32, description="KV caches: one per NPC, one for complete()")
    context: int = Field(default=2048, ge=512, le=32768, description="Tokens of context per slot")
    temperature: float = Field(default=0.6, ge=0.0, le=2.0)
    top_p: float = Field(default=0.9, gt=0.0, le=1.0)
    repeat_penalty: float = Field(default=1.1, ge=1.0, le=2.0)
    seed: int | None = Field(default=None, description="Fixed sampling seed (evals, tests)")
    max_tokens: int = Field(default=120, ge=8, le=2048, description="Reply token limit (words + action)")
    reply_sentences: int = Field(default=2, ge=1, le=10, description="At most this many; 1 for terse NPCs")
    prompt_tokens: int = Field(default=1400, ge=200, description="Prompt budget (chars/4 estimate)")
    history: int = Field(default=8, ge=0, description="Most recent history entries in the prompt")
    memories: int = Field(
        default=2, ge=0, le=50, description="Retrieved memories put in the prompt (each turn re-reads them)"
    )
    actions: Literal["grammar", "none"] = Field(
        default="grammar", description="Constrained action line after the words, or no actions"
    )
    guard: bool = Field(default=True, description="Check replies (unknown facts, character, instructions)")
    opener_after: float | None = Field(
        default=0.3,
        ge=0.0,
        description="Seconds after the player's line: when the first sentence is not ready by then, the "
        "NPC says one of its persona's openers first (None: never)",
    )
    first_clause: bool = Field(
        default=True,
        description="Say the first generated sentence's first clause (a comma, semicolon, colon or dash "
        "after 4 words) as soon as it is generated, checked by the guard, instead of at the sentence's end",
    )
    turn_memories: int = Field(
        default=1,
        ge=0,
        le=50,
        description="Memories recalled for the player's final words added to those read ahead "
        "(each costs reading time after the player has spoken)",
    )
    warm_up: bool = Field(default=True, description="Read each NPC's fixed prompt at start")
    persist_cache: bool = Field(
        default=True, description="Keep each NPC's prompt cache on disk (model cache dir) across restarts"
    )
    reflection: bool = Field(
        default=False,
        description="Offer complete() to memory reflection (it then competes with turns for the CPU)",
    )
    complete_tokens: int = Field(
        default=128, ge=8, le=2048, description="Token limit of single-shot completions (reflection)"
    )
    log_verbosity: int = Field(default=1, ge=0, le=4, description="llama.cpp's own log detail (stderr)")
    first_token_timeout: float = Field(default=45.0, gt=0, description="Seconds to the first sentence")
    timeout: float = Field(default=120.0, gt=0, description="Seconds for the whole reply")


def reading_threads(settings: LocalSettings) -> int:
    """Threads for reading prompts: the setting, else two where the machine has two cores. Reading the
    player's line is a short burst that two threads halve (measured on 2 cores, 1 generating thread:
    time to first token p50 1.16 -> 0.50-0.73 s quiet, 0.89 -> 0.68 s with the other core busy);
    generation stays on ``threads`` (1), which holds up when a core is busy."""
    return settings.batch_threads or max(settings.threads, min(2, os.cpu_count() or 1))


@dataclass
class Generation:
    """One request running in a worker thread; deltas come back through an asyncio queue."""

    queue: asyncio.Queue[tuple[str, Any]]
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0
    first_token: float | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    connection: Any = None  # the HTTP connection of a request to the model's own process


@dataclass
class Pace:
    """Running estimates of one model's speed on this machine (exponentially weighted, from each
    request's own timings), to tell before a turn whether its first sentence will be late."""

    read_tps: float | None = None  # prompt tokens read per second
    gen_tps: float | None = None  # tokens generated per second
    overhead_s: float | None = None  # per request, besides reading and generating (set-up, sampling)
    first_sentence_tokens: float = 12.0  # tokens up to the end of a reply's first sentence
    weight: float = 0.3  # of the newest measurement

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else (1 - self.weight) * old + self.weight * new

    def update(self, timings: dict[str, Any], first_token_s: float | None = None) -> None:
        """Learn from llama.cpp's ``timings`` of one request (too few tokens say nothing) and the
        time its first token took from the request (``first_token_s``)."""
        read, read_ms = float(timings.get("prompt_n") or 0), float(timings.get("prompt_ms") or 0)
        made, made_ms = float(timings.get("predicted_n") or 0), float(timings.get("predicted_ms") or 0)
        if read >= 4 and read_ms > 0:
            self.read_tps = self._mix(self.read_tps, read * 1000 / read_ms)
        if made >= 4 and made_ms > 0:
            self.gen_tps = self._mix(self.gen_tps, made * 1000 / made_ms)
            if first_token_s is not None:
                rest = first_token_s - read_ms / 1000 - made_ms / made / 1000
                self.overhead_s = self._mix(self.overhead_s, max(rest, 0.0))

    def sentence(self, tokens: int) -> None:
        """A first sentence took ``tokens`` generated tokens."""
        if tokens > 0:
            self.first_sentence_tokens = self._mix(self.first_sentence_tokens, float(tokens))

    def first_sentence_s(self, tokens_to_read: int) -> float | None:
        """Expected seconds from a request to its first sentence; None until measured."""
        if not self.read_tps or not self.gen_tps:
            return None
        overhead = self.overhead_s or 0.0
        return overhead + tokens_to_read / self.read_tps + self.first_sentence_tokens / self.gen_tps


def server_params(settings: LocalSettings, path: Path, key: str) -> Any:
    """xllamacpp's parameters for one model: the same in the runtime's process and in the model's own."""
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
    p.n_batch = settings.read_batch
    p.n_ubatch = min(settings.read_batch, 512)
    p.cpuparams.n_threads = settings.threads
    p.cpuparams_batch.n_threads = reading_threads(settings)
    p.warmup = False
    # The embedded HTTP listener (127.0.0.1, random port) is locked with a random key that only the
    # runtime knows, and no cross-origin access from browser pages.
    p.api_keys = [key]
    p.cors_origins = ""
    p.n_threads_http = 1
    p.verbosity = settings.log_verbosity
    slots = slot_dir(settings)
    if slots is not None:
        p.slot_save_path = str(slots) + "/"
    return p


def slot_dir(settings: LocalSettings) -> Path | None:
    """Where NPCs' prompt caches are kept across restarts (None: ``persist_cache`` is off)."""
    if not settings.persist_cache:
        return None
    directory = cache_dir(settings.model_dir) / "slots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class ChunkReader:
    """Turns llama.cpp's streamed chat chunks into a :class:`Generation`'s queue entries."""

    def __init__(self, gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        self.gen, self.loop = gen, loop

    def put(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.gen.queue.put_nowait, (kind, value))

    def __call__(self, chunk: Any) -> bool:
        """One chunk; True: stop reading (stopped, or an error)."""
        gen = self.gen
        if gen.stop.is_set():
            return True
        if isinstance(chunk, dict) and "error" in chunk:
            self.put("error", chunk["error"])
            return True
        choices = chunk.get("choices") or [] if isinstance(chunk, dict) else []
        for choice in choices:
            text = (choice.get("delta") or {}).get("content") or ""
            if text:
                if gen.first_token is None:
                    gen.first_token = time.perf_counter()
                self.put("text", text)
        if isinstance(chunk, dict) and chunk.get("timings"):
            gen.timings = dict(chunk["timings"])
        return False


class EngineBase:
    """What the provider needs of an engine: streamed chat requests, and each NPC's slot (KV cache)
    saved to and restored from disk (llama.cpp offers that over its HTTP API only: loopback,
    locked with a random key)."""

    path: Path
    address: str  # http://127.0.0.1:PORT
    slot_dir: Path | None

    def __init__(self, settings: LocalSettings, path: Path) -> None:
        self.settings, self.path = settings, path
        self._key = secrets.token_urlsafe(24)
        self.slot_dir = slot_dir(settings)

    def chat(self, request: dict[str, Any], gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        """Run one request to its end (in a worker thread), streaming into ``gen``."""
        raise NotImplementedError

    def cancel(self, gen: Generation) -> None:
        """Stop a request now (``gen.stop`` is already set; this may end it sooner)."""

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        """Stop the engine (the in-process one stops when its last reference goes)."""

    def slot_file(self, npc_id: str) -> str:
        return f"{self.path.stem}-{npc_id}.bin"

    def _slot_action(self, slot: int, action: str, filename: str) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{self.address}/slots/{slot}?action={action}",
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


class Engine(EngineBase):
    """The llama.cpp server of one model in the runtime's own process (``own_process = false``),
    loaded once; thread-safe. llama.cpp holds the GIL while it loads the model."""

    def __init__(self, settings: LocalSettings, path: Path) -> None:
        super().__init__(settings, path)
        import xllamacpp as xlc

        self.server = xlc.Server(server_params(settings, path, self._key))
        self.address = str(self.server.listening_address)

    def chat(self, request: dict[str, Any], gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        reader = ChunkReader(gen, loop)
        try:
            result = self.server.handle_chat_completions({**request, "stream": True}, reader)
            if isinstance(result, dict) and "error" in result:
                reader.put("error", result["error"])
        except Exception as exc:  # the binding raises on a bad request
            reader.put("error", f"{type(exc).__name__}: {exc}")
        finally:
            reader.put("end", None)
