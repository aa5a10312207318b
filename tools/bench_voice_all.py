"""The whole voice benchmark in one run: hearing, latency, turn-taking, capacity and voices.

    python tools/bench_voice_all.py [--out DIR] [--quick]

Runs, one after the other on this machine (so their figures share one load), each voice
benchmark as its own process, keeps its printed tables, and writes its JSON and plot into
``--out`` (default ``bench-voice-<time>/``):

1. ``bench_stt.py --realtime``: word error rate of pocketsphinx and of Whisper tiny.en (the
   cascade's final pass) on real human recordings cut at natural pauses, and the decode wait;
2. ``bench_voice.py --stt pocketsphinx,cascade``: push-to-talk and hands-free latency (end of the
   player's speech to the NPC's first audio) over the real protocol, and capacity in simultaneous
   hands-free conversations (1, 4, 8);
3. ``bench_turns.py``: false cut-ins per 100 utterances with commas and pauses beside the
   end-of-turn latency, per turn-taking policy (skipped, and said, when the tool is absent);
4. ``bench_voices.py``: the village's voices, distinctness (voiceprint distance per pair) and
   intelligibility (WER per voice).

Then it prints one summary of the figures the voice work is judged on, with the load average
before and after, and writes it to ``summary.json``. A part that fails is reported as failed and
the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _get(d: Any, *path: str | int) -> Any:
    """``d[path...]`` or None when any step is missing (a part may have changed or failed)."""
    for key in path:
        if isinstance(d, dict) and key in d:
            d = d[key]
        elif isinstance(d, dict) and str(key) in d:
            d = d[str(key)]
        else:
            return None
    return d


def _stt_lines(r: dict[str, Any]) -> list[str]:
    out = []
    for name, rec in (r.get("recognisers") or {}).items():
        s = rec.get("summary", {})
        out.append(
            f"WER on real speech, {name}: pooled {s.get('wer_pooled')} % over {s.get('words')} words, "
            f"mean per utterance {s.get('wer_mean_per_utterance')} %"
        )
    for label, v in (r.get("realtime") or {}).items():
        out.append(f"decode wait after the last chunk, {label}: p50 {v.get('p50')} ms, p95 {v.get('p95')} ms")
    return out


def _voice_lines(r: dict[str, Any]) -> list[str]:
    out = []
    for stack, s in (r.get("stacks") or {}).items():
        for mode in ("push_to_talk", "hands_free"):
            t = _get(s, mode, "total") or {}
            out.append(f"{mode.replace('_', '-')} ({stack}): p50 {t.get('p50')} ms, p95 {t.get('p95')} ms")
        for level, v in (_get(s, "concurrency", "levels") or {}).items():
            out.append(
                f"{v.get('conversations', level)} simultaneous hands-free conversations"
                + (f", starts spread over {v['spread_s']:g} s" if v.get("spread_s") else "")
                + f" ({stack}): p50 {v.get('p50')} ms, "
                f"p95 {v.get('p95')} ms, failed {v.get('failed_conversations')}, "
                f"runtime CPU {round(100 * float(v.get('cpu_share') or 0))} % of the machine"
            )
    return out


def _turn_lines(r: dict[str, Any]) -> list[str]:
    policies = r.get("policies") or {}
    out = []
    for name, v in policies.items():
        lat = v.get("latency_ms") or {}
        out.append(
            f"turn-taking '{name}': {round(float(v.get('false_cut_ins_per_100') or 0), 1)} false cut-ins "
            "per 100 utterances, "
            f"end of turn p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms"
        )
    return out or [json.dumps(r)[:300]]


def _voices_lines(r: dict[str, Any]) -> list[str]:
    out = []
    names = _get(r, "distance", "names") or []
    matrix = _get(r, "distance", "matrix") or []
    rows = {v.get("voice"): v for v in r.get("voices") or []}
    village = [i for i, n in enumerate(names) if (rows.get(n) or {}).get("kind") == "village"]
    pairs = sorted(
        (0.5 * (matrix[i][j] + matrix[j][i]), names[i], names[j]) for i in village for j in village if i < j
    )
    if pairs:
        same = max(matrix[i][i] for i in range(len(names)))
        d, a, b = pairs[0]
        out.append(
            f"voice distinctness: closest village pair {a}-{b} {d:.2f}, median pair "
            f"{pairs[len(pairs) // 2][0]:.2f}, same voice rendered twice <= {same:.2f}"
        )
    for v in rows.values():
        out.append(
            f"voice {v.get('voice')}: F0 {v.get('f0_hz')} Hz, WER {v.get('wer_pct')} % ({r.get('recogniser')})"
        )
    return out


PARTS: list[tuple[str, str, list[str], list[str], Callable[[dict[str, Any]], list[str]]]] = [
    ("stt", "bench_stt.py", ["--realtime"], [], _stt_lines),
    (
        "latency",
        "bench_voice.py",
        ["--stt", "pocketsphinx,cascade", "--levels", "1,4,8", "--stagger", "2"],
        ["--rounds", "1", "--levels", "1,2"],
        _voice_lines,
    ),
    ("turns", "bench_turns.py", [], [], _turn_lines),
    ("voices", "bench_voices.py", [], ["--rounds", "2", "--no-wer"], _voices_lines),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="directory for each part's JSON and plot")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and levels (a smoke run, not figures)")
    ap.add_argument("--only", default="", help="comma-separated parts: stt,latency,turns,voices")
    args = ap.parse_args()
    out_dir = args.out or Path(f"bench-voice-{time.strftime('%Y%m%d-%H%M%S')}")
    out_dir.mkdir(parents=True, exist_ok=True)
    only = {p for p in args.only.split(",") if p}
    summary: dict[str, Any] = {"machine": f"{os.cpu_count()} cores", "load_before": _load(), "parts": {}}
    lines: list[str] = []
    for name, script, extra, quick_extra, summarise in PARTS:
        if only and name not in only:
            continue
        path = TOOLS / script
        if not path.exists():
            summary["parts"][name] = {"status": "absent"}
            lines.append(f"[{name}] {script} is not in this tree: skipped")
            continue
        json_path, plot_path = out_dir / f"{name}.json", out_dir / f"{name}.png"
        cmd = [
            sys.executable,
            str(path),
            *extra,
            *(quick_extra if args.quick else []),
            "--json",
            str(json_path),
        ]
        cmd += ["--plot", str(plot_path)]
        print(f"\n=== {name}: {' '.join(cmd[1:])}  (load {_load()})", flush=True)
        started = time.perf_counter()
        rc = subprocess.run(cmd, check=False).returncode
        took = round(time.perf_counter() - started, 1)
        if rc != 0 or not json_path.exists():
            summary["parts"][name] = {"status": f"failed (exit {rc})", "seconds": took}
            lines.append(f"[{name}] FAILED (exit {rc}) after {took} s")
            continue
        report = json.loads(json_path.read_text())
        part_lines = summarise(report)
        summary["parts"][name] = {"status": "ok", "seconds": took, "summary": part_lines}
        lines += [f"[{name}] {line}" for line in part_lines]
    summary["load_after"] = _load()
    print(f"\n=== summary (load before {summary['load_before']}, after {summary['load_after']})")
    for line in lines:
        print(line)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"figures and plots in {out_dir}/")
    return 0 if all(p.get("status") in ("ok", "absent") for p in summary["parts"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
