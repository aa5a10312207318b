"""A speech-to-speech model's voice out to the engine: the same ``npc_audio`` the cascade sends.

The model's audio (24 kHz) is resampled to the rate the conversation announced in
``audio_ready`` (the persona's TTS rate, so a turn that falls back to the cascade plays at the
same rate), cut into ``chunk_ms`` chunks with mouth-open lip-sync values from the envelope, and
numbered on the turn's :class:`~npc_runtime.voice.speaker.Reply` like synthesized speech. The
transcript rides along as subtitles: each chunk carries the whole words that arrived before it,
and those words are timed over the chunk, so a playback report maps back to the words heard.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import numpy as np

from ...clock import Clock
from ..events import AudioOut, VoiceEvent
from ..frames import AudioFrame, Int16Array
from ..lipsync import mouth_open
from ..resample import StreamResampler
from ..speaker import Reply
from .base import S2S_RATE

Emit = Callable[[VoiceEvent], Awaitable[None]]


class ExternalVoice:
    """Sends one reply's model audio and transcript as numbered ``npc_audio`` chunks."""

    def __init__(self, reply: Reply, emit: Emit, clock: Clock, out_rate: int, chunk_ms: float) -> None:
        self.reply = reply
        self._emit = emit
        self._clock = clock
        self.out_rate = out_rate
        self._resampler = StreamResampler(S2S_RATE, out_rate)
        self._step = max(1, int(out_rate * chunk_ms / 1000.0))
        self._pending: list[Int16Array] = []
        self._pending_len = 0
        self._text_sent = len(reply.text)  # chars of reply.text already on a chunk
        self.received_ms = 0.0  # model audio received, in ms

    def text(self, delta: str) -> None:
        """The transcript grew (the caller also yields it as the turn's text)."""
        if self.reply.timer is not None and self.reply.timer.first_dialogue_token is None:
            self.reply.timer.first_dialogue_token = self._clock.monotonic()
        self.reply.text += delta

    async def audio(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.int16)
        self.received_ms += 1000.0 * len(samples) / S2S_RATE
        timer = self.reply.timer
        if timer is not None:
            now = self._clock.monotonic()
            if timer.first_dialogue_token is None:
                timer.first_dialogue_token = now
            if timer.first_tts_audio is None:
                timer.first_tts_audio = now
        out = self._resampler.process(samples)
        if len(out):
            self._pending.append(out)
            self._pending_len += len(out)
        while self._pending_len >= self._step:
            await self._send(self._take(self._step), last=False)

    async def flush(self) -> None:
        """The reply is complete: send what is left (audio and any words not yet on a chunk)."""
        tail = self._resampler.process(np.zeros(0, dtype=np.int16), last=True)
        if len(tail):
            self._pending.append(tail)
            self._pending_len += len(tail)
        while self._pending_len > 0:
            await self._send(
                self._take(min(self._step, self._pending_len)), last=self._pending_len <= self._step
            )

    def _take(self, n: int) -> Int16Array:
        whole = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        part, rest = whole[:n], whole[n:]
        self._pending = [rest] if len(rest) else []
        self._pending_len = len(rest)
        return part

    def _words(self, last: bool) -> tuple[int, int]:
        """The span of reply.text to put on the next chunk: whole words only, all at the end."""
        text = self.reply.text
        start = self._text_sent
        if last:
            end = len(text)
        else:
            cut = max(text.rfind(" ", start), text.rfind("\n", start))
            end = cut if cut > start else start
        self._text_sent = end
        return start, end

    async def _send(self, samples: Int16Array, last: bool) -> None:
        reply = self.reply
        if reply.stopped:
            return
        frame = AudioFrame(samples, self.out_rate)
        start, end = self._words(last)
        base_ms = reply.sent_ms
        spans = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", reply.text[start:end])]
        total = sum(b - a for a, b in spans) or 1
        t = base_ms
        for a, b in spans:  # spread the chunk's words over it by length
            dur = frame.duration * 1000.0 * (b - a) / total
            reply.words.append((t, t + dur, a, b))
            t += dur
        await self._emit(
            AudioOut(
                turn_id=reply.turn_id,
                npc_id=reply.npc_id,
                seq=reply.seq,
                sample_rate=self.out_rate,
                pcm=frame.to_bytes(),
                text=" ".join(reply.text[a:b] for a, b in spans),
                visemes=mouth_open(frame),
                viseme_kind="mouth_open",
            )
        )
        reply.seq += 1
        reply.sent_ms += frame.duration * 1000.0
        now = self._clock.monotonic()
        if reply.first_sent is None:
            reply.first_sent = now
        timer = reply.timer
        if timer is not None and timer.first_audio_sent is None:
            timer.first_audio_sent = now
            timer.turn_id = reply.turn_id
            timer.sent = True
            await self._emit(timer.event())
