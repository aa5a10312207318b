"""`npc-runtime voice ...`: hear a persona's voice and check what the recogniser makes of a file.

npc-runtime voice say NPC_ID "TEXT" -o out.wav [--personas DIR] [--tts piper|espeak] [--visemes v.json]
                      [--mood angry|afraid|sad|happy|calm|neutral] [--intensity 0..1]
npc-runtime voice transcribe FILE.wav [--personas DIR] [--whole]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import wave
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ContentError

DEFAULT_PERSONAS = Path("personas")


def _personas(folder: Path) -> list[object]:
    from ..personas.loader import load_persona_file, persona_files

    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; pass the persona folder with --personas DIR")
    out: list[object] = []
    for f in persona_files([folder]):
        persona, problems = load_persona_file(f)
        if persona is None:
            raise ContentError(list(problems))
        out.append(persona)
    return out


def cmd_say(args: argparse.Namespace) -> int:
    from ..personas.schema import Persona
    from .character import voice_params
    from .lipsync import visemes_from_phonemes
    from .models import shared_tts
    from .sentences import SentenceSplitter
    from .tts.design import Delivery

    personas = {p.id: p for p in _personas(args.personas) if isinstance(p, Persona)}
    persona = personas.get(args.npc_id)
    if persona is None:
        raise ConfigError(f"unknown NPC '{args.npc_id}'; known: {', '.join(sorted(personas))}")
    vs = persona.voice
    name = args.tts or vs.tts or "piper"
    try:
        delivery = Delivery(args.mood, args.intensity) if args.mood else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    params = voice_params(vs, delivery)
    if name != (vs.tts or "piper"):
        params = params.for_fallback()  # another engine: its own default voice, same design
    tts = shared_tts(name)
    splitter = SentenceSplitter()  # sentence by sentence, as the runtime speaks it
    sentences = [s for s in splitter.feed(args.text) + splitter.flush() if s.strip()] or [args.text]
    t0 = time.perf_counter()
    chunks = [c for sentence in sentences for c in tts.synthesize(sentence, params)]
    took = time.perf_counter() - t0
    rate = chunks[0].audio.sample_rate
    audio = np.concatenate([c.audio.samples for c in chunks])
    with wave.open(str(args.output), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.astype("<i2").tobytes())
    visemes: list[list[float | str]] = []
    offset = 0.0
    for c in chunks:
        visemes += [
            [round(float(t) + offset * 1000.0, 1), v]
            for t, v in visemes_from_phonemes(c.phonemes, c.audio.duration)
        ]
        offset += c.audio.duration
    if args.visemes:
        Path(args.visemes).write_text(json.dumps(visemes))
    print(
        f"{args.output}: {len(audio) / rate:.2f} s at {rate} Hz with {name} "
        f"(synthesized in {took * 1000:.0f} ms), {len(visemes)} viseme keys"
    )
    return 0


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path)) as w:
            if w.getsampwidth() != 2:
                raise ConfigError(
                    f"{path}: only 16-bit PCM WAV is supported (convert with: sox IN -b 16 OUT)"
                )
            rate, channels = w.getframerate(), w.getnchannels()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except (OSError, wave.Error, EOFError) as exc:
        raise ConfigError(f"{path}: not a readable WAV file ({exc})") from exc
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data, rate


def cmd_transcribe(args: argparse.Namespace) -> int:
    from ..personas.schema import Persona
    from .frames import STT_RATE
    from .models import shared_stt, shared_vad
    from .resample import resample
    from .stt.vocab import scene_words
    from .turns import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted

    audio, rate = _read_wav(args.file)
    audio = resample(audio, rate, STT_RATE)
    stt = shared_stt(args.stt)
    if args.personas.is_dir():
        stt.set_vocabulary(scene_words([p for p in _personas(args.personas) if isinstance(p, Persona)]))
    t0 = time.perf_counter()
    if args.whole:
        texts = [stt.transcribe(audio)]
    else:  # as hands-free play would cut it
        seg = Segmenter(shared_vad("silero").stream(), hands_free=True, end_silence_ms=args.end_silence_ms)
        texts, stream = [], None
        padded = np.concatenate([audio, np.zeros(STT_RATE, dtype=np.int16)])
        for i in range(0, len(padded), 1600):
            for ev in seg.process(padded[i : i + 1600], npc_playing=False):
                if isinstance(ev, SpeechStarted):
                    stream = stt.stream()
                    stream.feed(ev.pre_roll)
                elif isinstance(ev, SpeechAudio) and stream is not None:
                    stream.feed(ev.samples)
                elif isinstance(ev, SpeechEnded) and stream is not None:
                    texts.append(stream.finish())
                    stream = None
    for text in texts:
        print(text)
    print(f"({len(audio) / STT_RATE:.1f} s of audio in {time.perf_counter() - t0:.2f} s)", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add `npc-runtime voice ...` to the `npc-runtime` parser."""
    voice = subparsers.add_parser("voice", help="speak as an NPC, transcribe a recording")
    sub = voice.add_subparsers(dest="voice_command", required=True)
    say = sub.add_parser("say", help="synthesize a line with an NPC's voice settings into a WAV file")
    say.add_argument("npc_id")
    say.add_argument("text")
    say.add_argument("-o", "--output", type=Path, required=True)
    say.add_argument("--personas", type=Path, default=DEFAULT_PERSONAS)
    say.add_argument("--tts", choices=["piper", "espeak", "openai"], help="override the persona's TTS")
    say.add_argument("--visemes", help="also write [[t_ms, viseme], ...] as JSON here")
    say.add_argument(
        "--mood",
        choices=["neutral", "angry", "afraid", "sad", "happy", "calm"],
        help="deliver the line in this mood",
    )
    say.add_argument("--intensity", type=float, default=1.0, help="of the mood, 0..1 (default 1)")
    say.set_defaults(func=cmd_say)
    tr = sub.add_parser("transcribe", help="transcribe a WAV file with the offline recogniser")
    tr.add_argument("file", type=Path)
    tr.add_argument("--personas", type=Path, default=DEFAULT_PERSONAS, help="scene vocabulary from here")
    tr.add_argument("--stt", choices=["cascade", "whisper", "pocketsphinx", "openai"], default="cascade")
    tr.add_argument("--whole", action="store_true", help="one utterance; default: cut it with the VAD")
    tr.add_argument("--end-silence-ms", type=float, default=300.0)
    tr.set_defaults(func=cmd_transcribe)
