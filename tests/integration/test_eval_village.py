"""`npc-runtime eval`: the village suite over real runtimes (ZeroMQ on loopback, SQLite files),
with the authored provider (every scenario) and with the packaged local model (a subset)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from npc_runtime.errors import ContentError
from npc_runtime.evals import load_suite, run_suite

REPO = Path(__file__).resolve().parent.parent.parent
SUITE = REPO / "personas" / "village.eval.yaml"

# Scenarios the runtime decides by itself, whatever the provider says: world rules refuse the
# action or the change, knowledge never reaches the prompt, the output guard stops a leak.
GROUNDED = [
    "tomas_does_not_know_moonpetal",
    "inject_world_rule",
    "tomas_keeps_the_gate_shut",
]


@pytest.mark.timeout(600)
async def test_authored_provider_on_the_whole_suite() -> None:
    suite = load_suite(SUITE)
    result = await run_suite(suite, {"provider": "authored"})
    by_id = {s.id: s for s in result.scenarios}
    assert set(by_id) == {s.id for s in suite.scenarios}
    assert all(s.error is None for s in result.scenarios), [s.error for s in result.scenarios if s.error]
    # The world's rules decide actions, with any provider.
    for sid in ("bram_no_second_offer", "elda_cannot_sell_to_an_empty_purse", "inject_world_rule", *GROUNDED):
        assert by_id[sid].passed, (sid, by_id[sid].turns)
    # And the suite can fail: a free-form question gets a fallback line, and authored lines cannot
    # use the name the player gave before the restart.
    program = by_id["mira_is_not_a_program"].turns[0]
    assert program.source == "fallback" and program.failures == ["answered with a fallback line"]
    name = by_id["mira_remembers_my_name"]
    assert not name.passed and len(name.turns) == 2  # both sides of the restart ran
    doc = result.as_json()
    assert doc["provider"] == "authored" and doc["scenarios"] == len(suite.scenarios)
    assert 0 < doc["pass_rate"] < 1


def test_the_cli_prints_json_and_fails_on_a_failing_scenario(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "npc_runtime.cli",
            "eval",
            str(SUITE),
            "--only",
            "character",
            "--json",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr  # mira_is_not_a_program gets a fallback line
    doc = json.loads(proc.stdout)
    assert {r["id"] for r in doc["results"]} == {
        "mira_is_not_a_program",
        "tomas_and_the_language_model",
        "inject_be_a_dragon",
    }
    assert json.loads(out.read_text()) == doc


def test_a_broken_suite_is_a_content_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.eval.yaml"
    bad.write_text(
        "suite: x\nscenarios:\n  - id: a\n    npc: mira\n    steps:\n      - say: hi\n        restart: true\n"
    )
    with pytest.raises(ContentError, match="exactly one of"):
        load_suite(bad)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_local_model_on_the_grounded_subset() -> None:
    # The default local model (Qwen2.5-Coder-1.5B, one thread). The whole suite takes about an
    # hour on two loaded cores, so CI runs the scenarios the runtime grounds; the whole suite's pass
    # rates are in docs/evals.md.
    suite = load_suite(SUITE)
    dialogue = {"provider": "local", "warm_up": False, "first_token_timeout": 900, "timeout": 1200}
    result = await run_suite(suite, dialogue, only=GROUNDED, turn_timeout=1200)
    assert [s.id for s in result.scenarios] == GROUNDED
    for s in result.scenarios:
        assert s.error is None, s.error
        assert s.passed, (s.id, [(t.say, t.reply, t.failures) for t in s.turns])
        assert all(t.source in ("llm", "authored", "fallback") for t in s.turns)
    assert any(t.source == "llm" for s in result.scenarios for t in s.turns)  # the model did answer


def test_set_reaches_runtime_memory_and_dialogue_settings() -> None:
    import argparse

    from npc_runtime.evals.cli import _settings

    args = argparse.Namespace(
        provider="authored",
        model=None,
        base_url=None,
        timeout=30.0,
        set=["prefer_authored=0.6", "memory.top_k=3", "dialogue.seed=1", "threads=2"],
    )
    dialogue, runtime = _settings(args)
    assert runtime == {"prefer_authored": 0.6, "memory": {"top_k": 3}}
    assert dialogue == {"provider": "authored", "seed": 1, "threads": 2}
    args.set = ["db=x.sqlite3"]  # each scenario has its own database
    with pytest.raises(SystemExit, match="sets this itself"):
        _settings(args)


async def test_runtime_settings_reach_each_scenarios_runtime() -> None:
    from pydantic import ValidationError

    suite = load_suite(SUITE)
    with pytest.raises(ValidationError, match="prefer_authored"):
        await run_suite(
            suite, {"provider": "authored"}, only=["mira_says_her_name"], runtime={"prefer_authored": 5}
        )
    result = await run_suite(
        suite, {"provider": "authored"}, only=["mira_says_her_name"], runtime={"history_turns": 0}
    )
    assert [s.id for s in result.scenarios] == ["mira_says_her_name"] and result.scenarios[0].error is None
