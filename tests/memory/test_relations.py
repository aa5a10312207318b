"""Relationships with bounds, facts about players, and reflection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from npc_runtime.errors import ConfigError, ProviderError
from npc_runtime.memory import InvalidMemoryError, MemoryService, MemorySettings, extract_facts
from npc_runtime.memory.reflection import LLMReflector
from npc_runtime.storage import Database

MakeService = Callable[..., MemoryService]


def test_relationship_values_are_clamped_and_changes_reported(service: MemoryService) -> None:
    change = service.adjust_relationship("mira", "hero", {"trust": 0.7}, game_time=1, reason="gift")
    assert change.values == {"trust": pytest.approx(0.7), "affinity": 0.0}
    change = service.adjust_relationship("mira", "hero", {"trust": 0.7}, game_time=2)
    assert change.values["trust"] == 1.0 and change.changes == {"trust": pytest.approx(0.3)}
    change = service.adjust_relationship("mira", "hero", {"trust": 5.0}, game_time=3)
    assert change.changes == {}
    change = service.adjust_relationship("mira", "hero", {"affinity": -9}, game_time=3, absolute=True)
    assert change.values["affinity"] == -1.0
    assert service.relationships.get("mira", "villain") == {"trust": 0.0, "affinity": 0.0}
    assert service.relationships.get("bram", "hero") == {"trust": 0.0, "affinity": 0.0}


def test_relationship_bad_input(service: MemoryService) -> None:
    with pytest.raises(InvalidMemoryError, match="unknown relationship dimension 'love'"):
        service.adjust_relationship("mira", "hero", {"love": 1.0}, game_time=0)
    with pytest.raises(InvalidMemoryError, match="finite"):
        service.adjust_relationship("mira", "hero", {"trust": float("nan")}, game_time=0)
    with pytest.raises(ConfigError, match="min < max"):
        MemorySettings.from_section({"relationships": {"fear": {"min": 1, "max": 0}}})
    with pytest.raises(ConfigError, match=r"memory\.weights\.recency"):
        MemorySettings.from_section({"weights": {"recency": -1}})


def test_custom_dimensions(make_service: MakeService) -> None:
    svc = make_service(relationships={"fear": {"min": 0, "max": 10, "initial": 2}})
    assert svc.relationships.get("mira", "hero") == {"fear": 2.0}
    assert svc.adjust_relationship("mira", "hero", {"fear": 20}, game_time=0).values == {"fear": 10.0}


def test_facts_are_extracted_and_names_replaced(service: MemoryService) -> None:
    assert extract_facts("hi, call me Sam. I swear I'll find the ring!") == [
        ("name", "Sam"),
        ("promise", "I swear I'll find the ring!"),
    ]
    assert extract_facts("my name is not important") == []
    assert extract_facts("my name is aldric and i need a room") == [("name", "Aldric")]  # as STT writes it
    service.facts.add("mira", "hero", "name", "Sam", game_time=0)
    service.facts.add("mira", "hero", "name", "Samuel", game_time=1)
    assert service.facts.add("mira", "hero", "deed", "Slew the boar.", game_time=1) is True
    assert service.facts.add("mira", "hero", "deed", "Slew the boar.", game_time=2) is False
    assert service.facts.describe("mira", "hero") == [
        "Their name is Samuel.",
        "They did this: Slew the boar.",
    ]
    with pytest.raises(InvalidMemoryError):
        service.facts.add("mira", "hero", "rumour", "x", game_time=0)


async def test_extractive_reflection_cites_its_evidence(make_service: MakeService) -> None:
    svc = make_service(reflection_threshold=20.0)
    lines = [
        "My brother vanished on the northern road.",
        "I will pay anything to find my brother.",
        "Have you seen a man with a scar, my brother?",
        "What do you serve for supper?",
    ]
    for i, line in enumerate(lines):
        svc.remember_turn("mira", "hero", player_text=line, heard_text="I see.", game_time=float(i))
    assert svc.reflection_due("mira")
    ids = await svc.reflect("mira", "Mira", now=5.0)
    assert len(ids) == 1
    reflection = svc.memory(ids[0])
    assert reflection is not None and reflection.kind == "reflection" and reflection.player_id == "hero"
    assert "brother" in reflection.text and "hero" in reflection.text
    evidence = [svc.memory(e) for e in reflection.evidence]
    assert len(evidence) == 8 and all(e is not None and e.player_id == "hero" for e in evidence)
    assert not svc.reflection_due("mira")
    # nothing new since: no new reflection
    assert await svc.reflect("mira", "Mira", now=6.0) == []


async def test_llm_reflection_parses_insights_and_falls_back(make_service: MakeService) -> None:
    # A scripted completion function stands in for a language model (none runs in tests here);
    # the openai-compatible provider is tested on its own.
    async def answer(prompt: str) -> str:
        assert "1. hero said to me" in prompt
        return "1. The hero is desperate to find his brother (because of 1, 3)\nnonsense line\n"

    async def broken(prompt: str) -> str:
        raise ProviderError("openai", "timed out", timeout=True)

    svc = make_service(reflection_threshold=5.0)
    for line in ("My brother is lost.", "Good ale.", "Please find my brother."):
        svc.remember_turn("mira", "hero", player_text=line, heard_text="", game_time=0)
    recent = list(reversed(svc.store.recent("mira")))
    svc.reflector = LLMReflector(answer)
    ids = await svc.reflect("mira", "Mira", now=1)
    m = svc.memory(ids[0])
    assert m is not None and m.text == "The hero is desperate to find his brother"
    assert m.evidence == (recent[0].id, recent[2].id)

    svc.remember_turn("mira", "hero", player_text="My brother has a scar.", heard_text="", game_time=2)
    svc.remember_turn("mira", "hero", player_text="He is tall.", heard_text="", game_time=2)
    svc.remember_turn("mira", "hero", player_text="He left in spring.", heard_text="", game_time=2)
    svc.reflector = LLMReflector(broken)
    ids = await svc.reflect("mira", "Mira", now=3)
    fallback = svc.memory(ids[0])
    assert fallback is not None and fallback.text.startswith("About hero")


def test_a_turns_recall_reads_the_facts_once_and_names_the_latest(tmp_path: Path) -> None:
    """The recall's name and prose come from one read of the facts (a round trip in cluster mode)."""
    db = Database(tmp_path / "m.sqlite3")
    svc = MemoryService(db)
    svc.facts.add("mira", "hero", "name", "Aldric", game_time=1.0)
    svc.facts.add("mira", "hero", "promise", "I promise to bring herbs.", game_time=2.0)
    svc.facts.add("mira", "hero", "name", "Corwin", game_time=3.0)
    reads: list[str] = []
    db.conn.set_trace_callback(lambda sql: reads.append(sql) if "memory_player_facts" in sql else None)
    recall = svc.context("mira", "hero", None, now=4.0)
    db.conn.set_trace_callback(None)
    assert recall.player_name == "Corwin" == svc.facts.name("mira", "hero")
    assert (
        "Their name is Corwin." in recall.player_facts and "Their name is Aldric." not in recall.player_facts
    )
    assert len([r for r in reads if r.lstrip().upper().startswith("SELECT")]) == 1
    db.close()
