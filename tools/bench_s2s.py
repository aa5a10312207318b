"""Speech-to-speech benchmark: end of player speech -> first NPC audio, over the real protocol.

    python tools/bench_s2s.py [--rounds 3] [--budget-s 1.5] [--json out.json] [--plot out.png]

Three runtimes in turn (each ``npc-runtime serve`` in its own process; this process is the game
client on loopback, playing Piper-synthesized player lines in real time, push-to-talk):

- ``cascade``: the offline default (pocketsphinx, authored lines, Piper), the baseline;
- ``s2s``: every turn answered by a speech-to-speech model: the tests' realtime server
  (``tests/voice/fake_realtime_server.py``, a websocket server on loopback that answers at once
  with Piper audio at 24 kHz), so the figure is the runtime's own cost of the path (streaming the
  utterance, instructions from the turn's context, resampling, chunking, lip-sync);
- ``s2s_slow``: the same server starting its replies 60 s late: every turn must fall back to the
  cascade once the budget (``--budget-s`` from the end of speech) is spent.

Printed: p50/p95 of the client's total (``speech_end`` sent -> first ``npc_audio``) and the
runtime's stages (``turn_metrics``), with the load average; on a shared machine compare the rows
of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npc_runtime.protocol.messages.voice import (  # noqa: E402
    AudioChunk,
    AudioStart,
    PlaybackReport,
    SpeechEnd,
    SpeechStart,
)
from npc_runtime.transport.client import AsyncClient  # noqa: E402

RATE = 16_000
CHUNK = int(RATE * 0.04)
SERVER = ROOT / "tests" / "voice" / "fake_realtime_server.py"
LINES = [
    ("bram", "Tell me about the wolves."),
    ("mira", "I need a bed for the night."),
    ("tomas", "Open the gate."),
    ("elda", "Do you have any potions?"),
]
REPLY = "Aye. Big grey one leads them, torn ear and all. Kill him and the pack scatters."
STAGES = ["end_of_speech", "transcript_final", "first_dialogue_token", "first_tts_audio", "first_audio_sent"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def synth(text: str, rate: int) -> np.ndarray:
    from npc_runtime.voice.models import shared_tts
    from npc_runtime.voice.resample import resample
    from npc_runtime.voice.tts.base import VoiceParams

    chunks = shared_tts("piper").synthesize(text, VoiceParams())
    audio = np.concatenate([c.audio.samples for c in chunks])
    return resample(audio, chunks[0].audio.sample_rate, rate)


def start(cmd: list[str], pattern: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if pattern in line:
            found = line.split(pattern, 1)[1].split()[0]
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
            return proc, found
    raise RuntimeError(f"{cmd[1]} did not start")


def fake_server(tmp: Path, delay_s: float) -> tuple[subprocess.Popen[str], str]:
    audio = tmp / "reply.raw"
    if not audio.exists():
        audio.write_bytes(synth(REPLY, 24_000).astype("<i2").tobytes())
    script = tmp / f"script-{delay_s:g}.json"
    replies = [{"text": REPLY, "audio": str(audio), "delay_s": delay_s}]
    script.write_text(json.dumps({"api": "ga", "transcript": "", "delta_ms": 100, "replies": replies}))
    proc, port = start([sys.executable, str(SERVER), str(script), str(tmp / "server.log")], "LISTENING ")
    return proc, f"ws://127.0.0.1:{port}/v1"


def runtime(tmp: Path, name: str, url: str | None, budget_s: float) -> tuple[subprocess.Popen[str], str]:
    config = tmp / f"{name}.toml"
    text = ""
    if url is not None:
        text = (
            f'[voice.s2s]\ndefault = "model"\nbudget_s = {budget_s}\n'
            f'[voice.s2s.profiles.model]\nbase_url = "{url}"\nmodel = "bench"\n'
        )
    config.write_text(text)
    cmd = [sys.executable, "-m", "npc_runtime.cli", "serve", "--config", str(config)]
    cmd += ["--bind", "tcp://127.0.0.1:0", "--personas", str(ROOT / "personas")]
    cmd += ["--db", str(tmp / f"{name}.sqlite3"), "--log-level", "ERROR"]
    return start(cmd, "listening on ")


async def one_turn(client: AsyncClient, cid: str, audio: np.ndarray, seq: int) -> tuple[dict[str, Any], int]:
    loop = asyncio.get_running_loop()
    stream = np.concatenate([np.zeros(int(0.4 * RATE), dtype=np.int16), audio])
    t0 = loop.time()
    await client.send(SpeechStart(conversation_id=cid))
    for i in range(0, len(stream), CHUNK):
        await client.send(
            AudioChunk(conversation_id=cid, seq=seq, pcm=stream[i : i + CHUNK].astype("<i2").tobytes())
        )
        seq += 1
        await asyncio.sleep(max(0.0, t0 + (i + CHUNK) / RATE - loop.time()))
    await client.send(SpeechEnd(conversation_id=cid))
    t_end = loop.time()
    first: float | None = None
    row: dict[str, Any] = {"fallback": False}
    while True:
        msg = await client.next_event(timeout=30.0)
        if getattr(msg, "conversation_id", None) != cid:
            continue
        kind = msg.type  # type: ignore[attr-defined]
        if kind == "npc_audio" and first is None:
            first = loop.time()
            row["kind"] = msg.viseme_kind  # type: ignore[attr-defined]
        elif kind == "warning":
            row["fallback"] = True
            row["warning"] = msg.message  # type: ignore[attr-defined]
        elif kind == "turn_metrics":
            row.update({s: getattr(msg, s) for s in STAGES})
        elif kind == "npc_audio_end":
            await client.send(
                PlaybackReport(
                    conversation_id=cid, turn_id=msg.turn_id, played_ms=msg.duration_ms, finished=True
                )  # type: ignore[attr-defined]
            )
        elif kind == "npc_text_final":
            break
    assert first is not None, "no NPC audio"
    row["total"] = (first - t_end) * 1000.0
    return row, seq


async def run(endpoint: str, lines: list[tuple[str, np.ndarray]], rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for _ in range(rounds):
        for npc, audio in lines:
            client = AsyncClient(endpoint, name=f"bench-{npc}")
            await client.connect()
            try:
                conv = await client.start_conversation(npc, mode="push_to_talk", greet=False)
                await client.request(AudioStart(conversation_id=conv.conversation_id, sample_rate=RATE))
                row, _ = await one_turn(client, conv.conversation_id, audio, 0)
                rows.append(row)
            finally:
                await client.close()
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows), "fallbacks": sum(r["fallback"] for r in rows)}
    out["warnings"] = sorted({r["warning"] for r in rows if r.get("warning")})
    for key in ["total", *STAGES]:
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = {"p50": round(pct(vals, 50), 1), "p95": round(pct(vals, 95), 1)} if vals else None
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    lines = [(npc, synth(text, RATE)) for npc, text in LINES]
    report: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "budget_s": args.budget_s}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name, delay in (("cascade", None), ("s2s", 0.0), ("s2s_slow", 60.0)):
            server = fake_server(tmp, delay) if delay is not None else None
            proc, endpoint = runtime(tmp, name, server[1] if server else None, args.budget_s)
            try:
                report[name] = summarize(await run(endpoint, lines, args.rounds))
                report[name]["load_avg"] = round(os.getloadavg()[0], 2)
            finally:
                for p in (proc, server[0] if server else None):
                    if p is not None:
                        p.terminate()
                        p.wait(timeout=10)
    return report


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["cascade", "s2s", "s2s_slow"]
    p50 = [report[n]["total"]["p50"] for n in names]
    p95 = [report[n]["total"]["p95"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.axhline(report["budget_s"] * 1000.0, color="grey", linestyle="--", label="budget")
    ax.set_xticks(x, names)
    ax.set_ylabel("end of speech -> first NPC audio (ms)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=1.5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    report = asyncio.run(main_async(args))
    for name in ("cascade", "s2s", "s2s_slow"):
        r = report[name]
        stages = "  ".join(f"{s} {r[s]['p50']}" for s in STAGES if r.get(s))
        print(
            f"{name:9s} n={r['n']:2d} fallbacks={r['fallbacks']:2d}  total p50 {r['total']['p50']:7.1f} ms"
            f"  p95 {r['total']['p95']:7.1f} ms  (load {r['load_avg']})  stages p50: {stages}"
        )
        for warning in r["warnings"]:
            print(f"{'':9s} warning: {warning}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
