"""Benchmark the openai dialogue path without a model: what the runtime itself adds per turn.

- hygiene: cost of the streaming output filter per token delta;
- prompt: building the messages for a full context (persona, 20 memories, 12 history entries);
- provider: a real ``openai`` client streaming from the loopback fake server
  (tests/dialogue/fake_openai_server.py): time to the first text piece and to the end of a
  40-delta reply with a tool call. The model's own time is not included (the server answers at once).

Usage: ``python tools/bench_llm.py [--turns 200] [--json out.json]`` (default run < 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dialogue.fake_openai_server import FakeOpenAIServer, tool_reply  # noqa: E402

from npc_runtime.dialogue.base import TextPiece  # noqa: E402
from npc_runtime.dialogue.context import DialogueContext, HistoryEntry  # noqa: E402
from npc_runtime.dialogue.hygiene import SpokenFilter  # noqa: E402
from npc_runtime.dialogue.prompt import PromptSettings, build_prompt  # noqa: E402
from npc_runtime.dialogue.providers.openai import OpenAIProvider  # noqa: E402
from npc_runtime.personas.schema import Persona  # noqa: E402

PERSONA = Persona.model_validate(
    {
        "id": "mira",
        "name": "Mira Thornwood",
        "role": "innkeeper of the Gilded Goose",
        "backstory": "Mira inherited the inn from her mother twenty years ago. " * 3,
        "personality": ["warm", "shrewd", "talkative"],
        "speaking_style": "Friendly and quick, calls strangers 'love'.",
        "knowledge": [f"Village fact number {i}." for i in range(8)],
        "topics": [
            {"id": f"t{i}", "phrasings": [f"question {i}?"], "lines": [f"Authored answer {i}."]}
            for i in range(6)
        ],
        "fallback": ["Couldn't say, love."],
        "actions": [
            {"name": "serve_drink", "params": {"drink": {"type": "string", "enum": ["ale", "cider"]}}},
            {"name": "give_room_key", "params": {"room": {"type": "int", "min": 1, "max": 6}}},
        ],
    }
)

REPLY = (
    "Mira: *wipes the bar* Wolves again, love. Took three of old Harl's sheep last night, and folk say "
    "they're bolder than wolves ought to be. (She lowers her voice.) If you're heading east, take Bram's "
    "traps with you. 🍺"
)


def _ctx() -> DialogueContext:
    return DialogueContext(
        persona=PERSONA,
        player_id="p1",
        player_text="Anything happening in the village?",
        history=[
            HistoryEntry("player" if i % 2 == 0 else "mira", f"History line {i} " * 4) for i in range(12)
        ],
        world_facts=[f"World fact {i}." for i in range(10)],
        world_state={"time_of_day": "evening", "weather": "rain"},
        memories=[f"Memory {i}: the player did something memorable " * 2 for i in range(20)],
        relationship={"trust": 0.3},
        player_facts=["Their name is Ash."],
    )


def _deltas(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {
        "n": len(values),
        "p50": statistics.median(ordered),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": ordered[-1],
    }


def bench_hygiene(n: int) -> dict[str, float]:
    deltas = _deltas(REPLY)
    per_delta: list[float] = []
    for _ in range(n):
        f = SpokenFilter(["Mira Thornwood", "mira"], ["player"])
        start = time.perf_counter()
        for d in deltas:
            f.feed(d)
        f.finish()
        per_delta.append((time.perf_counter() - start) / len(deltas) * 1e6)
    return _stats(per_delta)  # microseconds per delta


def bench_prompt(n: int) -> dict[str, Any]:
    ctx = _ctx()
    times: list[float] = []
    prompt = build_prompt(ctx)
    for _ in range(n):
        start = time.perf_counter()
        prompt = build_prompt(ctx, PromptSettings(max_prompt_tokens=1500))
        times.append((time.perf_counter() - start) * 1e3)
    return {**_stats(times), "prompt_tokens": prompt.tokens, "dropped": prompt.dropped}  # milliseconds


async def bench_provider(n: int) -> dict[str, dict[str, float]]:
    first: list[float] = []
    total: list[float] = []
    with FakeOpenAIServer() as server:
        provider = OpenAIProvider.from_settings({"base_url": server.base_url, "model": "bench"}, environ={})
        try:
            ctx = _ctx()
            for _ in range(n + 5):
                server.script(tool_reply(*_deltas(REPLY, 6), calls=[("serve_drink", '{"drink": "ale"}')]))
            for i in range(n + 5):  # the first 5 warm the connection pool
                start = time.perf_counter()
                got_first: float | None = None
                async for chunk in provider.stream(ctx):
                    if got_first is None and isinstance(chunk, TextPiece):
                        got_first = time.perf_counter() - start
                if i >= 5 and got_first is not None:
                    first.append(got_first * 1e3)
                    total.append((time.perf_counter() - start) * 1e3)
        finally:
            await provider.aclose()
    return {"first_piece_ms": _stats(first), "reply_ms": _stats(total)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="provider turns over loopback")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    results = {
        "hygiene_us_per_delta": bench_hygiene(2000),
        "prompt_build_ms": bench_prompt(500),
        **asyncio.run(bench_provider(args.turns)),
    }
    for name, stats in results.items():
        print(
            f"{name:22s} "
            + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in stats.items())
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
