"""Benchmark the dialogue path: what the runtime adds per turn, or a local model's text turns.

Without ``--local`` (no model):

- hygiene: cost of the streaming output filter per token delta;
- prompt: building the messages for a full context (persona, 20 memories, 12 history entries);
- provider: a real ``openai`` client streaming from the loopback fake server
  (tests/dialogue/fake_openai_server.py): time to the first text piece and to the end of a
  40-delta reply with a tool call. The model's own time is not included (the server answers at once).

Usage: ``python tools/bench_llm.py [--turns 200] [--json out.json]`` (default run < 10 s).

With ``--local [MODEL]``: text turns against the packaged local model (``local`` provider) in a real
embedded runtime with the sample village (personas/), talking to ``--npc`` over loopback ZeroMQ as
a game does, after each NPC's prompt prefix was warmed up. Before each line the player "thinks":
by default until the runtime has read the next turn ahead (``read_ahead_s``, the time that takes
after the conversation starts or the previous reply ends), or ``--think SECONDS``. Per turn, from
the player's line being sent: the first spoken words (the first ``npc_text_delta``: an opener when
the model was late), the first generated piece (``first_chunk_s``: the first clause when the provider
said it before its sentence's end, ``first_clause_s`` those turns only), the first full generated
sentence (``first_sentence_s``), whether an opener was used, the model's time to first token and
its generation speed (tokens/s), plus how much of the prompt came from the NPC's
cache. Prints p50/p95 and the load average; ``--plot FILE.png`` draws the per-turn figures.

  python tools/bench_llm.py --local qwen2.5-coder-1.5b --turns 8 --json out.json --plot out.png

``--compare N``: N conversations of ``--turns`` turns in the same runtime, alternately with the
``first_clause`` setting off and on (the same questions), with each arm's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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


QUESTIONS = [  # free-form lines: none is a strong match for an authored topic
    "Have you ever fallen in the river?",
    "What is your favourite season, and why?",
    "Who is the oldest person in the village?",
    "Do you ever get tired of this work?",
    "What would you do with a bag of gold?",
    "Is it going to rain tonight, do you think?",
    "Tell me something nobody else knows about you.",
    "What scares you most?",
    "Where would you go if you left the village?",
    "What did you eat for breakfast?",
    "Do you like travellers?",
    "What is the best thing about this place?",
]


def _full_sentence(text: str) -> bool:
    """True when ``text`` holds a complete sentence (as the speaker would cut it)."""
    from npc_runtime.text import split_sentences

    done, _rest = split_sentences(text.rstrip() + " X")
    return bool(done)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


async def bench_local(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from npc_runtime.dialogue.providers.local import LocalProvider
    from npc_runtime.dialogue.providers.local_engine import LocalSettings, reading_threads
    from npc_runtime.protocol.messages import NpcTextDelta, NpcTextFinal, PlayerText
    from npc_runtime.runtime.app import Runtime
    from npc_runtime.settings import Settings
    from npc_runtime.transport.client import AsyncClient

    dialogue = {
        "provider": "local",
        "model": args.local,
        "threads": args.threads,
        "first_token_timeout": 600,
        "timeout": 900,
    }
    if args.opener_after is not None:
        dialogue["opener_after"] = None if args.opener_after < 0 else args.opener_after
    if args.batch_threads is not None:
        dialogue["batch_threads"] = args.batch_threads
    if args.own_process is not None:
        dialogue["own_process"] = args.own_process == "on"
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        settings = Settings(
            bind="tcp://127.0.0.1:0",
            personas_dir=ROOT / "personas",
            db=str(Path(tmp) / "bench.sqlite3"),
            dialogue=dialogue,
            prefer_authored=1.01,  # every turn goes to the model
            voice={"enabled": False},
            log_level="WARNING",
        )
        runtime = Runtime(settings)
        started = time.perf_counter()
        endpoint = await runtime.start()  # loads the model, starts warming every NPC's prefix
        provider = runtime.provider
        assert isinstance(provider, LocalProvider)
        load_s = time.perf_counter() - started
        warm_started = time.perf_counter()
        if provider._warm_task is not None:
            await provider._warm_task
        warm_s = time.perf_counter() - warm_started
        client = AsyncClient(endpoint, name="bench-llm")
        await client.connect()
        turns: list[dict[str, Any]] = []
        persona = runtime.personas.get(args.npc)
        openers = set(persona.openers) if persona is not None else set()
        blocks = (
            [provider.settings.first_clause] if args.first_clause is None else [args.first_clause == "on"]
        )
        if args.compare:  # the same questions, alternately without and with the first clause said early
            blocks = [b % 2 == 1 for b in range(args.compare)]
        try:
            for block, first_clause in enumerate(blocks):
                provider.settings.first_clause = first_clause
                conv = (await client.start_conversation(args.npc, greet=False)).conversation_id
                if len(blocks) > 1:
                    print(f" block {block + 1}: first clause said early: {first_clause}", flush=True)
                for i in range(args.turns):
                    thought = time.perf_counter()
                    if args.think is None:  # the player thinks until the next turn was read ahead
                        while runtime.prefiller.busy(conv):
                            await asyncio.sleep(0.02)
                    else:
                        await asyncio.sleep(args.think)
                    read_ahead = time.perf_counter() - thought
                    text = QUESTIONS[i % len(QUESTIONS)]
                    msg = PlayerText(conversation_id=conv, text=text, id=client.next_id())
                    sent = time.perf_counter()
                    await client.send(msg)
                    delta = await client.next_event(timeout=900, types=("npc_text_delta",))
                    first_words = time.perf_counter() - sent
                    assert isinstance(delta, NpcTextDelta)
                    opener = delta.text.strip() in openers
                    # After the opener: the first generated piece (a clause when it went out before its
                    # sentence's end) and the first full generated sentence, timed apart.
                    generated = "" if opener else delta.text
                    first_chunk = None if opener else first_words
                    first_sentence = None if not _full_sentence(generated) else first_words
                    final = None
                    while first_sentence is None:
                        event = await client.next_event(
                            timeout=900, types=("npc_text_delta", "npc_text_final")
                        )
                        now = time.perf_counter() - sent
                        if isinstance(event, NpcTextFinal):
                            final = event
                            first_chunk = now if first_chunk is None else first_chunk
                            first_sentence = now
                            break
                        assert isinstance(event, NpcTextDelta)
                        generated += event.text
                        first_chunk = now if first_chunk is None else first_chunk
                        if _full_sentence(generated):
                            first_sentence = now
                    assert first_chunk is not None
                    if final is None:
                        final = await client.wait_final(conv, ref=msg.id, timeout=900)
                    total = time.perf_counter() - sent
                    clause_tokens = getattr(provider, "last_turn", {}).get("first_clause_tokens")
                    t = provider.last_timings
                    per = getattr(provider, "last_turn", {})  # older code: no per-turn figures
                    turns.append(
                        {
                            "line": text,
                            "reply": final.text,
                            "source": final.source,
                            "opener": opener,
                            "read_ahead_s": round(read_ahead, 3),
                            "first_words_s": round(first_words, 3),
                            "first_clause_early": clause_tokens is not None,
                            "first_chunk_s": round(first_chunk, 3),
                            "first_clause_s": round(first_chunk, 3) if clause_tokens is not None else None,
                            "first_sentence_s": round(first_sentence, 3),
                            "first_clause_tokens": clause_tokens,
                            "reply_s": round(total, 3),
                            "ttft_s": round(float(t.get("first_token_s") or 0.0), 3),
                            "tokens_per_s": round(float(t.get("predicted_per_second") or 0.0), 2),
                            "prompt_tokens_read": int(t.get("prompt_n") or 0),
                            "prompt_tokens_cached": int(t.get("cache_n") or 0),
                            "requests": int(per.get("requests") or 0),
                            "opener_mode": per.get("opener"),
                            "first_sentence_tokens": int(per.get("first_sentence_tokens") or 0),
                            "guard": provider.last_guard.as_dict()
                            if provider.last_guard is not None
                            else None,
                            "guard_details": [f"{v.reason}: {v.detail}" for v in provider.last_guard.failures]
                            if provider.last_guard is not None
                            else [],
                            "load": _load(),
                            "block": block,
                        }
                    )
                    clause_note = (
                        f"first clause {first_chunk:.2f} s ({clause_tokens} tokens), "
                        if clause_tokens
                        else ""
                    )
                    print(
                        f"  turn {i + 1}: read ahead {read_ahead:.2f} s; first words {first_words:.2f} s"
                        f"{' (opener)' if opener else ''}, {clause_note}first sentence {first_sentence:.2f} s, reply {total:.2f} s, "
                        f"read {turns[-1]['prompt_tokens_read']} / cached {turns[-1]['prompt_tokens_cached']} "
                        f"tokens, {turns[-1]['requests']} request(s), first sentence "
                        f"{turns[-1]['first_sentence_tokens']} tokens [{final.source}] {final.text[:60]!r}"
                        + (f" guard {turns[-1]['guard_details']}" if turns[-1]["guard_details"] else ""),
                        flush=True,
                    )
                pace = getattr(provider, "pace", None)  # older code: no running estimate
                pace_figures = dataclasses.asdict(pace) if pace is not None else {}
        finally:
            await client.close()
            await runtime.stop()
    llm = [t for t in turns if t["source"] == "llm"]

    def stats(key: str, among: list[dict[str, Any]] = llm) -> dict[str, float]:
        values = [float(t[key]) for t in among if t[key] is not None]
        return _stats(values) if values else {}

    arms = {}
    if len(blocks) > 1:  # per arm of the comparison
        for flag in (False, True):
            among = [t for t in llm if blocks[t["block"]] == flag]
            arms["first_clause_" + ("on" if flag else "off")] = {
                key: stats(key, among)
                for key in (
                    "first_chunk_s",
                    "first_clause_s",
                    "first_sentence_s",
                    "ttft_s",
                    "tokens_per_s",
                    "first_clause_tokens",
                    "first_sentence_tokens",
                )
            } | {"turns": len(among), "clause_early": sum(1 for t in among if t["first_clause_early"])}
    return {
        "model": args.local,
        "npc": args.npc,
        "threads": args.threads,
        "batch_threads": reading_threads(
            LocalSettings(threads=args.threads, batch_threads=args.batch_threads)
        ),
        "load_at_start": _load(),
        "model_load_s": round(load_s, 1),
        "warm_up_s": round(warm_s, 1),
        "turns": len(turns),
        "llm_turns": len(llm),
        "openers_used": sum(1 for t in llm if t["opener"]),
        "read_ahead_s": stats("read_ahead_s"),
        "first_words_s": stats("first_words_s"),
        "first_chunk_s": stats("first_chunk_s"),
        "first_clause_s": stats("first_clause_s"),
        "first_sentence_s": stats("first_sentence_s"),
        "first_clause_tokens": stats("first_clause_tokens"),
        "clause_early": sum(1 for t in llm if t["first_clause_early"]),
        "arms": arms,
        "ttft_s": stats("ttft_s"),
        "tokens_per_s": stats("tokens_per_s"),
        "reply_s": stats("reply_s"),
        "prompt_tokens_read": stats("prompt_tokens_read"),
        "first_sentence_tokens": stats("first_sentence_tokens"),
        "requests": stats("requests"),
        "pace": pace_figures,
        "per_turn": turns,
    }


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    turns = result["per_turn"]
    xs = list(range(1, len(turns) + 1))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(xs, [t["first_words_s"] for t in turns], "v-", label="first words")
    ax.plot(xs, [t["first_chunk_s"] for t in turns], "x-", label="first generated clause or sentence")
    ax.plot(xs, [t["first_sentence_s"] for t in turns], "o-", label="first generated full sentence")
    ax.plot(xs, [t["ttft_s"] for t in turns], "s-", label="first token (model)")
    ax.plot(xs, [t["reply_s"] for t in turns], "^-", label="whole reply")
    ax.set_xlabel("turn")
    ax.set_ylabel("seconds after the player's line")
    ax.set_title(
        f"{result['model']} ({result['threads']} thread), {result['npc']}; load {result['load_at_start']}"
    )
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=None, help="turns (default 200 without a model, 8 with)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--local", nargs="?", const="qwen2.5-coder-1.5b", help="bench this packaged local model's text turns"
    )
    parser.add_argument("--npc", default="mira", help="with --local: the NPC to talk to")
    parser.add_argument("--threads", type=int, default=1, help="with --local: model threads")
    parser.add_argument(
        "--batch-threads",
        type=int,
        help="with --local: threads for reading prompts (default: the provider's, 2 on a 2-core machine)",
    )
    parser.add_argument(
        "--own-process",
        choices=["on", "off"],
        help="with --local: the model in a process of its own (the default) or in the runtime's",
    )
    parser.add_argument(
        "--first-clause", choices=["on", "off"], help="with --local: the first_clause setting (default: on)"
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=0,
        help="with --local: this many conversations of --turns turns each, alternately with first_clause "
        "off and on (same runtime, same questions); prints the figures of each",
    )
    parser.add_argument("--plot", type=Path, help="with --local: draw the per-turn figures to this PNG")
    parser.add_argument(
        "--think",
        type=float,
        default=None,
        help="with --local: seconds the player waits before each line (default: until the runtime "
        "has read the next turn ahead)",
    )
    parser.add_argument(
        "--opener-after",
        type=float,
        default=None,
        help="with --local: the opener_after setting (seconds; negative: no openers)",
    )
    args = parser.parse_args()
    if args.local:
        args.turns = args.turns or 8
        local = asyncio.run(bench_local(args))
        print(
            f"model {local['model']}, {local['threads']} thread(s), {local['batch_threads']} reading, load average at start {local['load_at_start']}"
        )
        print(f"model load {local['model_load_s']} s, warm-up of every NPC {local['warm_up_s']} s")
        for key in (
            "read_ahead_s",
            "first_words_s",
            "first_chunk_s",
            "first_clause_s",
            "first_sentence_s",
            "ttft_s",
            "tokens_per_s",
            "reply_s",
            "prompt_tokens_read",
            "first_clause_tokens",
            "first_sentence_tokens",
            "requests",
        ):
            st = local[key]
            if st:
                print(
                    f"{key:20s} p50={st['p50']:.2f}  p95={st['p95']:.2f}  max={st['max']:.2f}  (n={st['n']})"
                )
        if local["pace"]:
            print(
                "the provider's running estimate: "
                + ", ".join(
                    f"{k} {v:.2f}" for k, v in local["pace"].items() if isinstance(v, float) and k != "weight"
                )
            )
        for arm, figures in local["arms"].items():
            print(
                f"{arm} ({figures['turns']} turns, first clause said early in {figures['clause_early']}): "
                + "; ".join(
                    f"{k} p50 {v['p50']:.2f} p95 {v['p95']:.2f}"
                    for k, v in figures.items()
                    if isinstance(v, dict) and v
                )
            )
        print(
            f"{local['llm_turns']}/{local['turns']} turns answered by the model, {local['openers_used']} "
            f"began with an opener, {local['clause_early']} said a first clause before its sentence's end; "
            f"load average now {_load()}"
        )
        if args.json:
            args.json.write_text(json.dumps(local, indent=2))
        if args.plot:
            _plot(local, args.plot)
        return
    args.turns = args.turns or 200
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
