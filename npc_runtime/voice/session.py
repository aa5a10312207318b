"""One voice conversation: player audio in -> turns -> transcripts, and the NPC's voice out.

I/O-free apart from the :class:`VoicePort` it is given (send a message, start a dialogue turn,
cancel the reply in flight), so it runs the same under the runtime and in unit tests.
Audio is queued by the wire handler and processed by one task per conversation; VAD runs
inline (75 us a frame), STT decoding in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from ..clock import Clock
from ..protocol.errors import ErrorCode, ProtocolError
from ..protocol.messages.voice import MAX_AUDIO_CHUNK_BYTES
from . import threads
from .config import VoiceConfig
from .events import Heard, Problem, VoiceEvent
from .frames import STT_RATE, Int16Array
from .metrics import TurnTimer
from .resample import StreamResampler
from .speaker import Reply, Speaker
from .stt.base import SttProvider, SttStream
from .tts.base import TtsProvider, VoiceParams
from .turn import build_policy
from .turn.smart_turn import counters as smart_turn_counters
from .turns import (
    Segmenter,
    SpeechAudio,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    classify,
)
from .vad.base import VadModel

log = logging.getLogger(__name__)
turn_log = logging.getLogger("npc_runtime.voice.turn")  # DEBUG: why each hands-free turn ended

MAX_TIMEOUT_POSTPONES = 20  # audio time-outs put off while the runtime has unread input

SUPPORTED_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_JOIN_GAP = np.zeros(int(0.2 * STT_RATE), dtype=np.int16)  # rejoin_ms: the pause between, shortened


class VoicePort(Protocol):
    async def emit(self, event: VoiceEvent) -> None: ...

    def start_turn(self, text: str) -> None: ...

    def interrupt_reply(self) -> bool: ...

    def input_pending(self) -> bool:
        """True while the runtime has received client messages it has not handled yet."""
        ...

    async def predict(self, text: str) -> Prediction | None:
        """Without side effects, the NPC, first sentence and voice of the reply ``text`` would
        get (None: cannot tell)."""
        ...


class UtteranceTap(Protocol):
    """Hears each utterance as the pipeline does (a speech-to-speech model, :mod:`.s2s.turn`)."""

    def begin(self) -> None: ...

    def audio(self, samples: Int16Array) -> None: ...

    def discard(self) -> None: ...


@dataclass(frozen=True)
class Prediction:
    npc_id: str
    sentence: str
    provider: TtsProvider
    params: VoiceParams


@dataclass
class _Item:
    kind: str  # audio | key_down | key_up
    at: float  # clock seconds on arrival
    samples: Int16Array | None = None


class VoiceConversation:
    def __init__(
        self,
        conversation_id: str,
        mode: str,
        cfg: VoiceConfig,
        vad: VadModel,
        stt: SttProvider,
        port: VoicePort,
        clock: Clock,
        fallback_tts: TtsProvider | None = None,
        turn_max_ms: float | None = None,
    ) -> None:
        if mode not in ("push_to_talk", "hands_free"):
            raise ValueError(f"not a voice mode: {mode}")
        self.id = conversation_id
        self.mode: Literal["push_to_talk", "hands_free"] = (
            "hands_free" if mode == "hands_free" else "push_to_talk"
        )
        self.cfg = cfg
        self._stt = stt
        self._port = port
        self._clock = clock
        self.segmenter = Segmenter(
            vad.stream(),
            hands_free=mode == "hands_free",
            threshold=cfg.vad_threshold,
            echo_threshold=cfg.echo_threshold,
            min_speech_ms=cfg.min_speech_ms,
            end_silence_ms=cfg.end_silence_ms,
            pre_roll_ms=cfg.pre_roll_ms,
            quiet_db=cfg.quiet_db,
            speculate_ms=cfg.speculate_after_ms if mode == "hands_free" else None,
            # voice.turn.policy decides when a pause ends the turn (voice/turn/)
            turn=build_policy(cfg.turn, cfg.end_silence_ms, max_ms=turn_max_ms)
            if mode == "hands_free"
            else None,
        )
        self.speaker = Speaker(conversation_id, port.emit, clock, cfg.chunk_ms, lambda: fallback_tts)
        self.sample_rate: int | None = None
        self._resampler: StreamResampler | None = None
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._stream: SttStream | None = None
        self._utterance = 0
        self._utt_samples = 0
        self._barged = False  # this utterance already interrupted the NPC
        self._utt_during_npc = False
        self._last_seq = -1
        # Speculative end of turn: the utterance's audio (to re-recognise it if the player goes
        # on) and the task that finalised the transcript at the pause and prepared the reply.
        self._speculating = bool(cfg.speculate_after_ms) and mode == "hands_free"
        self._utt_audio: list[Int16Array] = []
        # The last answered utterance's audio and when its voice ended (stream seconds): a player
        # who starts again soon after was cut off at a pause (``rejoin_ms``).
        self._answered: tuple[Int16Array, float] | None = None
        self._rejoin_audio: Int16Array | None = None  # this utterance may go on from that one
        self._spec: asyncio.Task[str] | None = None
        self._spec_gen = 0  # bumped when a speculation is dropped: its late results are ignored
        self.spec_stats = {"started": 0, "discarded": 0, "used": 0}
        self.rejoins = 0  # utterances joined to the turn before (rejoin_ms)
        self.next_timer: TurnTimer | None = None
        # Does the client send playback_started? None until a turn tells (voice/extension.py).
        self.reports_playback: bool | None = None
        self.tap: UtteranceTap | None = None
        self.closed = False
        self.turn_tasks: set[asyncio.Task[None]] = set()
        # Set while no reply is streaming: a new turn waits for it, because a conversation
        # tracks one reply stream at a time (see runtime/conversations.py run_turn).
        self.stream_idle = asyncio.Event()
        self.stream_idle.set()

    # -- from the wire (validation happens here, processing in the worker) ----------------------
    def configure(self, sample_rate: int, fmt: str, channels: int, ref: str | int | None = None) -> None:
        if fmt.lower() != "s16le":
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"audio format {fmt!r} is not supported; send PCM 's16le'",
                ref=ref,
            )
        if channels != 1:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"{channels} channels are not supported; send mono (1)",
                ref=ref,
            )
        if sample_rate not in SUPPORTED_RATES:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"sample rate {sample_rate} is not supported; use one of {', '.join(map(str, SUPPORTED_RATES))}",
                ref=ref,
            )
        if self.sample_rate != sample_rate:
            self.sample_rate = sample_rate
            self._resampler = StreamResampler(sample_rate, STT_RATE)
        self._last_seq = -1  # a new audio_start (microphone reopened) restarts the numbering
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name=f"voice-{self.id}")

    def audio(self, seq: int, pcm: bytes, ref: str | int | None = None) -> None:
        if self._resampler is None:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                "send audio_start (sample rate, format) before audio_chunk",
                ref=ref,
            )
        if len(pcm) > MAX_AUDIO_CHUNK_BYTES:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"audio chunk of {len(pcm)} bytes is over {MAX_AUDIO_CHUNK_BYTES}; send 20-100 ms per chunk",
                ref=ref,
            )
        if len(pcm) % 2:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"s16le audio needs an even number of bytes, got {len(pcm)} (chunk {seq} dropped)",
                ref=ref,
            )
        if seq <= self._last_seq:
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                f"audio chunk seq {seq} after {self._last_seq}; chunk dropped",
                ref=ref,
            )
        self._last_seq = seq
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        self._queue.put_nowait(_Item("audio", self._clock.monotonic(), samples))

    def key(self, down: bool, ref: str | int | None = None) -> None:
        if self.mode != "push_to_talk":
            raise ProtocolError(
                ErrorCode.AUDIO_INVALID,
                "speech_start/speech_end are for push_to_talk conversations; this one is hands_free",
                ref=ref,
            )
        if self._worker is None:
            raise ProtocolError(ErrorCode.AUDIO_INVALID, "send audio_start before speech_start", ref=ref)
        self._queue.put_nowait(_Item("key_down" if down else "key_up", self._clock.monotonic()))

    async def close(self) -> None:
        self.closed = True
        if self._worker is not None:
            self._worker.cancel()
        self._cancel_speculation()
        if self._stream is not None:
            await threads.run(self._stream.cancel)
            self._stream = None
        for reply in list(self.speaker.replies.values()):
            if reply.task is not None and not reply.task.done():
                reply.task.cancel()
        for task in list(self.turn_tasks):
            task.cancel()

    # -- worker --------------------------------------------------------------------------------
    async def _work(self) -> None:
        postponed = 0
        while True:
            timeout = self.cfg.audio_timeout_s if self.segmenter.in_speech else None
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow this task's
                # cancellation when an item arrives at the same instant, and the loop then never ends
                async with asyncio.timeout(timeout):
                    item = await self._queue.get()
            except TimeoutError:
                # A runtime that is behind (a loaded machine) has the client's next chunks unread,
                # or read while the time-out fired: the silence is then the runtime's, not the
                # client's. Wait again (a few times).
                behind = not self._queue.empty() or self._port.input_pending()
                if behind and postponed < MAX_TIMEOUT_POSTPONES:
                    postponed += 1
                    continue
                postponed = 0
                held = self.segmenter.end_in_pause() if self.mode == "hands_free" else None
                if held is not None:  # the microphone went quiet during a pause the policy held
                    await self._on_end(held, None)
                else:
                    await self._time_out()
                continue
            postponed = 0
            try:
                await self._handle(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("voice processing failed in conversation %s; utterance dropped", self.id)
                await self._drop_utterance()
                await self._port.emit(
                    Problem(
                        ErrorCode.PROVIDER_FAILED,
                        f"speech recognition failed ({type(exc).__name__}); the utterance was dropped",
                        "warning",
                    )
                )

    async def _handle(self, item: _Item) -> None:
        if item.kind == "audio":
            assert item.samples is not None and self._resampler is not None
            samples = self._resampler.process(item.samples)
            # "was the NPC audible" at the audio's arrival, not after a backlog of decoding
            events = self.segmenter.process(samples, self.speaker.playing(item.at) is not None)
        elif item.kind == "key_down":
            events = self.segmenter.key_down()
        else:
            events = self.segmenter.key_up()
        for ev in events:
            if isinstance(ev, SpeechStarted):
                await self._on_start(ev, item.at)
            elif isinstance(ev, SpeechAudio):
                await self._on_audio(ev.samples)
            elif isinstance(ev, SpeechPaused):
                self._on_pause()
            elif isinstance(ev, SpeechResumed):
                await self._on_resume()
            else:
                await self._on_end(ev, item.at)

    async def _on_start(self, ev: SpeechStarted, at: float) -> None:
        self._utterance += 1
        self._utt_samples = 0
        self._utt_audio = []
        self._barged = False
        playing = self.speaker.playing()
        self._utt_during_npc = playing is not None or self.speaker.playing(at) is not None
        self._stream = await threads.run(self._stt.stream)
        if self.segmenter.turn is not None:  # a question just asked invites a short answer
            self.segmenter.turn.npc_said(self.speaker.current.text if self.speaker.current else "")
        if self.tap is not None:
            self.tap.begin()
        if playing is not None and self.mode == "push_to_talk" and self.cfg.ptt_interrupts:
            await self._barge_in(playing, at)
        earlier, self._answered = self._answered, None
        self._rejoin_audio = None
        if earlier is not None and self._rejoins(ev.t - earlier[1]):
            self._rejoin_audio = earlier[0]
        await self._on_audio(ev.pre_roll)

    def _rejoins(self, gap_s: float) -> bool:
        """The player started again ``gap_s`` after the voice of the last answered utterance
        ended, while its reply is still coming or playing: perhaps a turn ended at a pause."""
        return (
            self.mode == "hands_free"
            and self.cfg.rejoin_ms > 0
            and self.tap is None
            and gap_s * 1000 <= self.cfg.rejoin_ms
            and (bool(self.turn_tasks) or self.speaker.playing() is not None)
        )

    async def _rejoin(self) -> None:
        """This utterance goes on from the one answered just before (it started within
        ``rejoin_ms`` and has proved to be the player's speech: the barge-in rules, so neither
        echo nor a backchannel): recognise the two joined, so the turn answered is the whole
        sentence ("Do you have a room, [pause] for the night?")."""
        earlier = self._rejoin_audio
        if earlier is None or self._stream is None:
            return  # finalised at a pause or at the end: joined when the turn ends (_on_end)
        self._rejoin_audio = None
        self.rejoins += 1
        log.info("conversation %s: the player went on after the turn ended; joined the utterances", self.id)
        self._utt_audio = [earlier, _JOIN_GAP, *self._utt_audio]
        self._utt_samples += len(earlier) + len(_JOIN_GAP)
        self._utt_during_npc = False  # the NPC is stopped: this utterance may be speculated on
        old, self._stream = self._stream, await threads.run(self._stt.stream)
        await threads.run(old.cancel)
        await threads.run(self._stream.feed, np.concatenate(self._utt_audio))

    async def _joined_text(self, earlier: Int16Array, audio: list[Int16Array]) -> tuple[str, Int16Array]:
        """The final transcript of ``earlier`` and this utterance's ``audio`` joined."""
        self.rejoins += 1
        joined = np.concatenate([earlier, _JOIN_GAP, *audio])
        stream = await threads.run(self._stt.stream)
        await threads.run(stream.feed, joined)
        return (await threads.run(stream.finish)).strip(), joined

    async def _on_audio(self, samples: Int16Array) -> None:
        if (self._stream is None and self._spec is None) or len(samples) == 0:
            return
        self._utt_samples += len(samples)
        if self._utt_samples > self.cfg.max_utterance_s * STT_RATE:
            if self.mode == "hands_free":  # a monologue or a stuck noise: end it here
                await self._on_end(
                    SpeechEnded(self.segmenter.t, self.segmenter.t, self.segmenter.voiced_ms), None
                )
                self.segmenter.abort()
            return
        if self._speculating or self.mode == "hands_free":
            self._utt_audio.append(samples)
        if self.tap is not None:
            self.tap.audio(samples)
        if self._stream is None:
            return  # the transcript was finalised at a pause; kept in case the player goes on
        stream = self._stream
        interim = (
            stream.feed(samples) if not stream.blocking_feed else await threads.run(stream.feed, samples)
        )
        if interim:
            if self.segmenter.turn is not None:
                self.segmenter.turn.heard(interim)
            await self._port.emit(Heard(self._utterance, interim, final=False))
            playing = self.speaker.playing()
            if (
                playing is not None
                and self.cfg.barge_in
                and not self._barged
                and self.segmenter.voiced_ms >= self.cfg.barge_in_min_ms
                and self._classify(interim, playing.text, self.segmenter.voiced_ms) == "speech"
            ):
                await self._barge_in(playing, self._clock.monotonic())

    # -- speculative end of turn -----------------------------------------------------------------
    def _on_pause(self) -> None:
        """A short pause: finalise the transcript and prepare the reply now, send nothing yet."""
        if self._stream is None or self._utt_during_npc or self.speaker.playing() is not None:
            return
        stream, self._stream = self._stream, None
        self.spec_stats["started"] += 1
        self._spec = asyncio.create_task(
            self._speculate(stream, self._spec_gen), name=f"voice-speculate-{self.id}"
        )

    async def _speculate(self, stream: SttStream, gen: int) -> str:
        # Never cancelled (a dropped speculation is ignored by generation instead), so the STT
        # stream is always finished and its decoder goes back to the pool.
        text = (await threads.run(stream.finish)).strip()
        if gen == self._spec_gen and self.segmenter.turn is not None:
            self.segmenter.turn.transcribed(text)  # a complete sentence may end the turn sooner
        if gen != self._spec_gen or self._classify(text, "", self.segmenter.voiced_ms) != "speech":
            return text
        try:
            guess = await self._port.predict(text)
        except Exception:
            log.exception("conversation %s: could not prepare a reply ahead", self.id)
            return text
        if guess is not None and gen == self._spec_gen:
            self.speaker.prepare(guess.npc_id, guess.sentence, guess.provider, guess.params)
        return text

    async def _on_resume(self) -> None:
        """The player went on after the pause: drop what was prepared, recognise the whole
        utterance again (its audio so far, then what follows)."""
        if self._spec is None:
            return
        self._cancel_speculation()
        self.spec_stats["discarded"] += 1
        self._stream = await threads.run(self._stt.stream)
        if self._utt_audio:
            audio = np.concatenate(self._utt_audio)
            await threads.run(self._stream.feed, audio)

    def _cancel_speculation(self) -> None:
        spec, self._spec = self._spec, None
        if spec is not None:
            self._spec_gen += 1
            spec.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.speaker.discard_prepared()

    async def _on_end(self, ev: SpeechEnded, at: float | None) -> None:
        turn = self.segmenter.turn
        if turn is not None and self.mode == "hands_free" and turn_log.isEnabledFor(logging.DEBUG):
            turn_log.debug(
                "conversation %s utterance %d: end of turn after %.0f ms of silence (%s); pause transcript %r",
                self.id,
                self._utterance,
                (ev.t_detected - ev.t_last_voice) * 1000,
                turn.reason or "no decision",
                turn.utt.final,
            )
            # running totals of the shared models (tools/bench_voice.py reads them per level)
            turn_log.debug("voice counters %s", json.dumps({**self._stt.counters(), **smart_turn_counters()}))
        stream, self._stream = self._stream, None
        spec, self._spec = self._spec, None
        heard_audio, self._utt_audio = self._utt_audio, []
        if stream is None and spec is None:
            return
        now = self._clock.monotonic()
        if self.mode == "hands_free":
            t_end = (at if at is not None else now) - (self.segmenter.t - ev.t_last_voice)
        else:
            t_end = at if at is not None else now
        timer = TurnTimer(self.id, self._utterance, self.mode, t_end, end_of_speech=now)
        if spec is not None:  # finalised at the pause; the player did not go on
            text = await spec
            self.spec_stats["used"] += 1
        else:
            assert stream is not None
            text = (await threads.run(stream.finish)).strip()
        timer.transcript_final = self._clock.monotonic()
        playing = self.speaker.playing()
        kind = self._classify(text, playing.text if playing else "", ev.voiced_ms)
        used, reason = True, None
        if kind == "empty":
            used, reason = False, "no_speech"
        elif (self._utt_during_npc or playing is not None) and not self._barged:
            if kind != "speech" or not self.cfg.barge_in:
                used, reason = False, kind if kind != "speech" else "npc_speaking"
            elif playing is not None:
                await self._barge_in(playing, self._clock.monotonic())
        earlier, self._rejoin_audio = self._rejoin_audio, None
        if used and earlier is not None and heard_audio:
            # went on from the turn before, and not joined while it was said (its transcript was
            # finalised at a pause, or the reply had ended before the barge-in rules were met)
            if not self._barged:  # the first half's reply is still being made: it is not wanted now
                self._port.interrupt_reply()
            joined_text, joined = await self._joined_text(earlier, heard_audio)
            text, heard_audio = joined_text or text, [joined]
        await self._port.emit(Heard(self._utterance, text, final=True, used=used, reason=reason))
        if not used:
            self.speaker.discard_prepared()
            if self.tap is not None:
                self.tap.discard()
            return
        self.next_timer = timer
        if self.mode == "hands_free" and heard_audio:
            self._answered = (np.concatenate(heard_audio), ev.t_last_voice)
        self._port.start_turn(text)

    def _classify(self, text: str, npc_text: str, voiced_ms: float) -> str:
        return classify(
            text,
            self.cfg.backchannels,
            npc_text,
            short=voiced_ms < self.cfg.backchannel_max_ms,
            interrupt_words=self.cfg.interrupt_words,
            min_words=self.cfg.min_interrupt_words,
        )

    async def _barge_in(self, reply: Reply, detected: float) -> None:
        self._barged = True
        await self.speaker.stop(reply, "barge_in", detected)
        self._port.interrupt_reply()
        log.info("barge-in in conversation %s (turn %s)", self.id, reply.turn_id)
        await self._rejoin()

    async def _time_out(self) -> None:
        log.info("conversation %s: audio stopped mid-utterance; dropped it", self.id)
        await self._drop_utterance()
        await self._port.emit(
            Problem(
                ErrorCode.AUDIO_TIMEOUT,
                f"no audio for {self.cfg.audio_timeout_s:g} s in the middle of an utterance; it was dropped"
                + (" (send speech_end when the talk key is released)" if self.mode == "push_to_talk" else ""),
                "error",
            )
        )

    async def _drop_utterance(self) -> None:
        if self.tap is not None:
            self.tap.discard()
        self._cancel_speculation()
        self._utt_audio = []
        self.segmenter.abort()
        stream, self._stream = self._stream, None
        if stream is not None:
            await threads.run(stream.cancel)
