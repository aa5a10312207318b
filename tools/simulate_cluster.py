"""A discrete-event simulation (simpy) of conversation load on cluster workers and PostgreSQL.

The model: every conversation is a closed loop of text turns. A turn takes CPU on its worker
(``cpu_per_turn``: routing, memory retrieval, the world, the protocol), ``commits_per_turn``
transactions on the database (each ``db_service`` seconds of a database core), of which
``events_per_turn`` are world events that hold their world instance's row lock for
``lock_hold`` seconds (one at a time per instance), and a stage that costs no CPU here
(``stage``: the language model behind an inference server and speech, or the benchmark's
stand-in). Between turns the player thinks for ``think`` seconds.

**Calibration.** ``--calibrate bench.json`` (the JSON of ``tools/bench_cluster.py --part
workers``) models the benchmark's machine: every worker, the database and the load driver share
its 2 cores with other jobs (processor sharing; the other jobs' runnable processes are fitted),
and fits ``cpu_per_turn`` (real and stand-in providers apart) and ``db_service`` so that the
simulated turns/s of the 1, 2 and 4 worker runs match the measured ones; it prints each run's
error (the target is within 15 %).

**Prediction.** With the fitted costs, each worker on its own ``--worker-cores`` machine and a
database of ``--db-cores`` cores, it predicts at 100 and 400 workers the conversations served,
turns/s, turn latency p50/p95, database commits/s and utilisation, and the world events/s per
instance against the row lock's limit.

    .venv/bin/python tools/simulate_cluster.py --calibrate bench.json [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

try:
    import simpy
except ImportError:  # pragma: no cover - a message, not a test path
    sys.exit("simpy is missing: pip install 'npc-runtime[cluster]' (or scripts/setup.sh --dev)")


@dataclass(frozen=True)
class Model:
    workers: int
    convs_per_worker: int
    stage: float  # seconds per turn without CPU here (model server, speech, or the stand-in's sleep)
    cpu_per_turn: float  # CPU seconds per turn on the worker
    commits_per_turn: float
    db_service: float  # database CPU seconds per commit
    events_per_turn: float = 0.0  # world events per turn (each holds the instance row lock)
    lock_hold: float = 0.001  # seconds the instance row is locked per world event
    think: float = 0.0  # the player's time between the NPC's reply and the next line
    shared_cores: float | None = None  # calibration: everything on one machine of this many cores
    external_load: float = 0.0  # calibration: other jobs' runnable processes on that machine
    worker_cores: int = 2
    db_cores: int = 8
    instances: int = 1  # world instances (regions) the workers' events spread over


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] if s else 0.0


def simulate(m: Model, seconds: float = 60.0, warmup: float = 5.0, seed: int = 1) -> dict[str, Any]:
    env = simpy.Environment()
    rng = random.Random(seed)
    shared = m.shared_cores is not None
    # On the benchmark's machine (shared): processor sharing. Every CPU burst (a worker's turn,
    # a database commit) runs at the share of the cores it gets among the other jobs' runnable
    # processes (``external_load``) and this model's own bursts in flight. Deployed: a worker's
    # cores and the database's cores are queues of their own (FIFO).
    cpus = [simpy.Resource(env, capacity=m.worker_cores) for _ in range(m.workers)]
    db = simpy.Resource(env, capacity=m.db_cores)
    locks = [simpy.Resource(env, capacity=1) for _ in range(m.instances)]
    latencies: list[float] = []
    counts = {"turns": 0, "commits": 0, "events": 0}
    busy = {"db": 0.0}
    active = [0]

    def use(res: simpy.Resource, t: float) -> Any:
        if shared:
            active[0] += 1
            try:
                yield env.timeout(t * max(1.0, (m.external_load + active[0]) / (m.shared_cores or 1.0)))
            finally:
                active[0] -= 1
            return
        with res.request() as req:
            yield req
            yield env.timeout(t)

    def conversation(k: int) -> Any:
        cpu = cpus[k % m.workers]
        lock = locks[k % m.instances]
        yield env.timeout(rng.uniform(0, max(m.stage, 0.01)))  # players do not start in step
        while True:
            t0 = env.now
            yield from use(cpu, m.cpu_per_turn * rng.uniform(0.7, 1.3))
            commits = int(m.commits_per_turn) + (rng.random() < m.commits_per_turn % 1)
            for _ in range(commits):
                yield from use(db, m.db_service)
                if env.now > warmup:
                    busy["db"] += m.db_service
            if rng.random() < m.events_per_turn:
                with lock.request() as req:
                    yield req
                    yield env.timeout(m.lock_hold)
                if env.now > warmup:
                    counts["events"] += 1
            yield env.timeout(m.stage * rng.uniform(0.9, 1.1))
            if env.now > warmup:
                latencies.append(env.now - t0)
                counts["turns"] += 1
                counts["commits"] += commits
            if m.think:
                yield env.timeout(rng.expovariate(1.0 / m.think))

    for k in range(m.workers * m.convs_per_worker):
        env.process(conversation(k))
    env.run(until=warmup + seconds)
    db_cap = m.shared_cores if m.shared_cores is not None else m.db_cores
    return {
        "workers": m.workers, "conversations": m.workers * m.convs_per_worker,
        "turns_per_s": round(counts["turns"] / seconds, 2),
        "turn_p50_ms": round(_pct(latencies, 50) * 1000, 1), "turn_p95_ms": round(_pct(latencies, 95) * 1000, 1),
        "db_commits_per_s": round(counts["commits"] / seconds, 1),
        "db_utilisation": round(busy["db"] / seconds / max(db_cap, 1e-9), 3),
        "world_events_per_s_per_instance": round(counts["events"] / seconds / m.instances, 1),
        "lock_limit_events_per_s": round(1.0 / m.lock_hold, 0),
    }  # fmt: skip


# -- calibration ----------------------------------------------------------------------------------
def _bench_model(run: dict[str, Any], stage: float, cpu: float, db_service: float, external: float) -> Model:
    return Model(
        workers=int(run["workers"]), convs_per_worker=int(run["clients_per_worker"]), stage=stage,
        cpu_per_turn=cpu, commits_per_turn=float(run["db_commits_per_turn"]), db_service=db_service,
        shared_cores=2.0, external_load=external,
    )  # fmt: skip


def calibrate(bench: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Fit, per provider mode (the runs of one mode were measured together, under one load of
    other jobs), the other jobs' load, the database's CPU per commit and the CPU per turn to the
    measured turns/s of the benchmark's 2-core machine; returns the fits and each run's error."""
    out: dict[str, Any] = {"modes": {}, "runs": []}
    for mode, res in bench["workers"].items():
        stage = float(res["stand_in_seconds"] or 0.0)
        runs = res["runs"]
        best: tuple[float, dict[str, Any], list[dict[str, Any]]] | None = None
        for external in (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0):
            for db_service in (0.0002, 0.0005, 0.001):
                lo, hi = 0.0005, 1.0  # CPU per turn from the 1-worker run (bisection)
                for _ in range(10):
                    mid = (lo * hi) ** 0.5
                    got = simulate(_bench_model(runs[0], stage, mid, db_service, external), seconds)
                    lo, hi = (mid, hi) if got["turns_per_s"] > runs[0]["turns_per_s"] else (lo, mid)
                cpu = (lo * hi) ** 0.5
                rows, worst = [], 0.0
                for run in runs:
                    sim = simulate(_bench_model(run, stage, cpu, db_service, external), seconds)
                    err = (sim["turns_per_s"] - run["turns_per_s"]) / run["turns_per_s"]
                    worst = max(worst, abs(err))
                    rows.append({
                        "mode": mode, "workers": run["workers"], "measured_turns_per_s": run["turns_per_s"],
                        "simulated_turns_per_s": sim["turns_per_s"], "error": round(err, 3),
                        "measured_p50_ms": run["turn"]["p50_ms"], "simulated_p50_ms": sim["turn_p50_ms"],
                    })  # fmt: skip
                fit = {"external_load": external, "db_service": db_service, "cpu_per_turn": round(cpu, 5)}
                if best is None or worst < best[0]:
                    best = (worst, fit, rows)
        assert best is not None
        out["modes"][mode] = {**best[1], "worst_error": round(best[0], 3)}
        out["runs"] += best[2]
    out["worst_error"] = max(m["worst_error"] for m in out["modes"].values())
    return out


def predict(fit: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    # The stand-in runs barely load the database, so its cost per commit is taken from the fit
    # that shows it most (the larger of the two): a cautious database estimate.
    db_service = max(m["db_service"] for m in fit["modes"].values())
    base = Model(
        workers=1, convs_per_worker=args.convs, stage=args.stage, cpu_per_turn=fit["modes"]["stand_in"]["cpu_per_turn"],
        commits_per_turn=args.commits_per_turn, db_service=db_service, events_per_turn=args.events_per_turn,
        lock_hold=args.lock_hold, think=args.think, worker_cores=args.worker_cores, db_cores=args.db_cores,
    )  # fmt: skip
    out = []
    for workers in args.workers:
        for instances in (1, args.regions):
            r = simulate(replace(base, workers=workers, instances=instances), args.seconds)
            r["instances"] = instances
            out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--calibrate", type=Path, required=True, help="JSON of tools/bench_cluster.py --part workers"
    )
    ap.add_argument("--seconds", type=float, default=20.0, help="simulated seconds per run")
    ap.add_argument("--workers", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--convs", type=int, default=16, help="conversations per worker")
    ap.add_argument(
        "--stage", type=float, default=1.5, help="seconds per turn at the model server and speech"
    )
    ap.add_argument("--think", type=float, default=4.0, help="player's mean seconds between turns")
    ap.add_argument(
        "--commits-per-turn", type=float, default=None, help="default: measured (stand-in, 1 worker)"
    )
    ap.add_argument(
        "--events-per-turn", type=float, default=0.25, help="world events per turn (quests, actions)"
    )
    ap.add_argument(
        "--lock-hold", type=float, default=0.001, help="seconds one world event holds its instance"
    )
    ap.add_argument("--worker-cores", type=int, default=2)
    ap.add_argument("--db-cores", type=int, default=8)
    ap.add_argument("--regions", type=int, default=8, help="world instances in the split-world runs")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args(argv)
    bench = json.loads(args.calibrate.read_text())
    fit = calibrate(bench, min(args.seconds, 15.0))
    for mode, f in fit["modes"].items():
        print(
            f"fit {mode}: other jobs' load {f['external_load']:g}, database {f['db_service'] * 1000:g} ms "
            f"CPU/commit, {f['cpu_per_turn'] * 1000:.1f} ms CPU/turn"
        )
    print("calibration (turns/s measured -> simulated, error; turn p50 measured -> simulated):")
    for r in fit["runs"]:
        print(
            f"  {r['mode']:9s} {r['workers']} worker(s): {r['measured_turns_per_s']:7.2f} -> "
            f"{r['simulated_turns_per_s']:7.2f}  {r['error']:+.1%}   p50 {r['measured_p50_ms']:.0f} -> "
            f"{r['simulated_p50_ms']:.0f} ms"
        )
    print(f"worst calibration error: {fit['worst_error']:.1%} (target 15%)")
    if args.commits_per_turn is None:
        args.commits_per_turn = bench["workers"]["stand_in"]["runs"][0]["db_commits_per_turn"]
    pred = predict(fit, args)
    print(
        f"prediction ({args.convs} conversations/worker, {args.think:g} s think, {args.stage:g} s stage, "
        f"{args.worker_cores} cores/worker, database {args.db_cores} cores):"
    )
    print(
        "| workers | world instances | conversations | turns/s | turn p50 / p95 ms | DB commits/s | DB utilisation | world events/s per instance (lock limit) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in pred:
        print(
            f"| {r['workers']} | {r['instances']} | {r['conversations']} | {r['turns_per_s']:.0f} | "
            f"{r['turn_p50_ms']:.0f} / {r['turn_p95_ms']:.0f} | {r['db_commits_per_s']:.0f} | "
            f"{r['db_utilisation']:.0%} | {r['world_events_per_s_per_instance']:.0f} ({r['lock_limit_events_per_s']:.0f}) |"
        )
    out = {"fit": fit, "prediction": pred, "args": {k: str(v) for k, v in vars(args).items()}}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    if args.plot:
        plot(args.plot, fit, pred)
    return 0


def plot(path: Path, fit: dict[str, Any], pred: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for mode in sorted({r["mode"] for r in fit["runs"]}):
        runs = [r for r in fit["runs"] if r["mode"] == mode]
        w = [r["workers"] for r in runs]
        axes[0].plot(w, [r["measured_turns_per_s"] for r in runs], "o-", label=f"{mode} measured")
        axes[0].plot(w, [r["simulated_turns_per_s"] for r in runs], "x--", label=f"{mode} simulated")
    axes[0].set_xlabel("workers (one 2-core machine)")
    axes[0].set_ylabel("turns/s")
    axes[0].set_title("calibration")
    axes[0].legend(fontsize=7)
    one = [r for r in pred if r["instances"] == 1]
    axes[1].bar([str(r["workers"]) for r in one], [r["turns_per_s"] for r in one], color="tab:blue")
    ax2 = axes[1].twinx()
    ax2.plot(
        [str(r["workers"]) for r in one], [r["db_utilisation"] * 100 for r in one], "o-", color="tab:red"
    )
    axes[1].set_xlabel("workers")
    axes[1].set_ylabel("turns/s (bars)")
    ax2.set_ylabel("database utilisation % (line)")
    axes[1].set_title("prediction")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    sys.exit(main())
