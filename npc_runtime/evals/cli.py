"""``npc-runtime eval SUITE.yaml``: run character tests and print a table (or ``--json``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ..settings import Settings
from .run import ScenarioResult, SuiteResult, run_suite
from .suite import load_suite


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(result: SuiteResult) -> str:
    lines = [f"suite {result.suite} with provider {result.provider}", ""]
    lines.append(f"{'scenario':<36} {'npc':<6} {'result':<6} {'s':>6}  detail")
    for s in result.scenarios:
        seconds = sum(t.seconds for t in s.turns)
        verdict = "pass" if s.passed else "FAIL"
        detail = s.error or "; ".join(f for t in s.turns for f in t.failures)
        lines.append(f"{s.id:<36} {s.npc:<6} {verdict:<6} {seconds:>6.1f}  {_clip(detail, 90)}")
        if not s.passed:
            for t in s.turns:
                if t.failures:
                    lines.append(f"{'':<50}  > {_clip(t.say, 60)}")
                    lines.append(f"{'':<50}  < {_clip(t.reply, 100)} [{t.source}]")
    ok, total = result.checks
    n = len(result.scenarios)
    rate = 100.0 * result.passed / n if n else 0.0
    lines += [
        "",
        f"{result.passed}/{n} scenarios passed ({rate:.0f}%), {ok}/{total} turns, {result.seconds:.0f} s",
    ]
    return "\n".join(lines)


_SECTIONS = ("memory", "world")  # runtime sections a `--set memory.KEY=VALUE` reaches


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dialogue section and the other runtime settings from the command line.

    ``--set KEY=VALUE`` (VALUE as JSON, else a string): a runtime setting when KEY names one
    (``prefer_authored``, ``llm_actions_named``, ``history_turns``), ``memory.KEY`` or
    ``world.KEY`` for those sections, ``dialogue.KEY`` or any other KEY for the dialogue section."""
    d: dict[str, Any] = {"provider": args.provider}
    runtime: dict[str, Any] = {}
    if args.model:
        d["model"] = args.model
    if args.base_url:
        d["base_url"] = args.base_url
    for item in args.set or []:
        key, _, raw = item.partition("=")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        section, _, sub = key.partition(".")
        if sub and section in _SECTIONS:
            runtime.setdefault(section, {})[sub] = value
        elif sub and section == "dialogue":
            d[sub] = value
        elif key in _RESERVED:
            raise SystemExit(f"eval: --set {key}: each scenario's runtime sets this itself")
        elif key in Settings.model_fields:
            runtime[key] = value
        else:
            d[key] = value
    if args.provider == "local":
        d.setdefault("warm_up", False)  # each scenario's first turn fills the NPC's cache anyway
        # A first turn reads the whole prompt (~700 tokens, a minute at one thread): no fallback.
        d.setdefault("first_token_timeout", args.timeout)
        d.setdefault("timeout", args.timeout)
    return d, runtime


# set by each scenario's runtime itself (its own database, loopback port, personas, no voice)
_RESERVED = frozenset({"bind", "db", "personas_dir", "dialogue", "voice", "cluster", "log_level"})


def cmd_eval(args: argparse.Namespace) -> int:
    suite = load_suite(Path(args.suite))

    def progress(r: ScenarioResult) -> None:
        if args.quiet:
            return
        print(f"  {r.id}: {'pass' if r.passed else 'FAIL'}", file=sys.stderr, flush=True)
        if args.verbose:
            for t in r.turns:
                print(f"    > {t.say}\n    < {t.reply} [{t.source}, {t.seconds:.1f} s]", file=sys.stderr)
                for a in t.actions:
                    print(f"      action {a['name']} {a['args']}", file=sys.stderr)
                for f in t.failures:
                    print(f"      FAILED: {f}", file=sys.stderr)
            if r.error:
                print(f"    ERROR: {r.error}", file=sys.stderr)

    dialogue, runtime = _settings(args)
    result = asyncio.run(
        run_suite(
            suite, dialogue, only=args.only, turn_timeout=args.timeout, progress=progress, runtime=runtime
        )
    )
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(table(result))
    if args.output:
        Path(args.output).write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
    return 0 if result.passed == len(result.scenarios) else 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add `npc-runtime eval ...` to the `npc-runtime` parser."""
    p = subparsers.add_parser("eval", help="run a character test suite (*.eval.yaml) against a provider")
    p.add_argument("suite", help="the suite file, e.g. personas/village.eval.yaml")
    p.add_argument("--provider", default="authored", choices=["authored", "local", "openai"])
    p.add_argument("--model", help="packaged local model, or the openai server's model name")
    p.add_argument("--base-url", help="openai: the server's /v1 URL")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a dialogue setting, a runtime one (prefer_authored=0.6) or memory.KEY (JSON value)",
    )
    p.add_argument("--only", nargs="+", metavar="ID_OR_TAG", help="only these scenarios (ids or tags)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per reply (default 300)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("-o", "--output", help="also write the JSON report to this file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("-v", "--verbose", action="store_true", help="print every turn as it is checked (stderr)")
    p.set_defaults(func=cmd_eval)
