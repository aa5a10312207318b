"""The world over the real wire: a runtime on loopback, real clients, real SQLite, a real
OpenAI-compatible HTTP server for the dialogue (to see exactly what an NPC's prompt holds)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml
from dialogue.fake_openai_server import FakeOpenAIServer, text_reply, tool_reply

from npc_runtime.protocol.codec import encode_map
from npc_runtime.protocol.messages import Error, GameTime, Load, Loaded, Save, SaveData, WarningMessage
from npc_runtime.protocol.messages.world import (
    WorldChanged,
    WorldEventApplied,
    WorldEventMsg,
    WorldFileError,
    WorldReset,
    WorldStateQuery,
    WorldStateReply,
    WorldTell,
)
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient, RuntimeErrorReply
from testsupport import ClientFactory, RuntimeProcess

ELDA_SECRET = "Elda's fever remedy needs moonpetal, which only grows past the north gate."


def bribe(amount: int, **kw: object) -> WorldEventMsg:
    return WorldEventMsg(kind="custom", name="bribe_offered", payload={"amount": amount}, **kw)  # type: ignore[arg-type]


async def state(client: AsyncClient, npc_id: str | None = None) -> WorldStateReply:
    reply = await client.request(WorldStateQuery(npc_id=npc_id))
    assert isinstance(reply, WorldStateReply)
    return reply


async def test_a_world_event_is_applied_and_every_client_hears_what_changed(
    make_client: ClientFactory,
) -> None:
    game, other = await make_client("game"), await make_client("observer")
    reply = await game.request(bribe(10, witnesses=["elda"], game_time=20.0))
    assert isinstance(reply, WorldEventApplied)
    assert reply.variables == {"player.gold": 5, "gate.bribe": 10, "gate.open": True}
    assert reply.quests == {"gate": "bribed", "remedy": "gathering"}
    assert [(t.quest, t.transition, t.silent) for t in reply.transitions] == [
        ("gate", "by_bribe", True),
        ("remedy", "waiting->gathering", True),
    ]
    assert {(x.npc, x.fact) for x in reply.learned} >= {
        ("tomas", "tomas_took_bribe"),
        ("elda", f"seen.{reply.seq}"),
    }
    for client in (game, other):
        changed = await client.next_event(types=("world_changed",))
        assert isinstance(changed, WorldChanged)
        assert changed.cause == "event" and changed.seq == reply.seq and changed.quests == reply.quests
    # the pelt handed to Bram: a relation moves and a transition speaks
    await game.request(WorldEventMsg(kind="custom", name="quest_accepted", payload={"quest": "wolves"}))
    await game.request(WorldEventMsg(kind="enemy_killed", enemy="wolf", count=3))
    await game.request(WorldEventMsg(kind="item_given", item="wolf_pelt"))
    done = await game.request(
        WorldEventMsg(kind="item_given", item="wolf_pelt", giver="player", receiver="bram")
    )
    assert isinstance(done, WorldEventApplied)
    assert done.relations_added == [["bram", "owns", "wolf_pelt"]]
    assert done.transitions[0].say_npc == "bram" and not done.transitions[0].silent
    assert done.variables == {"player.gold": 15}


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (WorldEventMsg(kind="item_given", item="dragon_egg"), "'item': unknown entity 'dragon_egg'"),
        (bribe(10, witnesses=["nobody"]), "witness 'nobody' is not a character"),
        (
            WorldEventMsg(kind="custom", name="bribe_offered", payload={"amount": "lots"}),
            "'lots' is not an int",
        ),
        (bribe(16), "would set player.gold to -1, but -1 is below the minimum 0"),
        (WorldTell(npc_id="tomas", fact="dragons"), "unknown fact 'dragons'"),
    ],
)
async def test_bad_events_get_a_typed_error_and_change_nothing(
    client: AsyncClient, msg: WorldEventMsg, message: str
) -> None:
    before = await state(client)
    with pytest.raises(RuntimeErrorReply) as info:
        await client.request(msg)
    assert info.value.code == "world_event_invalid"
    assert message in info.value.error.message
    after = await state(client)
    assert after.model_dump(exclude={"ref"}) == before.model_dump(exclude={"ref"})


async def test_wrongly_typed_fields_are_refused_by_the_codec(client: AsyncClient) -> None:
    await client.send_raw(
        encode_map(
            {"type": "world_event", "id": 901, "kind": "enemy_killed", "enemy": "wolf", "count": "three"}
        )
    )
    error = await client.next_event(types=("error",))
    assert (
        isinstance(error, Error)
        and error.ref == 901
        and error.code == "invalid_fields"
        and "count" in error.message
    )
    assert (await state(client)).seq == 0


async def test_world_state_of_an_npc_is_only_what_it_knows(client: AsyncClient) -> None:
    tomas = await state(client, "tomas")
    assert "wolves.killed" not in tomas.variables and "remedy" not in tomas.quests
    assert ELDA_SECRET not in [f.text for f in tomas.facts]
    elda = await state(client, "elda")
    assert ELDA_SECRET in [f.text for f in elda.facts]
    full = await state(client)
    assert full.variables["wolves.killed"] == 0 and ["mira", "located_in", "inn"] in full.relations
    with pytest.raises(RuntimeErrorReply) as info:
        await state(client, "ghost")
    assert info.value.code == "unknown_npc"


# -- dialogue gets only the NPC's view -------------------------------------------------------------


@pytest.fixture
async def llm_runtime(
    make_settings: Callable[..., Settings], personas_dir: Path
) -> AsyncIterator[tuple[Runtime, AsyncClient, FakeOpenAIServer]]:
    tomas = personas_dir / "tomas.persona.yaml"
    doc = yaml.safe_load(tomas.read_text(encoding="utf-8"))
    doc["actions"].append(
        {
            "name": "take_coin",
            "description": "Take the player's coin to look the other way.",
            "params": {"amount": {"type": "int", "min": 1}},
            "when": "not gate.open",
            "effects": ["player.gold -= arg.amount", "gate.bribe += arg.amount"],
        }
    )
    tomas.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with FakeOpenAIServer() as llm:
        settings = make_settings(
            # These tests look at what the model is given and proposes: no authored topic answers
            # (the village's topics match "Here is ten gold" and "Where would I find moonpetal?").
            prefer_authored=1.01,
            dialogue={
                "provider": "openai",
                "base_url": llm.base_url,
                "model": "m",
                "api_key_env": "NO_SUCH_KEY_ENV",
                "timeout": 5.0,
                "first_token_timeout": 5.0,
                "max_retries": 0,
            },
        )
        runtime = Runtime(settings)
        await runtime.start()
        client = AsyncClient(runtime.endpoint, name="game")
        await client.connect()
        try:
            yield runtime, client, llm
        finally:
            await client.close()
            await runtime.stop()


async def test_an_npc_asked_about_a_fact_it_does_not_know_cannot_reveal_it(
    llm_runtime: tuple[Runtime, AsyncClient, FakeOpenAIServer],
) -> None:
    _, client, llm = llm_runtime
    question = "Where would I find moonpetal?"
    llm.script(
        text_reply("No idea, friend."), text_reply("Past the north gate."), text_reply("Past the gate.")
    )
    conv = (await client.start_conversation("tomas", greet=False)).conversation_id
    await client.say(conv, question)
    prompt = llm.requests[-1].prompt_text
    assert "Wolves have been taking sheep" in prompt  # what Tomas knows reaches his prompt...
    assert ELDA_SECRET not in prompt and "past the north gate" not in prompt  # ...what he does not, never
    assert "wolves.killed" not in prompt and "Elda's remedy" not in prompt
    conv_e = (await client.start_conversation("elda", greet=False)).conversation_id
    await client.say(conv_e, question)
    assert ELDA_SECRET in llm.requests[-1].prompt_text
    # once Elda tells him, Tomas knows it too
    await client.request(WorldTell(npc_id="tomas", fact="elda_needs_moonpetal", by="elda"))
    await client.say(conv, question)
    assert ELDA_SECRET in llm.requests[-1].prompt_text


async def test_an_npc_action_applies_its_world_effects_atomically(
    llm_runtime: tuple[Runtime, AsyncClient, FakeOpenAIServer],
) -> None:
    _, client, llm = llm_runtime
    llm.script(
        tool_reply("Fine, fine.", calls=[("take_coin", json.dumps({"amount": 10}))]),
        tool_reply("Again?", calls=[("take_coin", json.dumps({"amount": 3}))]),
    )
    conv = (await client.start_conversation("tomas", greet=False)).conversation_id
    final = await client.say(conv, "Here is ten gold, open up.")
    assert [a.name for a in final.actions] == ["take_coin"]
    changed = await client.next_event(types=("world_changed",))
    assert isinstance(changed, WorldChanged)
    assert changed.cause == "action" and changed.npc_id == "tomas" and changed.conversation_id == conv
    assert changed.quests == {"gate": "bribed", "remedy": "gathering"}
    # the gate is open now: the persona's `when` refuses a second bribe, and nothing changes
    before = await state(client)
    final = await client.say(conv, "And three more.")
    assert final.actions == []
    warning = await client.next_event(types=("warning",))
    assert isinstance(warning, WarningMessage) and warning.code == "action_rejected"
    after = await state(client)
    assert after.variables == before.variables and after.seq == before.seq


# -- saves and branches over the wire ------------------------------------------------------------------


async def test_save_take_path_a_load_take_path_b(client: AsyncClient) -> None:
    saved = await client.request(Save())
    assert isinstance(saved, SaveData) and "world" in saved.parts
    await client.request(bribe(10))  # path A
    assert (await state(client)).quests["gate"] == "bribed"
    path_a = await client.request(Save())
    assert isinstance(path_a, SaveData)
    loaded = await client.request(Load(blob=saved.blob))
    assert isinstance(loaded, Loaded) and "world" in loaded.parts
    changed = await client.next_event(
        types=("world_changed",), where=lambda m: getattr(m, "cause", "") == "load"
    )
    assert isinstance(changed, WorldChanged) and changed.quests["gate"] == "closed"
    for _ in range(3):  # path B
        await client.request(
            WorldEventMsg(kind="custom", name="persuasion_attempt", payload={"success": True})
        )
    b = await state(client)
    assert b.quests["gate"] == "persuaded" and b.variables["player.gold"] == 15
    assert "tomas_took_bribe" not in [f.id for f in (await state(client, "tomas")).facts]
    await client.request(Load(blob=path_a.blob))
    a = await state(client)
    assert a.quests["gate"] == "bribed" and a.variables["player.gold"] == 5
    with pytest.raises(RuntimeErrorReply) as info:
        await client.request(Load(blob=b"not a save"))
    assert info.value.code == "save_invalid"
    assert (await state(client)).model_dump(exclude={"ref"}) == a.model_dump(exclude={"ref"})


async def test_acknowledged_events_survive_kill_9_of_the_runtime(
    runtime_process: Callable[..., RuntimeProcess], tmp_path: Path
) -> None:
    db = tmp_path / "durable.sqlite3"
    rp = runtime_process(db=db)
    client = AsyncClient(rp.endpoint, name="game")
    await client.connect()
    last = 0
    for i in range(40):
        try:
            reply = await client.request(WorldEventMsg(kind="enemy_killed", enemy="wolf"))
        except TimeoutError:
            rp.proc.kill()
            raise AssertionError(f"event {i}: " + (rp.proc.stdout.read() if rp.proc.stdout else "")) from None
        assert isinstance(reply, WorldEventApplied)
        last = reply.seq
    os.kill(rp.proc.pid, signal.SIGKILL)
    rp.proc.wait(timeout=30)
    await client.close()
    rp2 = runtime_process(db=db)
    client = AsyncClient(rp2.endpoint, name="game")
    await client.connect()
    try:
        after = await state(client)
        assert after.seq == last and after.variables["wolves.killed"] == 40
    finally:
        await client.close()


async def test_rumours_spread_as_the_game_reports_time_and_reset_starts_over(
    make_client: ClientFactory,
) -> None:
    game = await make_client("game")
    await game.request(bribe(10, game_time=10.0))
    assert "tomas_took_bribe" not in [f.id for f in (await state(game, "mira")).facts]
    await game.send(GameTime(hours=12.5))  # two game hours later the innkeeper has heard it
    mira = await state(game, "mira")
    assert "tomas_took_bribe" in [f.id for f in mira.facts] and mira.quests["gate"] == "exposed"
    spread = await game.next_event(
        types=("world_changed",), where=lambda m: getattr(m, "cause", "") == "time"
    )
    assert isinstance(spread, WorldChanged) and spread.quests == {"gate": "exposed"}
    assert any(x.npc == "mira" and x.source == "rumour:tomas" for x in spread.learned)
    await game.send(WorldReset(id=77))
    reset = await game.next_event(
        types=("world_changed",), where=lambda m: getattr(m, "cause", "") == "reset"
    )
    assert isinstance(reset, WorldChanged) and reset.quests["gate"] == "closed" and reset.seq == 0
    assert (await state(game)).variables["player.gold"] == 15


def save_atomically(path: Path, text: str) -> None:
    """Write like an editor does (a temporary file renamed over the old one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


async def test_an_edited_world_file_is_reconciled_live_or_refused_with_its_problems(
    runtime_server: Runtime, make_client: ClientFactory, personas_dir: Path
) -> None:
    game = await make_client("game")
    await game.request(bribe(10))
    world_file = personas_dir / "village.world.yaml"
    original = world_file.read_text(encoding="utf-8")
    # a new variable: the live state keeps everything and the new variable starts at its initial value
    save_atomically(
        world_file,
        original.replace(
            "variables:\n", "variables:\n  inn.ale_price: {type: int, initial: 3, visible_to: [mira]}\n", 1
        ),
    )
    reloaded = await game.next_event(
        types=("world_changed",), where=lambda m: getattr(m, "cause", "") == "reload"
    )
    assert isinstance(reloaded, WorldChanged)
    assert "variable 'inn.ale_price' is new: starts at 3" in reloaded.notes
    assert reloaded.variables["inn.ale_price"] == 3 and reloaded.quests["gate"] == "bribed"
    assert (await state(game, "mira")).variables["inn.ale_price"] == 3
    # personas are checked again against the new world (they all still fit)
    rechecked = await game.next_event(types=("persona_reloaded",))
    assert rechecked.type == "persona_reloaded"  # type: ignore[attr-defined]
    # a typo: the last good version stays live, every problem is reported with its line
    save_atomically(world_file, original.replace("when: tomas.trust >= 3", "when: tomas.trusst >= 3"))
    error = await game.next_event(types=("world_file_error",))
    assert isinstance(error, WorldFileError)
    line = original.splitlines().index("        when: tomas.trust >= 3") + 1
    assert [(p.field, p.line) for p in error.problems] == [("quests.gate.transitions.0.when", line)]
    assert "did you mean 'tomas.trust'?" in error.problems[0].message
    # an edit the live state does not fit (the gate is in a state that would vanish): refused
    save_atomically(world_file, original.replace("      exposed: {", "      exposed_now: {"))
    error = await game.next_event(types=("world_file_error",))
    assert isinstance(error, WorldFileError)
    assert "unknown state 'exposed'" in error.problems[0].message  # the gossip transition still names it
    without_bribed = (
        original.replace("      bribed: Tomas opened the gate for gold.\n", "")
        .replace("to: bribed", "to: exposed")
        .replace("from: bribed", "from: exposed")
    )
    save_atomically(world_file, without_bribed)
    error = await game.next_event(types=("world_file_error",))
    assert isinstance(error, WorldFileError)
    assert (
        "quest 'gate' is in state 'bribed', which the world file no longer declares"
        in error.problems[0].message
    )
    assert (await state(game)).quests["gate"] == "bribed"


async def test_other_concerns_can_listen_to_world_changes(
    runtime_server: Runtime, client: AsyncClient
) -> None:
    ext = runtime_server.world
    assert ext is not None and ext.service is not None
    heard: list[tuple[str, list[tuple[str, str, str]]]] = []
    ext.subscribe(lambda changes, cause: heard.append((cause, changes.learned)))
    await client.request(WorldEventMsg(kind="enemy_killed", enemy="wolf", witnesses=["bram"]))
    assert heard == [("event", [("bram", "seen.1", "witnessed")])]
    assert "the traveller killed a wolf." in ext.service.view("bram").facts()


async def test_personas_are_checked_again_when_the_world_file_changes(
    runtime_server: Runtime, make_client: ClientFactory, personas_dir: Path
) -> None:
    game = await make_client("game")
    tomas = personas_dir / "tomas.persona.yaml"
    doc = yaml.safe_load(tomas.read_text(encoding="utf-8"))
    doc["topics"][0]["when"] = "not gate.open"
    save_atomically(tomas, yaml.safe_dump(doc, sort_keys=False))
    loaded = await game.next_event(
        types=("persona_reloaded",), where=lambda m: getattr(m, "npc_id", "") == "tomas"
    )
    assert loaded.type == "persona_reloaded"  # type: ignore[attr-defined]
    world_file = personas_dir / "village.world.yaml"
    save_atomically(world_file, world_file.read_text(encoding="utf-8").replace("gate.open", "gate.opened"))
    error = await game.next_event(
        types=("persona_error",), where=lambda m: getattr(m, "npc_id", "") == "tomas"
    )
    problems = error.problems  # type: ignore[attr-defined]
    assert problems[0].field == "topics.0.when"
    assert "unknown name 'gate.open'; did you mean 'gate.opened'?" in problems[0].message
    assert runtime_server.personas.get("tomas") is not None  # the last good version stays live
