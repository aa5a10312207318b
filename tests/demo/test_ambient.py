"""Villagers who chat while the player stands by (demo_game/ambient.py): when it starts, what is
shown, and that it stays bounded. The runtime's side is in tests/runtime/test_ambient.py; the whole
demo against the real runtime is in test_game.py."""

from __future__ import annotations

from demo_game.ambient import COOLDOWN_SECONDS, EARSHOT, IDLE_SECONDS, OPENERS, TURNS, Chatter, near_pairs
from demo_game.player import tile_centre
from demo_game.talk import LogEntry
from demo_game.world_map import TileMap
from npc_runtime.protocol.messages import ConversationEnded, ConversationStarted, NpcTextDelta, NpcTextFinal

NAMES = {"mira": "Mira Thornwood", "bram": "Bram Ironhand", "elda": "Elda", "tomas": "Tomas"}


class RecordingLink:
    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    def start_ambient(self, npc_ids: list[str], seed_line: str, turns: int) -> None:
        self.sent.append(("ambient", tuple(npc_ids), seed_line, turns))

    def end_conversation(self, conversation_id: str) -> None:
        self.sent.append(("end", conversation_id))


class RecordingLog:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def add(self, kind: str, speaker: str, text: str) -> None:
        self.entries.append(LogEntry(kind, speaker, text))  # type: ignore[arg-type]


def final(conv: str, npc: str, text: str, *, ambient: bool = True, turn: int = 1) -> NpcTextFinal:
    return NpcTextFinal(
        conversation_id=conv, turn_id=turn, npc_id=npc, text=text, source="authored", ambient=ambient
    )


def chatter() -> tuple[Chatter, RecordingLink, RecordingLog]:
    link, log = RecordingLink(), RecordingLog()
    c = Chatter(link, log, near_pairs(TileMap().npc_spots), NAMES)
    return c, link, log


def by_the_pair(c: Chatter) -> tuple[float, float]:
    x, y = c.pairs[0].centre
    return x + 40.0, y  # a step aside from the midpoint, well within earshot


def test_only_mira_and_bram_stand_near_each_other() -> None:
    pairs = near_pairs(TileMap().npc_spots)
    assert [p.npc_ids for p in pairs] == [("mira", "bram")]
    mira, bram = tile_centre(TileMap().spot("mira").tile), tile_centre(TileMap().spot("bram").tile)  # type: ignore[union-attr]
    assert pairs[0].centre == ((mira[0] + bram[0]) / 2, (mira[1] + bram[1]) / 2)


def test_it_starts_when_the_player_stands_by_and_shows_what_is_overheard() -> None:
    c, link, log = chatter()
    spot = by_the_pair(c)
    c.update(0.0, spot, player_talking=False)
    c.update(IDLE_SECONDS - 0.1, spot, player_talking=False)
    assert link.sent == [], "not before the player has stood still for a while"
    c.update(IDLE_SECONDS + 0.1, spot, player_talking=False)
    assert link.sent == [("ambient", ("mira", "bram"), OPENERS[0], TURNS)]
    c.update(IDLE_SECONDS + 0.2, spot, player_talking=False)
    assert len(link.sent) == 1, "one exchange at a time"

    # the first line overtakes conversation_started (two reply paths): held, then shown in order
    assert c.handle(NpcTextDelta(conversation_id="amb1", turn_id=1, npc_id="mira", seq=1, text=OPENERS[0]))
    assert c.handle(final("amb1", "mira", OPENERS[0]))
    assert log.entries == []
    assert c.handle(
        ConversationStarted(conversation_id="amb1", npc_ids=["mira", "bram"], player_id="player", mode="text")
    )
    assert [(e.speaker, e.text) for e in log.entries] == [("Mira (overheard)", OPENERS[0])]
    for i, (npc, text) in enumerate(
        [("bram", "Aye, I heard."), ("mira", "Lock your doors."), ("bram", "I will.")]
    ):
        assert c.handle(final("amb1", npc, text, turn=i + 2))
    assert [e.speaker for e in log.entries] == [
        "Mira (overheard)",
        "Bram (overheard)",
        "Mira (overheard)",
        "Bram (overheard)",
    ]
    assert all(e.kind == "npc" for e in log.entries)
    assert link.sent[-1] == ("end", "amb1"), "the exchange is closed after its lines"
    assert c.handle(ConversationEnded(conversation_id="amb1", reason="client"))
    assert c.active is None

    # the same pair waits out its cooldown
    c.update(IDLE_SECONDS + 10.0, spot, player_talking=False)
    assert len(link.sent) == 2
    c.update(IDLE_SECONDS + 0.1 + COOLDOWN_SECONDS, spot, player_talking=False)
    assert link.sent[-1] == ("ambient", ("mira", "bram"), OPENERS[1], TURNS)


def test_it_stops_when_the_player_talks_or_walks_away_and_never_starts_out_of_earshot() -> None:
    c, link, log = chatter()
    far = (c.pairs[0].centre[0] + EARSHOT + 10.0, c.pairs[0].centre[1])
    c.update(0.0, far, player_talking=False)
    c.update(60.0, far, player_talking=False)
    assert link.sent == [], "out of earshot: nobody chats"

    spot = by_the_pair(c)
    c.update(100.0, spot, player_talking=True)
    c.update(100.0 + IDLE_SECONDS * 3, spot, player_talking=True)
    assert link.sent == [], "the player is talking to someone: nobody starts"

    c.update(120.0, spot, player_talking=False)
    c.update(120.0 + IDLE_SECONDS + 0.1, spot, player_talking=False)
    assert len(link.sent) == 1
    # the player presses E before the start is confirmed: the exchange ends as soon as it is
    c.update(125.0, spot, player_talking=True)
    assert len(link.sent) == 1
    # the player's own conversation is not claimed (one NPC, lines not ambient)
    assert not c.handle(
        ConversationStarted(conversation_id="p1", npc_ids=["mira"], player_id="player", mode="text")
    )
    assert not c.handle(final("p1", "mira", "Welcome, love.", ambient=False))
    assert c.handle(
        ConversationStarted(conversation_id="amb2", npc_ids=["bram", "mira"], player_id="player", mode="text")
    )
    assert link.sent[-1] == ("end", "amb2")
    assert c.handle(ConversationEnded(conversation_id="amb2", reason="client"))
    assert c.active is None and log.entries == []


def test_it_can_be_switched_off() -> None:
    c, link, _ = chatter()
    c.enabled = False
    spot = by_the_pair(c)
    c.update(0.0, spot, player_talking=False)
    c.update(IDLE_SECONDS * 10, spot, player_talking=False)
    assert link.sent == []
