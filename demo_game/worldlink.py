"""The game's side of the world protocol (docs/world.md): report where the player walks, show
what changed in the world (quests, variables, lines NPCs are made to say) as notices."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from npc_runtime.protocol.messages.world import (
    WorldChanged,
    WorldDelta,
    WorldEventApplied,
    WorldEventMsg,
    WorldFileError,
    WorldStateQuery,
    WorldStateReply,
)

from .net import Inbound, LinkProblem
from .talk import Talk
from .world_map import Location, TileMap

log = logging.getLogger(__name__)

REPORT = "report entering "
LOOK = "read the world state"
# The game's own names for the quests of personas/village.world.yaml (others show their ids).
QUEST_TITLES = {"wolves": "Wolves at the fold", "gate": "The closed gate", "remedy": "Elda's remedy"}


class Requester(Protocol):
    def request(self, msg: Any, *, what: str, timeout: float = ...) -> None: ...


def _nice(ident: str) -> str:
    return ident.replace("_", " ").replace(".", " ")


def describe_delta(delta: WorldDelta, names: dict[str, str]) -> list[tuple[str, str]]:
    """(kind, text) notices for a change set: quest moves, spoken lines, the player's gold."""
    out: list[tuple[str, str]] = []
    for t in delta.transitions:
        title = QUEST_TITLES.get(t.quest, _nice(t.quest))
        out.append(("notice", f"Quest updated: {title}: {_nice(t.from_state)} -> {_nice(t.to_state)}"))
        if t.say_npc and t.say_text:
            out.append(("npc", f"{names.get(t.say_npc, t.say_npc).split()[0]}: {t.say_text}"))
    shown = {t.quest for t in delta.transitions}
    if isinstance(delta, WorldChanged) and delta.cause in ("load", "reset", "reload"):
        shown |= set(delta.quests)  # a whole restored state: the journal shows it, no notice each
    for quest, state in delta.quests.items():
        if quest not in shown:
            out.append(("notice", f"Quest updated: {QUEST_TITLES.get(quest, _nice(quest))}: {_nice(state)}"))
    if "player.gold" in delta.variables:
        out.append(("notice", f"Your purse: {delta.variables['player.gold']} gold"))
    return out


class WorldLink:
    def __init__(self, link: Requester, talk: Talk, tiles: TileMap) -> None:
        self.link = link
        self.talk = talk
        self.tiles = tiles
        self.enabled = True  # off once the runtime says it has no world
        self.last_seq = -1
        self.quests: dict[str, str] = {}
        self.variables: dict[str, Any] = {}
        self.world_hours: float | None = None  # the world's game time, from world_state

    def refresh(self) -> None:
        """Ask for the whole world state (for the journal); the answer arrives through poll."""
        self.link.request(WorldStateQuery(), what=LOOK)

    def journal(self) -> list[str]:
        gold = self.variables.get("player.gold")
        lines = [f"Purse: {gold} gold"] if gold is not None else []
        for quest, state in self.quests.items():
            lines.append(f"{QUEST_TITLES.get(quest, _nice(quest))}: {_nice(state)}")
        return lines

    def entered(self, loc: Location) -> None:
        """The player walked into ``loc``: say so on screen and report it to the runtime."""
        self.talk.notify(f"You enter {loc.name}", "system", log_it=False)
        if not self.enabled:
            return
        witnesses = [s.npc_id for s in self.tiles.npc_spots if loc.area.contains(*s.tile)]
        msg = WorldEventMsg(kind="location_entered", location=loc.id, who="player", witnesses=witnesses)
        self.link.request(msg, what=REPORT + loc.id)

    def handle(self, msg: Inbound) -> bool:
        """Take a world message (or a failed world request); False when it is none of those."""
        if isinstance(msg, LinkProblem):
            if not msg.what.startswith(REPORT) and msg.what != LOOK:
                return False
            if msg.code == "world_unavailable":
                self.enabled = False
                log.info("the runtime has no world loaded; location reports are off")
            else:
                log.warning("world event refused (%s): %s", msg.code, msg.message)
            return True
        if isinstance(msg, WorldEventApplied | WorldChanged):
            if msg.seq <= self.last_seq and not (
                isinstance(msg, WorldChanged) and msg.cause in ("load", "reset")
            ):
                return True  # the same change reaches us twice: as our reply and as a broadcast
            self.last_seq = msg.seq
            self.quests.update(msg.quests)
            self.variables.update(msg.variables)
            for kind, text in describe_delta(msg, self.talk.names):
                self.talk.notify(text, "npc" if kind == "npc" else "notice")
            if isinstance(msg, WorldChanged) and msg.cause in ("load", "reset", "reload"):
                if msg.cause == "reload":
                    self.talk.notify("The world file was edited and reloaded", "system")
                for note in msg.notes:
                    self.talk.add("system", "", f"World: {note}")
                self.refresh()  # a whole new state: re-read all of it for the journal
            return True
        if isinstance(msg, WorldFileError):
            self.talk.notify(f"World file {msg.file} has problems; the last good version stays", "error")
            return True
        if isinstance(msg, WorldStateReply):
            self.quests = dict(msg.quests)
            self.variables = dict(msg.variables)
            self.world_hours = msg.game_time
            self.last_seq = max(self.last_seq, msg.seq)
            return True
        return False
