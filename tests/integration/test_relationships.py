"""Relationship values in persona conditions and effects, with the real world and memory.

Bram's persona (a tmp copy) gains a topic gated on ``relationship.trust``, a line with a mixed
condition (a quest state and trust), and an action that costs gold (a world effect) and raises
trust (a memory effect).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from npc_runtime.cli import main
from npc_runtime.personas.schema import Persona
from npc_runtime.protocol.messages.conversation import NpcAction
from npc_runtime.protocol.messages.core import WarningMessage
from npc_runtime.protocol.messages.memory import Relationship, RelationshipAdjust, RelationshipGet
from npc_runtime.protocol.messages.world import WorldStateQuery, WorldStateReply
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from testsupport import ClientFactory

REPO = Path(__file__).resolve().parents[2]
SECRET = "Between us: the torn-eared wolf dens under the old mill."
TRUSTED_JOB = "For you, I'd lend my own spear. Kill three wolves and we're square."
NOT_YET = "You're not one to hear that yet."
PAID = "Coin's coin. I'll remember it."

CONTENT: dict[str, Any] = {
    "topics": [
        {
            "id": "secret",
            "phrasings": ["tell me a secret about the wolves"],
            "when": "relationship.trust > 0.5",
            "lines": [SECRET],
        },
        {
            "id": "trusted_job",
            "phrasings": ["would you lend me a spear"],
            "lines": [
                {"text": TRUSTED_JOB, "when": 'quest.wolves == "not_started" and relationship.trust >= 0.3'},
                {"text": "Done is done.", "when": 'quest.wolves == "done" and relationship.trust >= 0.3'},
                {"text": NOT_YET, "when": "relationship.trust < 0.3"},
            ],
        },
        {
            "id": "tip",
            "phrasings": ["take this coin for the forge"],
            "lines": [PAID],
            "actions": [{"name": "take_tip"}],
        },
    ],
    "actions": [
        {
            "name": "take_tip",
            "description": "Accept ten gold from the player; he trusts them a bit more.",
            "effects": ["player.gold -= 10", "relationship.trust += 0.2"],
        }
    ],
}


def add_content(path: Path, typo: bool = False) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["topics"] = doc["topics"] + CONTENT["topics"]
    doc["actions"] = doc["actions"] + CONTENT["actions"]
    text = yaml.safe_dump(doc, sort_keys=False, width=200)
    if typo:
        text = text.replace("when: relationship.trust > 0.5", "when: relationship.trsut > 0.5")
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def personas_dir(tmp_path: Path) -> Path:
    """The sample personas and world, Bram with the relationship content (overrides conftest's)."""
    dst = tmp_path / "personas"
    shutil.copytree(REPO / "personas", dst)
    add_content(dst / "bram.persona.yaml")
    return dst


def lint(capsys: pytest.CaptureFixture[str], personas: Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["persona", "lint", str(personas), "--world", str(personas / "village.world.yaml")])
    return code, capsys.readouterr().out


def topic_ids(persona: Persona) -> list[str]:
    return [t.id for t in persona.topics]


async def test_relationship_conditions_load_with_the_world_and_lint_clean(
    runtime_server: Runtime, personas_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runtime_server.world is not None and runtime_server.world.active
    bram = runtime_server.personas.get("bram")
    assert bram is not None and "secret" in topic_ids(bram) and "trusted_job" in topic_ids(bram)
    code, out = lint(capsys, personas_dir)
    assert code == 0, out
    assert "0 error(s)" in out and "relationship" not in out
    capsys.readouterr()
    assert main(["world", "lint", str(personas_dir)]) == 0  # the world's lint of personas agrees
    assert "relationship" not in capsys.readouterr().out


def test_a_misspelt_relationship_is_a_lint_error_with_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    personas = tmp_path / "personas"
    shutil.copytree(REPO / "personas", personas)
    bram = personas / "bram.persona.yaml"
    add_content(bram, typo=True)
    lines = bram.read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "relationship.trsut" in text)
    index = [t["id"] for t in yaml.safe_load(bram.read_text(encoding="utf-8"))["topics"]].index("secret")
    code, out = lint(capsys, personas)
    assert code == 1
    assert (
        f"{bram}:{line}: [topics.{index}.when] error: unknown name 'relationship.trsut'; "
        "did you mean 'relationship.trust'?"
    ) in out
    assert "1 error(s)" in out


async def _say(client: AsyncClient, conv_id: str, text: str) -> str:
    return (await client.say(conv_id, text)).text


async def test_a_topic_gated_on_trust_opens_when_the_game_raises_trust(
    runtime_server: Runtime, make_client: ClientFactory
) -> None:
    client = await make_client()
    conv = (await client.start_conversation("bram", player_id="hero", greet=False)).conversation_id
    assert await _say(client, conv, "tell me a secret about the wolves") != SECRET
    assert await _say(client, conv, "would you lend me a spear") == NOT_YET

    reply = await client.request(
        RelationshipAdjust(npc_id="bram", player_id="hero", changes={"trust": 0.6}, reason="saved his dog")
    )
    assert isinstance(reply, Relationship) and reply.values["trust"] == pytest.approx(0.6)

    assert await _say(client, conv, "tell me a secret about the wolves") == SECRET
    # quest.wolves (world) and relationship.trust (memory) in one condition
    assert await _say(client, conv, "would you lend me a spear") == TRUSTED_JOB
    # another player has not earned Bram's trust
    other = (await client.start_conversation("bram", player_id="stranger", greet=False)).conversation_id
    assert await _say(client, other, "tell me a secret about the wolves") != SECRET


async def _gold(client: AsyncClient) -> Any:
    state = await client.request(WorldStateQuery())
    assert isinstance(state, WorldStateReply)
    return state.variables["player.gold"]


async def _trust(client: AsyncClient) -> float:
    rel = await client.request(RelationshipGet(npc_id="bram", player_id="hero"))
    assert isinstance(rel, Relationship)
    return rel.values["trust"]


async def test_an_action_applies_world_and_relationship_effects_together_or_not_at_all(
    runtime_server: Runtime, make_client: ClientFactory
) -> None:
    client = await make_client()
    assert await _gold(client) == 15 and await _trust(client) == 0.0
    conv = (await client.start_conversation("bram", player_id="hero", greet=False)).conversation_id

    assert await _say(client, conv, "take this coin for the forge") == PAID
    action = await client.next_event(types=("npc_action",))
    assert isinstance(action, NpcAction) and action.name == "take_tip"
    assert await _gold(client) == 5
    assert await _trust(client) == pytest.approx(0.2)

    # 5 gold left: 'player.gold -= 10' breaks the world's bound (min 0), so the trust part is not
    # applied either
    assert await _say(client, conv, "take this coin for the forge") == PAID
    warning = await client.next_event(types=("warning",))
    assert isinstance(warning, WarningMessage) and warning.code == "action_rejected"
    assert "player.gold" in warning.message
    assert await _gold(client) == 5
    assert await _trust(client) == pytest.approx(0.2)


async def test_without_a_world_memory_evaluates_relationship_conditions_and_effects(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    runtime = Runtime(make_settings(world={"enabled": False}))
    await runtime.start()
    try:
        world, memory = runtime.world, runtime.memory
        assert world is not None and not world.active
        assert memory is not None
        bram = runtime.personas.get("bram")
        assert bram is not None and "secret" in topic_ids(bram)
        memory.adjust_relationship("bram", "hero", {"trust": 0.4, "affinity": -0.25})
        ctx = await runtime.context_for(bram, "hero", "hello")
        assert ctx.values == {"relationship.trust": 0.4, "relationship.affinity": -0.25}
        assert ctx.allows("relationship.trust > 0.3 and relationship.affinity < 0")
        assert ctx.allows("relationship.trust * 2 >= 0.8 or relationship.trust == -1")
        assert not ctx.allows("relationship.trust > 0.5")
        assert not ctx.allows("relationship.trust > 0.3 and not (relationship.affinity < 0)")
        assert not ctx.allows("relationship.trsut > 0.3")  # unknown: never true

        # Without a world, memory checks relationship names in personas itself.
        bad = bram.model_copy(
            update={"topics": [bram.topics[0].model_copy(update={"when": "relationship.trsut > 1"})]}
        )
        problems = memory.check_persona(bad)
        assert problems == [
            (
                "topics.0.when",
                "unknown name 'relationship.trsut'; did you mean 'relationship.trust'? (column 1) "
                "in 'relationship.trsut > 1'",
            )
        ]
    finally:
        await runtime.stop()
