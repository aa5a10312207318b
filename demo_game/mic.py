"""Microphones for push-to-talk: the real one (sounddevice) or a WAV file standing in for it.

A microphone streams while :attr:`Microphone.live` is set (the whole voice conversation, not only
while V is held: the runtime keeps the last 400 ms before the key press as a pre-roll) and hands
s16le mono PCM to its sink. The sounddevice one does it on PortAudio's thread; the WAV one in
:meth:`Microphone.pump`, called every frame with the frame's duration, so it streams at the pace a
real one would: silence, and the file from its start each time the key goes down.
"""

from __future__ import annotations

import logging
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DemoError

log = logging.getLogger(__name__)

RATE = 16_000
CHUNK_MS = 100
PcmSink = Callable[[bytes], None]


class Microphone:
    rate = RATE
    name = "microphone"

    def __init__(self) -> None:
        self.live = False
        self.sink: PcmSink | None = None
        self._lock = threading.Lock()

    def begin(self, sink: PcmSink) -> None:
        with self._lock:
            self.sink, self.live = sink, True

    def end(self) -> None:
        with self._lock:
            self.live, self.sink = False, None

    def _deliver(self, pcm: bytes) -> None:
        with self._lock:
            sink = self.sink if self.live else None
        if sink is not None and pcm:
            sink(pcm)

    def pump(self, dt: float) -> None:
        """Frame-driven sources deliver ``dt`` seconds of audio here."""

    def key_down(self) -> None:
        """The talk key went down (a real microphone does not care)."""

    def close(self) -> None:
        self.end()


class DeviceMicrophone(Microphone):
    """The default input device through sounddevice; always open, delivering only while live."""

    def __init__(self, stream_factory: Callable[..., Any]) -> None:
        super().__init__()
        self.name = "microphone"
        self._stream = stream_factory(
            samplerate=RATE,
            channels=1,
            dtype="int16",
            blocksize=RATE * CHUNK_MS // 1000,
            callback=self._callback,
        )
        self._stream.start()

    def _callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        self._deliver(bytes(indata))

    def close(self) -> None:
        super().close()
        self._stream.stop()
        self._stream.close()


class WavMicrophone(Microphone):
    """A 16-bit mono WAV said into the conversation on every push-to-talk press; silence otherwise."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                    raise DemoError(
                        f"{path}: use a 16-bit mono WAV as the microphone (sox in.wav -b 16 -c 1 out.wav)"
                    )
                self.rate = wav.getframerate()
                self.samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        except (OSError, wave.Error) as exc:
            raise DemoError(f"cannot read microphone WAV {path}: {exc}") from exc
        self.name = f"WAV {path.name}"
        self._pos = len(self.samples)  # nothing to say until the key goes down
        self._owed = 0.0

    def begin(self, sink: PcmSink) -> None:
        self._owed = 0.0
        super().begin(sink)

    def key_down(self) -> None:
        self._pos = 0

    def pump(self, dt: float) -> None:
        if not self.live:
            return
        self._owed += dt * self.rate
        step = self.rate * CHUNK_MS // 1000
        while self._owed >= step:
            part = self.samples[self._pos : self._pos + step]
            if len(part) < step:  # nothing (more) said: the room is quiet
                part = np.concatenate([part, np.zeros(step - len(part), dtype="<i2")])
            self._pos += step
            self._owed -= step
            self._deliver(part.astype("<i2").tobytes())


def open_device_microphone() -> Microphone | None:
    """The default input device, or None (with the reason logged) when there is none."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: PortAudio library missing
        log.info("no microphone: sounddevice unavailable (%s); pip install sounddevice", exc)
        return None
    try:
        sd.query_devices(kind="input")
        return DeviceMicrophone(sd.RawInputStream)
    except Exception as exc:  # PortAudioError or ValueError: no (default) input device
        log.info("no microphone: %s", exc)
        return None
