"""Engine-binding benchmark: voice-to-voice latency from the C# (Unity) client beside the Python client.

    python tools/bench_bindings.py [--turns 20] [--npc bram] [--json out.json] [--plot out.png]

One runtime process (`npc-runtime serve`, offline default voice stack) on loopback; both clients
hold a push-to-talk conversation with the same NPC and speak the same line ("Tell me about the
wolves.", the bundled Piper voice, from tests/bindings/speech_fixture.py) at real-time pace, turn
after turn; each reply is played out and reported before the next turn. Latency per turn:

- C#: speech_end sent -> the first NPC audio sample written into the plugin's playback ring buffer
  (bindings/unity/Benchmarks~/VoiceLatency.cs, built here with mono's mcs; a speaker thread drains
  the buffer at real-time pace as Unity's audio thread would);
- Python: speech_end sent -> the first `npc_audio` message decoded by `AsyncClient` (the reply
  is then "played" for its duration and reported, as the C# speaker does).

Both figures contain the runtime's own work (recognition, dialogue, synthesis), which dominates;
the ratio C#/Python shows the plugin's overhead. Each turn's `turn_metrics` (the runtime's own
end of speech -> first audio sent) is subtracted too: the rest is transport plus the client's own
work, the plugin's overhead without the runtime's noise. The clients take turns in blocks of ``--block``
turns (alternating which goes first) against the same warm runtime, so both see the same load; the
load average is printed beside the figures (the machine is shared).
Needs mono (`mcs`, `mono`) and the voice extra.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npc_runtime.protocol.messages.voice import (  # noqa: E402
    AudioChunk,
    AudioStart,
    PlaybackReport,
    PlaybackStarted,
    SpeechEnd,
    SpeechStart,
)
from npc_runtime.transport.client import AsyncClient  # noqa: E402

UNITY = ROOT / "bindings" / "unity"
RATE = 16_000
CHUNK = RATE * 40 // 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _turn_after(turn: int) -> Callable[[Any], bool]:
    return lambda m: int(getattr(m, "turn_id", -1)) > turn


def _turn_is(turn: int) -> Callable[[Any], bool]:
    return lambda m: int(getattr(m, "turn_id", -1)) == turn


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def start_runtime(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "npc_runtime.cli", "serve", "--bind", "tcp://127.0.0.1:0"]
    cmd += [
        "--personas",
        str(ROOT / "personas"),
        "--db",
        str(tmp / "bench.sqlite3"),
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"listening on (\S+)", line)
        if m:
            threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
            return proc, m.group(1)
    raise RuntimeError("the runtime did not start")


def build_csharp(tmp: Path) -> Path:
    missing = [t for t in ("mcs", "mono") if shutil.which(t) is None]
    if missing:
        raise SystemExit(
            f"missing {', '.join(missing)}: apt-get install -y mono-mcs mono-runtime libmono-system4.0-cil"
        )
    sources = sorted(str(p) for p in (UNITY / "Runtime").rglob("*.cs"))
    exe = tmp / "VoiceLatency.exe"
    cmd = ["mcs", "-langversion:7.2", "-nologo", "-optimize+", f"-out:{exe}"]
    subprocess.run([*cmd, *sources, str(UNITY / "Benchmarks~" / "VoiceLatency.cs")], check=True)
    return exe


Sample = tuple[float, float]  # (client latency ms, the runtime's own end_of_speech -> first_audio_sent ms)


def run_csharp(exe: Path, endpoint: str, wav: Path, turns: int, npc: str) -> list[Sample]:
    proc = subprocess.run(
        ["mono", str(exe), endpoint, str(wav), str(turns), npc],
        capture_output=True,
        text=True,
        timeout=60 + turns * 60,
        check=False,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    bad = [r for r in rows if "error" in r]
    if proc.returncode != 0 or bad:
        raise RuntimeError(f"the C# bench failed ({proc.returncode}): {bad}\n{proc.stderr[-2000:]}")
    return [(float(r["latency_ms"]), float(r["runtime_ms"])) for r in rows]


async def run_python(endpoint: str, audio: np.ndarray, turns: int, npc: str) -> list[Sample]:
    client = AsyncClient(endpoint, name="python-bench")
    await client.connect()
    try:
        conv = await client.start_conversation(npc, player_id="bench", mode="push_to_talk", greet=False)
        cid = conv.conversation_id
        await client.request(AudioStart(conversation_id=cid, sample_rate=RATE))
        seq = 0
        last = -1
        out: list[Sample] = []
        for _ in range(turns):
            await client.send(SpeechStart(conversation_id=cid))
            start = time.perf_counter()
            for i in range(0, len(audio), CHUNK):
                part = audio[i : i + CHUNK]
                # a chunk leaves once its audio has been "recorded" (real-time pace)
                wait = start + (i + len(part)) / RATE - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                await client.send(AudioChunk(conversation_id=cid, seq=seq, pcm=part.astype("<i2").tobytes()))
                seq += 1
            await client.send(SpeechEnd(conversation_id=cid))
            end = time.perf_counter()
            first = await client.next_event(
                timeout=60,
                types=("npc_audio",),
                where=_turn_after(last),
            )
            latency = (time.perf_counter() - end) * 1000.0
            turn = first.turn_id  # type: ignore[attr-defined]
            # "plays" the reply in real time from its first chunk, as the C# speaker thread does, so the
            # runtime's work after each turn (memory, history) falls at the same moment for both clients
            started = time.perf_counter()
            await client.send(PlaybackStarted(conversation_id=cid, turn_id=turn))
            end_msg = await client.next_event(timeout=60, types=("npc_audio_end",), where=_turn_is(turn))
            played = float(end_msg.duration_ms)  # type: ignore[attr-defined]
            await asyncio.sleep(max(0.0, started + played / 1000.0 - time.perf_counter()))
            await client.send(
                PlaybackReport(conversation_id=cid, turn_id=turn, played_ms=played, finished=True)
            )
            await client.next_event(timeout=60, types=("npc_text_final",), where=_turn_is(turn))
            metrics = await client.next_event(timeout=10, types=("turn_metrics",), where=_turn_is(turn))
            sent = getattr(metrics, "first_audio_sent", None)
            out.append((latency, float(sent) if sent is not None else -1.0))
            last = turn
        return out
    finally:
        await client.close()


def speech(tmp: Path) -> tuple[Path, np.ndarray]:
    subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bindings" / "speech_fixture.py"), str(tmp), "44100"],
        check=True,
        capture_output=True,
    )
    from npc_runtime.voice.resample import resample

    with wave.open(str(tmp / "wolves.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    return tmp / "wolves.wav", resample(pcm, 44100, RATE).astype(np.int16)


def summary(samples: list[Sample]) -> dict[str, float]:
    """Client latency, the runtime's share of it (turn_metrics), and the rest: transport + client."""
    total = [t for t, _ in samples]
    overhead = [t - r for t, r in samples if r >= 0]
    return {
        "n": len(samples),
        "p50_ms": pct(total, 50),
        "p95_ms": pct(total, 95),
        "mean_ms": float(np.mean(total)),
        "runtime_p50_ms": pct([r for _, r in samples if r >= 0], 50),
        "overhead_p50_ms": pct(overhead, 50),
        "overhead_p95_ms": pct(overhead, 95),
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    data = [[t for t, _ in report["samples"]["csharp"]], [t for t, _ in report["samples"]["python"]]]
    ax.boxplot(data)
    ax.set_xticks([1, 2], ["C# (Unity client)", "Python client"])
    ax.set_ylabel("speech_end -> first NPC audio (ms)")
    ax.set_title(f"voice-to-voice latency, {report['turns']} turns each (load {report['load_after']})")
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=20)
    ap.add_argument("--npc", default="bram")
    ap.add_argument("--block", type=int, default=5, help="turns per client before switching to the other")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--plot", type=Path, help="write a box plot PNG here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        exe = build_csharp(tmp)
        wav, audio16 = speech(tmp)
        proc, endpoint = start_runtime(tmp)
        try:
            load_before = load()
            asyncio.run(run_python(endpoint, audio16, 2, args.npc))  # warm-up: models loaded, caches hot
            cs: list[Sample] = []
            py: list[Sample] = []
            # interleaved blocks, alternating which client goes first, so both see the same load
            for block in range(0, args.turns, args.block):
                n = min(args.block, args.turns - block)
                if (block // args.block) % 2 == 0:
                    cs += run_csharp(exe, endpoint, wav, n, args.npc)
                    py += asyncio.run(run_python(endpoint, audio16, n, args.npc))
                else:
                    py += asyncio.run(run_python(endpoint, audio16, n, args.npc))
                    cs += run_csharp(exe, endpoint, wav, n, args.npc)
            load_after = load()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    report = {
        "turns": args.turns,
        "npc": args.npc,
        "load_before": load_before,
        "load_after": load_after,
        "csharp": summary(cs),
        "python": summary(py),
        "ratio_p50": summary(cs)["p50_ms"] / summary(py)["p50_ms"],
        "samples": {"csharp": cs, "python": py},
    }
    print(f"voice-to-voice latency, push-to-talk, {args.turns} turns each, npc {args.npc}")
    print(f"load average before {load_before}, after {load_after}")
    print(
        f"{'client':<22}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'runtime p50':>13}{'rest p50':>10}{'rest p95':>10}"
    )
    for name, key in (("C# (Unity plugin)", "csharp"), ("Python AsyncClient", "python")):
        s = report[key]
        print(
            f"{name:<22}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['mean_ms']:>9.1f}"
            f"{s['runtime_p50_ms']:>13.1f}{s['overhead_p50_ms']:>10.1f}{s['overhead_p95_ms']:>10.1f}"
        )
    print(f"ratio C#/Python (p50): {report['ratio_p50']:.2f}")
    print("runtime: its own end_of_speech -> first_audio_sent (turn_metrics); rest: transport + client")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
