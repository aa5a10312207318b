"""Topic matching: accuracy and latency, the lexical matcher before embeddings vs today's.

Reads the labelled player lines in tests/dialogue/data/topic_matching.yaml (said to the village
personas in personas/) and reports, for each matcher and each half of the set (``dev`` chose the
weights and threshold; ``test`` was held out): accuracy over all lines, top-1 on paraphrases (the
expected topic chosen above the threshold), false matches (a topic chosen where none should
answer, near misses among them) and the time of one match over all of a persona's topics.

    .venv/bin/python tools/bench_topics.py [--repeat 20] [--errors] [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from npc_runtime.dialogue.topic_quality import evaluate, load_cases, load_personas, modes  # noqa: E402
from npc_runtime.memory.embeddings import shared_static  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default=str(ROOT / "tests" / "dialogue" / "data" / "topic_matching.yaml"))
    ap.add_argument("--personas", default=str(ROOT / "personas"))
    ap.add_argument("--repeat", type=int, default=20, help="timed matches per line (default 20)")
    ap.add_argument("--errors", action="store_true", help="list the lines each matcher gets wrong")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--plot", help="write a bar chart of accuracy and false matches to this PNG")
    args = ap.parse_args()

    cases = load_cases(args.set)
    personas = load_personas(args.personas, {c.npc for c in cases})
    print(f"{len(cases)} lines for {', '.join(sorted(personas))}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at the start")  # fmt: skip
    embedder = shared_static()
    out = []
    for mode in modes(embedder):
        for split in ("dev", "test", None):
            r = evaluate(cases, personas, embedder, mode, split, repeat=args.repeat)
            s = r.summary()
            out.append(s)
            print(
                f"{mode:<28} {s['split']:<5} accuracy {s['accuracy']:.1%} ({r.correct}/{r.n})  "
                f"top-1 {s['top1_paraphrases']}  false matches {s['false_matches']} "
                f"(near misses {s['near_miss_false_matches']})  match p50 {s['match_ms_p50']} ms "
                f"p95 {s['match_ms_p95']} ms"
            )
            if args.errors and split is None:
                for npc, text, expected, got in r.errors:
                    print(f"    {npc}: {text!r}: expected {expected}, got {got}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.plot:
        plot([s for s in out if s["split"] == "all"], args.plot)
        print(f"wrote {args.plot}")
    return 0


def plot(rows: list[dict[str, object]], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'npc-runtime[viz]'") from None
    names = [str(r["mode"]) for r in rows]
    acc = [float(r["accuracy"]) for r in rows]  # type: ignore[arg-type]
    false = [
        int(str(r["false_matches"]).split("/")[0]) / int(str(r["false_matches"]).split("/")[1]) for r in rows
    ]
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], acc, width=0.4, label="accuracy")
    ax.bar([x + 0.2 for x in xs], false, width=0.4, label="false-match rate")
    ax.set_xticks(list(xs), names, fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Topic matching on tests/dialogue/data/topic_matching.yaml")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
