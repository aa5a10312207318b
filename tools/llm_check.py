"""Check an OpenAI-compatible server with the ``openai`` dialogue provider before pointing the runtime at it.

Sends a few player lines to one persona through the same provider the runtime uses (prompt,
tools, streaming, output hygiene) and prints, per turn: time to the first spoken piece, total
time, the spoken reply, the proposed actions, and the prompt size. Exit code 1 if a turn failed.

    python tools/llm_check.py --base-url http://127.0.0.1:11434/v1 --model llama3.2
    python tools/llm_check.py --base-url http://127.0.0.1:8080/v1 --model any --actions text
    OPENAI_API_KEY=sk-... python tools/llm_check.py --model gpt-4o-mini

See docs/llm.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from npc_runtime.dialogue.base import ActionProposal, TextPiece
from npc_runtime.dialogue.context import DialogueContext, HistoryEntry
from npc_runtime.dialogue.providers.openai import OpenAIProvider
from npc_runtime.errors import ConfigError, ProviderError
from npc_runtime.personas.loader import load_persona_file

ROOT = Path(__file__).resolve().parent.parent
LINES = [
    "Good evening. Anything happening in the village?",
    "I'm thirsty. Pour me an ale, would you?",
    "Who rules the kingdom across the sea?",  # not in the persona: should answer "don't know"
]


async def run(args: argparse.Namespace) -> int:
    persona, problems = load_persona_file(args.persona)
    if persona is None:
        for p in problems:
            print(p, file=sys.stderr)
        return 2
    settings: dict[str, Any] = {"provider": "openai", "model": args.model, "actions": args.actions}
    for key in ("base_url", "api_key_env", "temperature", "max_tokens", "first_token_timeout", "timeout"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    try:
        provider = OpenAIProvider.from_settings(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    failures = 0
    history: list[HistoryEntry] = []
    results: list[dict[str, Any]] = []
    try:
        for line in args.line or LINES:
            ctx = DialogueContext(
                persona=persona, player_id="player", player_text=line, history=list(history)
            )
            start = time.perf_counter()
            first: float | None = None
            text, actions = "", []
            try:
                async for chunk in provider.stream(ctx):
                    if isinstance(chunk, TextPiece):
                        first = first if first is not None else time.perf_counter() - start
                        text += chunk.text
                    elif isinstance(chunk, ActionProposal):
                        actions.append({"name": chunk.name, "args": chunk.args})
                error = None
            except ProviderError as exc:
                failures += 1
                error = str(exc)
            total = time.perf_counter() - start
            tokens = provider.last_prompt.tokens if provider.last_prompt else None
            result = {
                "player": line,
                "npc": text,
                "actions": actions,
                "first_piece_s": None if first is None else round(first, 3),
                "total_s": round(total, 3),
                "prompt_tokens": tokens,
                "error": error,
            }
            results.append(result)
            print(f"player: {line}")
            print(f"  npc:     {text or '(nothing)'}")
            if actions:
                print(f"  actions: {json.dumps(actions)}")
            if error:
                print(f"  FAILED:  {error}")
            first_txt = f"{first:.3f}s" if first is not None else "-"
            print(f"  first piece {first_txt}, total {total:.3f}s, prompt ~{tokens} tokens")
            history += [HistoryEntry("player", line), HistoryEntry(persona.id, text)] if text else []
    finally:
        await provider.aclose()
    print(f"mode: actions={provider.actions_mode}")
    if args.json:
        args.json.write_text(json.dumps({"turns": results, "actions_mode": provider.actions_mode}, indent=2))
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="e.g. http://127.0.0.1:11434/v1 (default: api.openai.com)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key-env", help="environment variable with the key (default OPENAI_API_KEY)")
    parser.add_argument("--actions", choices=["tools", "text", "none"], default="tools")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--first-token-timeout", type=float)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--persona", type=Path, default=ROOT / "personas" / "mira.persona.yaml")
    parser.add_argument("--line", action="append", help="a player line (repeatable); default: three samples")
    parser.add_argument("--json", type=Path, help="write the results here")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
