"""Benchmark of the world engine: a generated world of 10,000 entities and 1,000 quests.

A stream of game events (quest progress, enemies killed, items given, locations entered, some with
witnesses) is applied one by one; for each event we time validation + effects + transition
evaluation (``Engine.apply``), and, for a shorter stream, the same plus the SQLite commit through
the store (``WorldService.apply``, WAL, one transaction per event). Target: p99 <= 1 ms per event
for apply + transition evaluation.

    .venv/bin/python tools/bench_world.py [--events 20000] [--db-events 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from npc_runtime.storage import Database
from npc_runtime.world.compiled import compile_world
from npc_runtime.world.engine import Engine, WorldEvent, WorldRejected
from npc_runtime.world.model import WorldFile
from npc_runtime.world.service import WorldService
from npc_runtime.world.state import initial_state
from npc_runtime.world.store import WorldStore

N_NPCS, N_LOCATIONS, N_ITEMS, N_CREATURES, N_FACTIONS = 500, 2000, 5000, 2490, 10
N_QUESTS = 1000
N_ENEMY_KINDS = 20


def generate(seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    entities: dict[str, Any] = {"player": {"kind": "character"}}
    npcs = [f"npc{i}" for i in range(N_NPCS - 1)]
    for n in npcs:
        entities[n] = {"kind": "character", "name": n.title()}
    for i in range(N_LOCATIONS):
        entities[f"loc{i}"] = {"kind": "location"}
    for i in range(N_ITEMS):
        entities[f"item{i}"] = {"kind": "item"}
    for i in range(N_CREATURES):
        entities[f"beast{i}"] = {"kind": "creature"}
    for i in range(N_FACTIONS):
        entities[f"faction{i}"] = {"kind": "faction"}
    relations = [[n, "located_in", f"loc{rng.randrange(N_LOCATIONS)}"] for n in npcs]
    relations += [[n, "knows", rng.choice(npcs)] for n in npcs for _ in range(3)]
    relations += [[n, "member_of", f"faction{rng.randrange(N_FACTIONS)}"] for n in npcs]
    relations += [[rng.choice(npcs), "owns", f"item{i}"] for i in range(0, N_ITEMS, 2)]
    variables: dict[str, Any] = {
        "player.gold": {"type": "int", "initial": 10_000, "min": 0, "visible_to": "all"},
        "beasts.killed": {"type": "int", "min": 0},
    }
    quests: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    events: dict[str, Any] = {}
    rules: list[dict[str, Any]] = [
        {
            "event": "enemy_killed",
            "when": f'event.enemy == "beast{k}"',
            "effects": ["beasts.killed += event.count"],
        }
        for k in range(N_ENEMY_KINDS)
    ]
    for i in range(N_QUESTS):
        q = f"q{i}"
        giver, item = rng.choice(npcs), f"item{rng.randrange(1, N_ITEMS, 2)}"
        variables[f"{q}.progress"] = {"type": "int", "min": 0, "max": 10, "visible_to": [giver]}
        variables[f"{q}.honest"] = {"type": "bool", "visible_to": [giver]}
        facts[f"{q}_done"] = {  # learned by the giver when the quest ends; the village hears of it
            "text": f"The traveller finished {q} for {giver}.",
            "rumour": {"along": ["knows"], "delay": 2.0},
        }
        start = "s0"
        prev = f"q{i - 1}"
        transitions = [
            {"id": "begin", "from": "s0", "to": "s1",
             "when": f"{q}.progress >= 1" + (f' or quest.{prev} in ["done_a", "done_b"]' if i and i % 10 else "")},
            {"id": "honest", "from": "s1", "to": "s2a", "when": f"{q}.progress >= 3 and {q}.honest"},
            {"id": "sly", "from": "s1", "to": "s2b", "when": f"{q}.progress >= 3 and not {q}.honest"},
            {"id": "deliver", "from": "s2a", "to": "done_a", "when": f'rel("{giver}", "owns", "{item}")',
             "effects": ["player.gold += 5"], "reveals": [f"{q}_done"], "witnesses": [giver],
             "say": {"npc": giver, "text": "Thank you!"}},
            {"id": "finish", "from": "s2b", "to": "done_b", "when": f"{q}.progress >= 6",
             "effects": ["player.gold -= 1"]},
        ]  # fmt: skip
        quests[q] = {
            "initial": start,
            "visible_to": [giver],
            "states": {"s0": None, "s1": None, "s2a": None, "s2b": None,
                       "done_a": {"final": True}, "done_b": {"final": True}},
            "transitions": transitions,
        }  # fmt: skip
        events[f"adv_{q}"] = {"payload": {"steps": {"type": "int", "min": 1, "default": 1}}}
        events[f"honest_{q}"] = {}
        rules.append(
            {"event": f"adv_{q}", "effects": [f"{q}.progress += event.steps"], "when": f"{q}.progress < 10"}
        )
        rules.append({"event": f"honest_{q}", "effects": [f"{q}.honest = true"]})
    return {
        "world": "bench", "entities": entities, "relations": relations, "variables": variables,
        "quests": quests, "facts": facts, "events": events, "rules": rules,
    }  # fmt: skip


def event_stream(n: int, seed: int = 11) -> list[WorldEvent]:
    rng = random.Random(seed)
    npcs = [f"npc{i}" for i in range(N_NPCS - 1)]
    out: list[WorldEvent] = []
    t = 0.0
    for _ in range(n):
        t += 0.05
        r = rng.random()
        witnesses = [rng.choice(npcs)] if rng.random() < 0.1 else []
        if r < 0.45:
            q = f"q{rng.randrange(N_QUESTS)}"
            ev = WorldEvent("custom", {"name": f"adv_{q}", "payload": {}}, witnesses, t)
        elif r < 0.55:
            ev = WorldEvent(
                "custom", {"name": f"honest_q{rng.randrange(N_QUESTS)}", "payload": {}}, witnesses, t
            )
        elif r < 0.70:
            ev = WorldEvent("enemy_killed", {"enemy": f"beast{rng.randrange(N_CREATURES)}"}, witnesses, t)
        elif r < 0.90:
            data = {"item": f"item{rng.randrange(N_ITEMS)}", "receiver": rng.choice(npcs), "giver": "player"}
            ev = WorldEvent("item_given", data, witnesses, t)
        else:
            ev = WorldEvent(
                "location_entered", {"location": f"loc{rng.randrange(N_LOCATIONS)}"}, witnesses, t
            )
        out.append(ev)
    return out


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    xs = sorted(samples_ns)

    def pct(p: float) -> float:
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] / 1000.0

    return {
        "count": len(xs),
        "p50_us": round(pct(50), 1),
        "p95_us": round(pct(95), 1),
        "p99_us": round(pct(99), 1),
        "max_us": round(xs[-1] / 1000.0, 1),
        "mean_us": round(statistics.fmean(xs) / 1000.0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000, help="events for the engine-only run")
    ap.add_argument("--db-events", type=int, default=3000, help="events for the run with SQLite commits")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    doc = generate()
    model = WorldFile.model_validate(doc)
    world = compile_world(model)
    compile_s = time.perf_counter() - t0
    errors = [p for p in world.problems if p.severity == "error"]
    if errors:
        print("generated world has problems:", errors[:5], file=sys.stderr)
        return 1
    engine = Engine(world, initial_state(world))
    engine.start()
    stream = event_stream(args.events)
    samples: list[int] = []
    fired = rejected = 0
    clock = time.perf_counter_ns
    for ev in stream:
        start = clock()
        try:
            ch = engine.apply(ev)
        except WorldRejected:
            rejected += 1
            samples.append(clock() - start)
            continue
        samples.append(clock() - start)
        fired += len(ch.fired)
    engine_fig = percentiles(samples)

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.sqlite3")
        t1 = time.perf_counter()
        svc = WorldService(world, WorldStore(db))
        init_s = time.perf_counter() - t1
        db_samples: list[int] = []
        for ev in event_stream(args.db_events, seed=12):
            start = clock()
            try:
                svc.apply(ev)
            except WorldRejected:
                rejected += 1
            db_samples.append(clock() - start)
        db.close()
    db_fig = percentiles(db_samples)

    quests_done = sum(1 for s in engine.state.quests.values() if s.startswith("done"))
    result = {
        "world": {"entities": len(model.entities), "quests": len(model.quests), "transitions": len(world.transitions),
                  "variables": len(model.variables), "rules": len(model.rules), "relations": len(model.relations)},
        "compile_s": round(compile_s, 3),
        "new_game_in_sqlite_s": round(init_s, 3),
        "apply_and_transitions": engine_fig,
        "apply_transitions_and_sqlite_commit": db_fig,
        "transitions_fired": fired,
        "quests_finished": quests_done,
        "events_rejected": rejected,
        "target_p99_us": 1000,
        "target_met": engine_fig["p99_us"] <= 1000,
        "python": sys.version.split()[0],
    }  # fmt: skip
    e, d = engine_fig, db_fig
    print(
        f"world: {result['world']}; compiled in {compile_s:.2f}s; new game written to SQLite in {init_s:.2f}s"
    )
    print(
        f"apply + transition evaluation ({e['count']} events): p50 {e['p50_us']} us, p95 {e['p95_us']} us, "
        f"p99 {e['p99_us']} us, max {e['max_us']} us  (target p99 <= 1000 us: {'met' if result['target_met'] else 'MISSED'})"
    )
    print(
        f"... + SQLite commit, WAL ({d['count']} events): p50 {d['p50_us']} us, p95 {d['p95_us']} us, "
        f"p99 {d['p99_us']} us, max {d['max_us']} us"
    )
    print(f"transitions fired: {fired}, quests finished: {quests_done}, events refused: {rejected}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
