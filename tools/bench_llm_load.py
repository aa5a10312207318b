"""How long the runtime's event loop stalls while the local model loads: in its own process (the
default) against in the runtime's process (llama.cpp holds the GIL while it loads).

A ticker on the event loop sleeps 10 ms at a time; the longest gap between two ticks while the
model loads is the stall a game embedding the runtime (or every other conversation) would feel.
The two ways alternate in one run, so machine noise falls on both.

    python tools/bench_llm_load.py --repeat 3 [--model qwen2.5-coder-1.5b] [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from npc_runtime.dialogue.providers.local import LocalProvider, LocalSettings


async def _once(model: str, own_process: bool) -> dict[str, float]:
    provider = LocalProvider(LocalSettings(model=model, own_process=own_process, warm_up=False))
    provider.model_file()  # assemble the packaged model first (once): not part of the figures
    gaps: list[float] = []
    loading = True

    async def ticker() -> None:
        last = time.perf_counter()
        while loading:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await provider.load()
    load_s = time.perf_counter() - started
    loading = False
    await tick
    await provider.aclose()
    return {"load_s": load_s, "stall_ms": max(gaps, default=0.0) * 1000 - 10}


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "n": len(ordered)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"own process": [], "runtime's process": []}
    for _ in range(args.repeat):
        for name, own in (("own process", True), ("runtime's process", False)):
            runs[name].append(await _once(args.model, own))
    return {
        "model": args.model,
        "load_avg": os.getloadavg(),
        "modes": {
            name: {
                "load_s": _stats([r["load_s"] for r in rows]),
                "stall_ms": _stats([r["stall_ms"] for r in rows]),
            }
            for name, rows in runs.items()
        },
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--repeat", type=int, default=3, help="loads of each way, alternating")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--plot", type=Path, help="draw the stalls to this PNG")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"model {result['model']}, load average {' '.join(f'{x:.1f}' for x in result['load_avg'])}")
    print(f"{'where the model runs':<20} {'load p50':>9} {'load p95':>9} {'loop stall p50':>15} {'p95':>9}")
    for name, m in result["modes"].items():
        print(
            f"{name:<20} {m['load_s']['p50']:>8.2f}s {m['load_s']['p95']:>8.2f}s "
            f"{m['stall_ms']['p50']:>13.0f}ms {m['stall_ms']['p95']:>7.0f}ms"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3))
        names = list(result["runs"])
        ax.boxplot([[r["stall_ms"] for r in result["runs"][n]] for n in names], tick_labels=names)
        ax.set_ylabel("longest event-loop stall while loading (ms)")
        ax.set_title(f"{result['model']}: loading the model")
        fig.tight_layout()
        fig.savefig(args.plot)


if __name__ == "__main__":
    main()
