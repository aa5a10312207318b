"""smart-turn v3.2: a learned end-of-turn model that listens to the last 8 s of the utterance.

The int8 ONNX file ``smart-turn-v3.2-cpu.onnx`` (BSD-2-Clause, by Daily; 8.7 MB) ships inside the
``pipecat-ai`` wheel, which setup.sh installs with ``--no-deps``: pipecat itself cannot be imported
without its dependency set, so the file is found by path (``importlib.util.find_spec`` of the
top-level package does not execute it) and run here with onnxruntime. Its input is Whisper's
log-mel (80 x 800) of the waveform normalised to zero mean and unit variance, zero-padded at the
start to 8 s; its output the probability that the turn is complete.

A call costs ~110-140 ms on this project's 2-core machine, so it runs in a small shared thread
pool (:class:`SmartTurnRunner`) and the policy caps how long it waits for an answer.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import MissingDependencyError
from .. import threads as voice_threads
from ..frames import STT_RATE, Int16Array
from ..stt.whisper_io import HOP, N_FFT, _hann, log_mel, mel_filters
from .base import WINDOW_S

log = logging.getLogger(__name__)

MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
INSTALL = "pip install --no-deps pipecat-ai==1.14.0"
FRAMES = 800  # 8 s of 10 ms feature frames


class SmartTurnMissing(MissingDependencyError):
    """The model file is not installed."""

    def __init__(self, what: str) -> None:
        super().__init__(what, "voice", command=INSTALL)


def find_model() -> Path:
    """The model file inside the installed pipecat-ai wheel (pipecat is not imported)."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise SmartTurnMissing("pipecat-ai (the smart-turn model ships in its wheel)")
    for root in spec.submodule_search_locations:
        path = Path(root) / "audio" / "turn" / "smart_turn" / "data" / MODEL_FILE
        if path.is_file():
            return path
    raise SmartTurnMissing(f"{MODEL_FILE} (in the pipecat-ai wheel)")


def features(audio: Int16Array) -> np.ndarray:
    """(1, 80, 800) float32: the last 8 s, zero-padded at the start, normalised, log-mel.

    Same values as Whisper's :func:`~..stt.whisper_io.log_mel` of the normalised window, but the
    padding (a constant after normalisation) is one frame computed once: an utterance of 2 s
    puts only a quarter of the 800 frames through the FFT."""
    n = int(WINDOW_S * STT_RATE)
    x = audio[-n:].astype(np.float32) / 32768.0
    lead = n - len(x)
    if lead:
        x = np.concatenate([np.zeros(lead, dtype=np.float32), x])
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    # frames whose 400 samples (centred, after Whisper's 200-sample reflect padding) lie in the lead
    same = (lead - N_FFT // 2) // HOP + 1 if lead >= N_FFT // 2 + HOP else 0
    if same < 2:
        return log_mel(x, FRAMES)[None, :, :]
    pad = N_FFT // 2
    padded = np.pad(x, (pad, pad), mode="reflect")
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(same - 1, FRAMES)[:, None]
    spec = np.fft.rfft(padded[idx] * _hann()[None, :], axis=1)
    power = np.empty((FRAMES, N_FFT // 2 + 1), dtype=np.float32)
    power[same - 1 :] = spec.real**2 + spec.imag**2
    power[: same - 1] = power[same - 1]  # the first frame computed is still all lead: the constant one
    mel = power @ mel_filters().T  # (frames, 80)
    logm = np.log10(np.maximum(mel, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    return ((logm.T + 4.0) / 4.0).astype(np.float32)[None, :, :]


class SmartTurnModel:
    """One ONNX session (thread-safe for concurrent ``run`` calls)."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a core voice dependency
            raise MissingDependencyError("onnxruntime", "voice") from exc
        self.path = path or find_model()
        if not self.path.is_file():
            raise SmartTurnMissing(f"the smart-turn model file {self.path}")
        so = ort.SessionOptions()
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        so.intra_op_num_threads = threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        with voice_threads.os_named("smart-turn"):
            self._session = ort.InferenceSession(
                str(self.path), sess_options=so, providers=["CPUExecutionProvider"]
            )
        self._input = self._session.get_inputs()[0].name

    def predict(self, audio: Int16Array) -> float:
        """P(the turn is complete) for 16 kHz audio ending now."""
        out: Any = self._session.run(None, {self._input: features(audio)})
        return float(np.asarray(out[0]).reshape(-1)[0])


@dataclass
class Probe:
    """One smart-turn call for the utterance's audio at stream time ``t`` (and wall time ``wall``,
    the runner's clock at submission)."""

    t: float
    future: Future[float] | None = None
    value: float | None = None
    ready_at: float = 0.0  # inline mode: stream time when the answer counts as arrived
    cost_ms: float = 0.0
    wall: float = 0.0
    clock: Callable[[], float] | None = None  # thread mode: the runner's wall clock
    skipped: bool = False  # not asked: every model thread was busy (the cues decide this pause)

    def result(self, now: float) -> float | None:
        """The probability once it has arrived by stream time ``now`` (None: not yet, or failed)."""
        if self.future is not None:
            if not self.future.done() or self.future.exception() is not None:
                return None
            return self.future.result()
        return self.value if now >= self.ready_at else None

    def failed(self) -> bool:
        return self.future is not None and self.future.done() and self.future.exception() is not None

    def may_come(self, now: float, cap_ms: float) -> bool:
        """No answer yet, and one may still come within ``cap_ms`` of the request. A thread-run
        call counts WALL time: when the runtime is behind, a backlog of audio is consumed faster
        than real time, and stream time would run out the cap before the model had a chance to
        answer (the pause then waited for the fixed silence). Inline (benchmarks, tests), stream
        time stands in for the wall clock."""
        if self.skipped or self.result(now) is not None or self.failed():
            return False
        if self.future is not None and self.clock is not None:
            return (self.clock() - self.wall) * 1000 < cap_ms
        return (now - self.t) * 1000 < cap_ms


class SmartTurnRunner:
    """Runs the model off the event loop. ``inline=True`` (benchmarks, tests) computes at once and
    lets the answer count only after its cost in stream time (measured, or ``delay_ms`` when given,
    so a test does not depend on the machine's speed)."""

    def __init__(
        self,
        model: SmartTurnModel,
        *,
        workers: int = 2,
        inline: bool = False,
        delay_ms: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.clock = clock
        self.inline = inline
        self.delay_ms = delay_ms
        self._pool = None if inline else _pool(workers)
        self.calls = 0
        self.skipped = 0  # calls shed because every model thread was busy
        self.cost_ms: list[float] = []

    def submit(self, audio: Int16Array, t: float) -> Probe:
        self.calls += 1
        if self._pool is not None:
            future = self._pool.submit(self._timed, audio)
            if future is None:  # an answer would come after others' calls, too late: shed it
                self.skipped += 1
                return Probe(t, skipped=True)
            return Probe(t, future=future, wall=self.clock(), clock=self.clock)
        t0 = time.perf_counter()
        value = self.model.predict(audio)
        cost = (time.perf_counter() - t0) * 1000
        self.cost_ms.append(cost)
        delay = cost if self.delay_ms is None else self.delay_ms
        return Probe(t, value=value, ready_at=t + delay / 1000.0, cost_ms=cost)

    def has_free_thread(self) -> bool:
        """Whether a call now would be made (inline: always)."""
        return self._pool is None or self._pool.has_free_thread()

    def _timed(self, audio: Int16Array) -> float:
        t0 = time.perf_counter()
        try:
            return self.model.predict(audio)
        except Exception:
            log.exception("smart-turn failed; this pause is judged by silence")
            raise
        finally:
            self.cost_ms.append((time.perf_counter() - t0) * 1000)
            del self.cost_ms[:-200]


class _Pool:
    """The model's threads, shared by every conversation. A call is taken only while a thread is
    free: with all of them busy (8 conversations pausing at once: 8 calls took 1.1 s p50 on two
    loaded cores, against the policy's 300 ms cap), a queued call would answer too late to be
    used and take CPU from the turns that are answered, so it is not made."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(
            workers,
            thread_name_prefix="smart-turn",
            initializer=voice_threads.set_os_name,
            initargs=("smart-turn",),
        )
        self._busy = 0
        self._lock = threading.Lock()
        # calls made, calls shed (every thread busy), CPU and wall time in the model
        self.stats: dict[str, float] = {"calls": 0, "shed": 0, "cpu_ms": 0.0, "run_ms": 0.0}

    def has_free_thread(self) -> bool:
        with self._lock:
            return self._busy < self.workers

    def submit(self, fn: Callable[[Int16Array], float], audio: Int16Array) -> Future[float] | None:
        with self._lock:
            if self._busy >= self.workers:
                self.stats["shed"] += 1
                return None
            self._busy += 1
        return self._executor.submit(self._run, fn, audio)

    def _run(self, fn: Callable[[Int16Array], float], audio: Int16Array) -> float:
        cpu, wall = time.thread_time(), time.monotonic()
        try:
            return fn(audio)
        finally:  # before the future's result is set: whoever waited on it finds the thread free
            with self._lock:
                self._busy -= 1
                self.stats["calls"] += 1
                self.stats["cpu_ms"] += (time.thread_time() - cpu) * 1000
                self.stats["run_ms"] += (time.monotonic() - wall) * 1000


_pools: dict[int, _Pool] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> _Pool:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = _Pool(workers)
        return pool


def counters() -> dict[str, float]:
    """The model threads' running totals (every pool of the process), for diagnostics."""
    out: dict[str, float] = {}
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        with pool._lock:
            for k, v in pool.stats.items():
                out[f"smart_turn.{k}"] = out.get(f"smart_turn.{k}", 0) + v
    return out


_models: dict[tuple[int, str | None], SmartTurnModel | None] = {}


def shared_model(threads: int = 1, path: str | None = None) -> SmartTurnModel | None:
    """The process's model, loaded once; None (logged once, clearly) when it is not installed."""
    key = (threads, path)
    with _pools_lock:
        if key not in _models:
            try:
                _models[key] = SmartTurnModel(Path(path) if path else None, threads=threads)
            except Exception as exc:  # a missing or unreadable file: degrade, never fail the runtime
                log.warning(
                    "smart-turn end-of-turn model unavailable (%s); hands-free turns end after "
                    "voice.turn.silence_ms of silence instead",
                    exc,
                )
                _models[key] = None
        return _models[key]
