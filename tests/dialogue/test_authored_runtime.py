"""The designers' lines over the real wire: a runtime on loopback (ZeroMQ), real SQLite, the
village personas and world, the bundled static embedding model for topic matching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from npc_runtime.protocol.messages import NpcAction, WarningMessage
from npc_runtime.protocol.messages.world import (
    WorldChanged,
    WorldEventApplied,
    WorldEventMsg,
    WorldStateQuery,
    WorldStateReply,
)
from npc_runtime.runtime.app import Runtime
from npc_runtime.settings import Settings
from npc_runtime.transport.client import AsyncClient
from testsupport import ClientFactory


async def _gold(client: AsyncClient) -> int:
    reply = await client.request(WorldStateQuery())
    assert isinstance(reply, WorldStateReply)
    return int(reply.variables["player.gold"])


async def test_a_cider_gives_drink_cider_and_the_world_takes_the_gold(make_client: ClientFactory) -> None:
    client = await make_client()
    conv = (await client.start_conversation("mira", greet=False)).conversation_id
    assert await _gold(client) == 15
    final = await client.say(conv, "I would like a cider")
    assert final.source == "authored"
    assert final.text == "One cider coming up, love. That's a gold piece."
    assert [(a.name, a.args) for a in final.actions] == [("serve_drink", {"drink": "cider"})]
    action = await client.next_event(types=("npc_action",))
    assert isinstance(action, NpcAction) and action.args == {"drink": "cider"}
    changed = await client.next_event(types=("world_changed",))
    assert isinstance(changed, WorldChanged) and changed.variables == {"player.gold": 14}
    # No drink named: the menu line, and nothing is served.
    menu = await client.say(conv, "I'd like a drink")
    assert menu.text.startswith("Ale, cider or my mother's plum brandy") and menu.actions == []
    # "ale" named with another word for it: an alias of the enum value.
    beer = await client.say(conv, "a pint of beer please")
    assert [(a.name, a.args) for a in beer.actions] == [("serve_drink", {"drink": "ale"})]
    assert await _gold(client) == 13


async def test_a_line_whose_action_the_world_refuses_is_not_said(make_client: ClientFactory) -> None:
    """Elda sells what is on her shelf (`when: rel(self, "owns", arg.remedy)`); once sold, the
    selling line is skipped and the next sayable line answers, without an action."""
    client = await make_client()
    conv = (await client.start_conversation("elda", greet=False)).conversation_id
    first = await client.say(conv, "I need something to help me sleep")
    assert first.text.startswith("A sleeping tonic, then.")
    assert [(a.name, a.args) for a in first.actions] == [
        ("sell_remedy", {"remedy": "sleeping_tonic", "price": 3})
    ]
    changed = await client.next_event(types=("world_changed",))
    assert isinstance(changed, WorldChanged)
    assert changed.relations_removed == [["elda", "owns", "sleeping_tonic"]]
    assert changed.relations_added == [["player", "owns", "sleeping_tonic"]]
    again = await client.say(conv, "I need something to help me sleep")
    assert again.actions == [] and again.text.startswith("Healing comes in a bottle")
    assert await _gold(client) == 12


async def test_a_number_said_fills_an_int_argument(make_client: ClientFactory) -> None:
    client = await make_client()
    conv = (await client.start_conversation("tomas", greet=False)).conversation_id
    final = await client.say(conv, "I'll give you five gold to open the gate")
    assert final.text == "5 gold? I didn't see anything. Neither did you."
    assert [(a.name, a.args) for a in final.actions] == [("take_bribe", {"amount": 5})]
    # More than the player has: the line is not said (its action's `when` fails with amount=20).
    poor = await client.say(conv, "what if I paid you twenty gold")
    assert poor.actions == [] and poor.text.startswith("Coin, is it?")


async def test_a_topic_action_whose_argument_breaks_its_condition_is_refused(
    personas_dir: Path, make_client: ClientFactory
) -> None:
    """A topic-level action (not tied to a line) is checked by the runtime: once the inn is out of
    brandy, serving one is refused with a warning that names the argument."""
    client = await make_client()
    mira = personas_dir / "mira.persona.yaml"
    text = mira.read_text()
    start = text.index("  - id: drink")
    end = text.index("  - id: brother")
    topic = (
        "  - id: drink\n"
        "    phrasings: [I'd like a drink, pour me an ale, a cider please]\n"
        "    lines: [Coming up.]\n"
        "    actions:\n"
        "      - {name: serve_drink, from_player: [drink]}\n"
    )
    mira.write_text(text[:start] + topic + text[end:])
    await client.next_event(types=("persona_reloaded",))
    # The inn's last brandy goes to the player: Mira owns none any more.
    given = await client.request(
        WorldEventMsg(kind="item_given", item="brandy", giver="mira", receiver="player")
    )
    assert isinstance(given, WorldEventApplied) and given.relations_removed == [["mira", "owns", "brandy"]]
    conv = (await client.start_conversation("mira", greet=False)).conversation_id
    final = await client.say(conv, "a brandy please")
    assert final.text == "Coming up." and final.actions == []
    warning = await client.next_event(types=("warning",))
    assert isinstance(warning, WarningMessage) and warning.code == "action_rejected"
    assert "serve_drink" in warning.message and "'drink': 'brandy'" in warning.message
    served = await client.say(conv, "a cider please")
    assert [(a.name, a.args) for a in served.actions] == [("serve_drink", {"drink": "cider"})]


async def test_player_name_template_survives_a_restart(
    make_settings: Callable[..., Settings], make_client: ClientFactory, runtime_server: Runtime
) -> None:
    client = await make_client()
    conv = (await client.start_conversation("mira", greet=False)).conversation_id
    before = await client.say(conv, "hi there")
    assert before.text == "Evening, love! Sit anywhere that isn't sticky."  # the template's default
    await client.say(conv, "My name is Corwin")
    after = await client.say(conv, "hello")
    assert after.text == "Evening, Corwin! Sit anywhere that isn't sticky."
    await client.close()
    await runtime_server.stop()
    # A new runtime on the same SQLite file: the name is remembered.
    runtime = Runtime(make_settings())
    await runtime.start()
    try:
        fresh = AsyncClient(runtime.endpoint, name="after-restart")
        await fresh.connect(timeout=5.0)
        conv2 = (await fresh.start_conversation("mira", greet=False)).conversation_id
        again = await fresh.say(conv2, "good evening")
        assert again.text == "Evening, Corwin! Sit anywhere that isn't sticky."
        await fresh.close()
    finally:
        await runtime.stop()
