"""The demo's I/O-free parts: the map's paths, play-script parsing, conversation bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from demo_game.audio_out import Speaker
from demo_game.errors import ScriptError
from demo_game.script import parse
from demo_game.talk import Phase, Talk, describe_action
from demo_game.world_map import PLAYER_START, TileMap
from npc_runtime.protocol.messages import (
    ConversationStarted,
    Message,
    NpcAction,
    NpcTextDelta,
    NpcTextFinal,
)
from npc_runtime.protocol.messages.voice import NpcAudio, PlaybackReport, PlaybackStarted


class RecordingLink:
    """Stands in for NetLink: records what Talk asks to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    def start_conversation(self, npc_id: str, *, player_id: str = "player", mode: str = "text") -> None:
        self.sent.append(("start", npc_id, mode))

    def say(self, conversation_id: str, text: str) -> None:
        self.sent.append(("say", conversation_id, text))

    def interrupt(self, conversation_id: str) -> None:
        self.sent.append(("interrupt", conversation_id))

    def end_conversation(self, conversation_id: str) -> None:
        self.sent.append(("end", conversation_id))


def test_every_villager_can_be_reached_from_the_square() -> None:
    tiles = TileMap()
    npc_tiles = {s.tile for s in tiles.npc_spots}
    for spot in tiles.npc_spots:
        route = tiles.path(PLAYER_START, spot.tile, npc_tiles)
        assert route and route[-1] == spot.tile, spot.npc_id
        assert not any(tiles.solid(*t) for t in route)
    assert tiles.location_at(*tiles.spot("mira").tile).id == "inn"  # type: ignore[union-attr]
    assert tiles.location_at(*tiles.spot("tomas").tile).id == "north_gate"  # type: ignore[union-attr]


def test_script_errors_name_the_line() -> None:
    steps = parse("walk_to mira\ntype hello # not a comment\nhold v 30\n")
    assert [(s.command, s.arg) for s in steps] == [
        ("walk_to", "mira"),
        ("type", "hello # not a comment"),
        ("hold", "v 30"),
    ]
    with pytest.raises(ScriptError, match=r"x.txt:2: unknown command 'jump'"):
        parse("wait 3\njump\n", "x.txt")
    with pytest.raises(ScriptError, match="needs a number of frames"):
        parse("wait soon\n")


def test_describe_action() -> None:
    assert describe_action("Mira", "serve_drink", {"drink": "ale"}) == "Mira serves you an ale"
    assert describe_action("Elda", "sell_remedy", {"remedy": "sleeping_tonic", "price": 4}) == (
        "Elda sells you a sleeping tonic for 4 gold"
    )
    assert describe_action("Bram", "polish", {"what": "axe"}) == "Bram: polish (what=axe)"


def test_text_streamed_before_the_start_reply_is_kept_in_order() -> None:
    link = RecordingLink()
    talk = Talk(link, {"mira": "Mira Thornwood"})
    talk.begin("mira")
    assert link.sent == [("start", "mira", "text")]
    # The greeting overtakes the conversation_started reply: it is held, then replayed.
    talk.handle(NpcTextDelta(conversation_id="c1", turn_id=1, npc_id="mira", seq=1, text="Welcome"))
    talk.handle(
        NpcTextFinal(conversation_id="c1", turn_id=1, npc_id="mira", text="Welcome", source="greeting")
    )
    audio = NpcAudio(
        conversation_id="c1",
        turn_id=1,
        npc_id="mira",
        seq=0,
        sample_rate=16_000,
        pcm=b"\0\0",
        text="Welcome",
        visemes=[],
        viseme_kind="viseme",
    )
    talk.handle(audio)
    assert talk.phase is Phase.STARTING and [e.kind for e in talk.log] == ["system"]
    talk.handle(ConversationStarted(conversation_id="c1", npc_ids=["mira"], player_id="player", mode="text"))
    assert talk.phase is Phase.OPEN and talk.log[-1].text == "Welcome" and not talk.awaiting_reply
    assert talk.unclaimed == [audio]  # not Talk's business: handed back for the voice code

    assert talk.say("pour me an ale")
    talk.handle(NpcTextDelta(conversation_id="c1", turn_id=2, npc_id="mira", seq=1, text="Ale,"))
    talk.handle(NpcTextDelta(conversation_id="c1", turn_id=2, npc_id="mira", seq=2, text=" lo"))
    talk.handle(NpcTextDelta(conversation_id="c1", turn_id=2, npc_id="mira", seq=3, text="ve."))
    assert talk.caption == "Ale, love."
    talk.handle(
        NpcAction(conversation_id="c1", turn_id=2, npc_id="mira", name="serve_drink", args={"drink": "ale"})
    )
    talk.handle(NpcTextDelta(conversation_id="c2", turn_id=9, npc_id="bram", seq=1, text="not ours"))
    talk.handle(
        NpcTextFinal(conversation_id="c1", turn_id=2, npc_id="mira", text="Ale, love.", source="authored")
    )
    assert [(e.kind, e.text) for e in talk.log][-3:] == [
        ("player", "pour me an ale"),
        ("action", "Mira serves you an ale"),
        ("npc", "Ale, love."),
    ]
    talk.end()
    assert link.sent[-1] == ("end", "c1") and talk.phase is Phase.ENDING


def _play_until_report(speaker: Speaker, timeout: float = 5.0) -> list[Message]:
    """Drive the speaker like the frame loop does until it reports (the mixer plays in real time)."""
    import pygame

    clock, now, out = pygame.time.Clock(), 0.0, []
    while now < timeout:
        now += clock.tick(200) / 1000.0
        out += speaker.update(now)
        if any(isinstance(m, PlaybackReport) for m in out):
            return out
    raise TimeoutError("no playback_report")


def test_npc_audio_is_played_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    import pygame

    pygame.mixer.init(frequency=22_050, size=-16, channels=1)
    try:
        speaker = Speaker.open()
        assert speaker is not None
        tone = (np.sin(np.arange(1600) / 4.0) * 8000).astype("<i2").tobytes()  # 0.1 s at 16 kHz
        for seq in (1, 2):
            speaker.add(
                NpcAudio(
                    conversation_id="c1",
                    turn_id=3,
                    npc_id="mira",
                    seq=seq,
                    sample_rate=16_000,
                    pcm=tone,
                    text="Ale",
                    visemes=[[0.0, "aa"], [60.0, "sil"]],
                    viseme_kind="mouth_open",
                )
            )
        speaker.end_turn(3)
        out = speaker.update(0.0)  # the first chunk starts playing
        assert speaker.mouth() == ("mira", 1.0)  # lip-sync: "aa" at 0 ms
        speaker.now = 0.08
        assert speaker.mouth() == ("mira", 0.0)  # "sil" from 60 ms
        out += _play_until_report(speaker)
        assert isinstance(out[0], PlaybackStarted) and out[0].turn_id == 3
        report = out[-1]
        assert isinstance(report, PlaybackReport) and report.finished
        assert report.played_ms == pytest.approx(200.0, abs=1.0)  # both chunks, resampled to 22.05 kHz
        assert speaker.turns == {} and not speaker.playing
    finally:
        pygame.mixer.quit()
