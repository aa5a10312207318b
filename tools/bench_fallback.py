"""Time to the NPC's first words when the LLM server misbehaves, with the stock settings.

    python tools/bench_fallback.py [--runs 5]

Runs the runtime (openai provider, shipped time-outs) against the real OpenAI-compatible test
server on loopback (tests/dialogue/fake_openai_server.py), which stalls before its headers, stalls
after them, trickles, or answers HTTP 500. For each fault it sends ``player_text`` and measures the
time to the first ``npc_text_delta`` (the NPC's first words: the fallback line), printing median
and p95 per fault, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dialogue.fake_openai_server import FakeOpenAIServer, HttpError, Stall, Stream, text_reply  # noqa: E402

from npc_runtime.protocol.messages import NpcTextFinal  # noqa: E402
from npc_runtime.runtime.app import Runtime  # noqa: E402
from npc_runtime.settings import Settings  # noqa: E402
from npc_runtime.transport.client import AsyncClient  # noqa: E402

FAULTS = {
    "stall before headers": Stall,
    "stall after headers": lambda: text_reply(stall=True),
    "trickle (a word per 2 s)": lambda: Stream(
        [{"role": "assistant", "content": ""}, {"content": " "}, {"content": "Well"}], interval=2.0
    ),
    "HTTP 500": lambda: HttpError(500),
}


async def measure(runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with FakeOpenAIServer() as llm, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.model_validate(
            {
                "bind": "tcp://127.0.0.1:0",
                "personas_dir": ROOT / "personas",
                "db": str(Path(tmp) / "db.sqlite3"),
                "dialogue": {"provider": "openai", "base_url": llm.base_url, "model": "m"},
                "voice": {"warm_up": False},
            }
        )
        runtime = Runtime(settings)
        await runtime.start()
        try:
            async with AsyncClient(runtime.endpoint, name="bench") as client:
                conv = (await client.start_conversation("mira", greet=False)).conversation_id
                for name, fault in FAULTS.items():
                    times = out.setdefault(name, [])
                    for _ in range(runs):
                        llm.script(fault())
                        start = time.perf_counter()
                        first: list[float] = []
                        final = await client.say(
                            conv,
                            "what do you make of the weather these days?",
                            on_delta=lambda _t, first=first: first.append(time.perf_counter()),
                        )
                        assert isinstance(final, NpcTextFinal) and final.source == "fallback", final
                        times.append(
                            ((first[0] if first else time.perf_counter()) - start) * 1000
                        )  # first delta
        finally:
            await runtime.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(measure(args.runs))
    for name, times in results.items():
        p95 = statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]
        print(
            f"{name:26s} first words after median {statistics.median(times):5.0f} ms, p95 {p95:5.0f} ms, "
            f"max {max(times):5.0f} ms (n={len(times)})"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
