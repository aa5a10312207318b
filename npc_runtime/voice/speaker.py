"""The NPC's voice for one conversation: streamed reply text -> sentences -> TTS -> npc_audio.

Synthesis starts as soon as the first sentence is complete and runs in a thread. Every chunk
sent is numbered, carries the subtitle words it speaks and lip-sync values, and is remembered
with word timings so that a playback report (``played_ms`` or ``heard_chars``) maps back to the
exact words the player heard.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..clock import Clock
from ..errors import ProviderError
from . import threads
from .events import AudioDone, AudioOut, PlaybackStop, VoiceEvent
from .frames import AudioFrame, SynthChunk
from .lipsync import mouth_open, speech_bounds, visemes_from_phonemes
from .metrics import TurnTimer
from .sentences import CLAUSE_WORDS, SentenceSplitter, speakable, split_first
from .tts.base import TtsProvider, VoiceParams

log = logging.getLogger(__name__)

Emit = Callable[[VoiceEvent], Awaitable[None]]


@dataclass
class Prepared:
    """A sentence synthesized ahead of its turn (speculative end of turn), used if it comes."""

    provider: TtsProvider
    params: VoiceParams
    task: asyncio.Task[list[SynthChunk]]


def _consume(task: asyncio.Task[list[SynthChunk]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("speculative synthesis failed: %s", task.exception())


@dataclass
class Reply:
    """One NPC turn being spoken."""

    turn_id: int
    npc_id: str
    provider: TtsProvider
    params: VoiceParams
    timer: TurnTimer | None = None
    splitter: SentenceSplitter = field(default_factory=SentenceSplitter)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    text: str = ""  # everything streamed so far (the subtitle source)
    seq: int = 0
    sent_ms: float = 0.0  # audio duration sent
    words: list[tuple[float, float, int, int]] = field(default_factory=list)  # ms, ms, chars
    first_sent: float | None = None  # clock
    playback_started: float | None = None  # clock, from the client
    started: asyncio.Event = field(default_factory=asyncio.Event)  # playback_started arrived
    played_ms: float | None = None  # from the client's report
    heard_chars: int | None = None
    report: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # playback over (report or stop)
    stopped: bool = False
    stop_sent: bool = False
    queued_any: bool = False
    clause_taken: bool = False  # a first clause went to TTS before its sentence's end
    external: bool = False  # the audio comes from a speech-to-speech model, not from TTS of the text
    prepared: dict[tuple[str, str], Prepared] = field(default_factory=dict)
    _cursor: int = 0  # char offset in ``text`` up to which words are timed

    def heard_text(self, now: float) -> str:
        """The words the player heard, as a prefix of the reply text."""
        if self.heard_chars is not None:
            cut = self.text[: self.heard_chars]
            if (
                self.heard_chars < len(self.text)
                and not self.text[self.heard_chars : self.heard_chars + 1].isspace()
            ):
                cut = cut.rsplit(" ", 1)[0] if " " in cut else ""
            return cut.rstrip()
        played = self.played_ms
        if played is None:  # no report: estimate from when playback began
            start = self.playback_started or self.first_sent
            played = 0.0 if start is None else min(self.sent_ms, (now - start) * 1000.0)
        end_char = 0
        for start_ms, end_ms, _start, end in self.words:
            if start_ms + 0.5 * (end_ms - start_ms) <= played:
                end_char = end
        return self.text[:end_char].rstrip()

    def playing(self, now: float, margin_s: float = 0.25) -> bool:
        """True while the client is (probably) playing this reply's audio."""
        if self.finished.is_set() or self.stopped:
            return False
        if self.task is not None and not self.task.done():
            return True
        start = self.playback_started or self.first_sent
        if start is None:
            return False
        return now < start + self.sent_ms / 1000.0 + margin_s


class Speaker:
    def __init__(
        self,
        name: str,
        emit: Emit,
        clock: Clock,
        chunk_ms: float,
        fallback: Callable[[], TtsProvider | None],
    ) -> None:
        self.name = name  # for task names and logs (the conversation id)
        self._emit = emit
        self._clock = clock
        self._chunk_ms = chunk_ms
        self._fallback = fallback
        self.replies: dict[int, Reply] = {}
        self.current: Reply | None = None
        self.prepared: dict[tuple[str, str], Prepared] = {}  # (npc_id, spoken text) -> synthesis
        self.prepared_hits = 0

    # -- speculation ---------------------------------------------------------------------------
    def prepare(self, npc_id: str, sentence: str, provider: TtsProvider, params: VoiceParams) -> None:
        """Start synthesizing a sentence the next reply will probably begin with. Nothing is sent:
        the next reply takes the audio if its text, voice and NPC match, else it is dropped."""
        spoken = speakable(sentence)
        if not spoken or (npc_id, spoken) in self.prepared:
            return
        task = asyncio.create_task(
            threads.run(provider.synthesize, spoken, params), name=f"tts-prepare-{self.name}"
        )
        task.add_done_callback(_consume)
        self.prepared[(npc_id, spoken)] = Prepared(provider, params, task)

    def discard_prepared(self) -> None:
        for prep in self.prepared.values():
            prep.task.cancel()
        self.prepared.clear()

    # -- from the TurnSink ---------------------------------------------------------------------
    def begin(self, reply: Reply) -> None:
        self.replies[reply.turn_id] = reply
        self.current = reply
        reply.prepared, self.prepared = self.prepared, {}
        reply.task = asyncio.create_task(self._synth_loop(reply), name=f"tts-{self.name}-{reply.turn_id}")
        for old in list(self.replies):  # keep a few for late playback reports
            if old < reply.turn_id - 4:
                del self.replies[old]

    def text(self, reply: Reply, delta: str) -> None:
        if reply.timer is not None and reply.timer.first_dialogue_token is None:
            reply.timer.first_dialogue_token = self._clock.monotonic()
        reply.text += delta
        for sentence in reply.splitter.feed(delta):
            self._queue(reply, sentence)
        if not reply.clause_taken:
            # Streamed text that stops right after a clause (a language model's first clause, sent
            # before its sentence ends): synthesized at once, once per reply; the rest of the
            # sentence follows as one piece.
            clause = reply.splitter.take_clause(CLAUSE_WORDS)
            if clause is not None:
                reply.clause_taken = reply.queued_any = True
                reply.queue.put_nowait(clause)

    def end_of_text(self, reply: Reply) -> None:
        for sentence in reply.splitter.flush():
            self._queue(reply, sentence)
        reply.queue.put_nowait(None)

    def _queue(self, reply: Reply, sentence: str) -> None:
        pieces = split_first(sentence) if not reply.queued_any else [sentence]
        reply.queued_any = True
        for piece in pieces:
            reply.queue.put_nowait(piece)

    async def stop(self, reply: Reply, reason: str, detected: float | None = None) -> None:
        """Cancel synthesis and tell the client to stop playing (at most once)."""
        reply.stopped = True
        reply.finished.set()  # playback is over as far as the turn is concerned
        if reply.task is not None and not reply.task.done():
            reply.task.cancel()
        if not reply.stop_sent and reply.seq > 0:
            reply.stop_sent = True
            after = None if detected is None else round((self._clock.monotonic() - detected) * 1000.0, 1)
            await self._emit(PlaybackStop(turn_id=reply.turn_id, reason=reason, detection_ms=after))

    async def wait_synth(self, reply: Reply, timeout: float) -> None:
        """Wait until the reply's synthesis is over (done, failed or stopped); TimeoutError after
        ``timeout`` unless the reply was stopped meanwhile.

        ``asyncio.wait``, not ``wait_for(shield(...))``: only the caller's own cancellation may
        raise CancelledError here. The old code caught CancelledError to tell a stopped synthesis,
        and so also dropped the turn's cancellation when a barge-in stopped the reply in the same
        instant (and Python 3.11's ``wait_for`` drops it when the task ends as the caller is
        cancelled)."""
        if reply.task is None:
            return
        done, _ = await asyncio.wait({reply.task}, timeout=timeout)
        if reply.task.cancelled() or reply.stopped:
            return
        if not done:
            raise TimeoutError(f"synthesis of turn {reply.turn_id} took over {timeout:g} s")
        reply.task.result()  # a synthesis failure is the caller's to handle, as before

    def playing(self, at: float | None = None) -> Reply | None:
        """The reply the client is (probably) playing now, or at clock time ``at``."""
        now = self._clock.monotonic() if at is None else at
        for reply in self.replies.values():
            if reply.playing(now):
                return reply
        return None

    # -- synthesis -----------------------------------------------------------------------------
    async def _synth_loop(self, reply: Reply) -> None:
        interrupted = False
        try:
            while True:
                sentence = await reply.queue.get()
                if sentence is None:
                    break
                spoken = speakable(sentence)
                if not spoken:
                    self._time_words(reply, sentence, reply.sent_ms, reply.sent_ms)
                    continue
                chunks = await self._synthesize(reply, spoken)
                if reply.timer is not None and reply.timer.first_tts_audio is None:
                    reply.timer.first_tts_audio = self._clock.monotonic()
                await self._send_sentence(reply, sentence, chunks)
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            for prep in reply.prepared.values():
                prep.task.cancel()
            reply.prepared.clear()
            if reply.seq > 0 or interrupted:
                end = AudioDone(
                    turn_id=reply.turn_id,
                    npc_id=reply.npc_id,
                    chunks=reply.seq,
                    duration_ms=round(reply.sent_ms, 1),
                    interrupted=interrupted,
                )
                await asyncio.shield(self._emit(end))

    async def _synthesize(self, reply: Reply, text: str) -> list[SynthChunk]:
        prep = reply.prepared.pop((reply.npc_id, text), None)
        if prep is not None:
            if prep.provider is reply.provider and prep.params == reply.params:
                try:
                    chunks = await prep.task
                except ProviderError:
                    pass  # synthesize again below, with the fallback if need be
                else:
                    self.prepared_hits += 1
                    return chunks
            else:
                prep.task.cancel()
        try:
            return await threads.run(reply.provider.synthesize, text, reply.params)
        except ProviderError as exc:
            fallback = self._fallback()
            if fallback is None or fallback is reply.provider:
                raise
            log.warning("TTS %s failed (%s); using %s", reply.provider.name, exc, fallback.name)
            reply.provider = fallback
            reply.params = reply.params.for_fallback()
            return await threads.run(fallback.synthesize, text, reply.params)

    def _time_words(self, reply: Reply, sentence: str, start_ms: float, end_ms: float) -> None:
        """Spread the sentence's words over [start_ms, end_ms] by length; record their end chars."""
        spans: list[tuple[int, int]] = []
        for m in re.finditer(r"\S+", sentence):
            pos = reply.text.find(m.group(0), reply._cursor)
            if pos < 0:
                continue
            reply._cursor = pos + len(m.group(0))
            spans.append((pos, reply._cursor))
        total = sum(b - a for a, b in spans) or 1
        t = start_ms
        for a, b in spans:
            dur = (end_ms - start_ms) * (b - a) / total
            reply.words.append((t, t + dur, a, b))
            t += dur

    async def _send_sentence(self, reply: Reply, sentence: str, chunks: list[SynthChunk]) -> None:
        frames = [c for c in chunks if len(c.audio.samples)]
        if not frames:
            return
        rate = frames[0].audio.sample_rate
        samples = np.concatenate([c.audio.samples for c in frames])
        whole = AudioFrame(samples, rate)
        phonemes: list[tuple[float, str]] = []
        offset = 0.0
        for c in frames:
            phonemes += [(offset + t, p) for t, p in c.phonemes]
            offset += c.audio.duration
        base_ms = reply.sent_ms
        lo, hi = speech_bounds(whole)
        first_word = len(reply.words)
        self._time_words(reply, sentence, base_ms + lo * 1000.0, base_ms + hi * 1000.0)
        sentence_words = reply.words[first_word:]
        step = max(1, int(rate * self._chunk_ms / 1000.0))
        for i in range(0, len(samples), step):
            part = AudioFrame(samples[i : i + step], rate)
            t0 = i / rate
            t1 = t0 + part.duration
            if phonemes:
                timed = [(t - t0, p) for t, p in phonemes if t0 <= t < t1]
                visemes = visemes_from_phonemes(timed, part.duration)
                kind: Literal["viseme", "mouth_open"] = "viseme"
            else:
                visemes = mouth_open(part)
                kind = "mouth_open"
            lo_ms, hi_ms = base_ms + t0 * 1000.0, base_ms + t1 * 1000.0
            last = i + step >= len(samples)
            words = [
                reply.text[a:b]
                for s_ms, _e_ms, a, b in sentence_words
                if (lo_ms <= s_ms < hi_ms) or (i == 0 and s_ms < lo_ms) or (last and s_ms >= hi_ms)
            ]
            await self._emit(
                AudioOut(
                    turn_id=reply.turn_id,
                    npc_id=reply.npc_id,
                    seq=reply.seq,
                    sample_rate=rate,
                    pcm=part.to_bytes(),
                    text=" ".join(w for w in words if w),
                    visemes=visemes,
                    viseme_kind=kind,
                )
            )
            reply.seq += 1
            reply.sent_ms += part.duration * 1000.0
            now = self._clock.monotonic()
            if reply.first_sent is None:
                reply.first_sent = now
            if reply.timer is not None and reply.timer.first_audio_sent is None:
                reply.timer.first_audio_sent = now
                reply.timer.turn_id = reply.turn_id
                reply.timer.sent = True
                await self._emit(reply.timer.event())
