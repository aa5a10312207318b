"""Villagers talking among themselves: when two stand near each other, the player is within earshot,
not talking and standing still, the demo starts an ambient conversation between them
(``conversation_start`` with ``ambient``, docs/protocol.md) and shows their lines as overheard.

Bounded: one exchange at a time, ``TURNS`` lines, a cooldown per pair, and the exchange is ended
(``conversation_end``) when its lines are done, when the player starts a conversation of their own,
or walks out of earshot. No pygame and no sockets: :class:`Chatter` is fed the player's state and
inbound messages, and tells its link what to send (tests drive it with plain message objects).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from npc_runtime.protocol.messages import ConversationEnded, ConversationStarted, Message, NpcTextFinal

from .net import Inbound, LinkProblem
from .player import tile_centre
from .talk import EntryKind
from .world_map import TILE, NpcSpot

PAIR_RANGE = 8.5 * TILE  # two villagers this close (pixels) can talk (Mira at the inn, Bram at the smithy)
EARSHOT = 5.0 * TILE  # the player hears them within this distance of the pair's midpoint
IDLE_SECONDS = 3.0  # the player stood still this long
COOLDOWN_SECONDS = 90.0  # per pair, from the start of their last exchange
TURNS = 4
OPENERS = (
    "The wolves took another sheep last night.",
    "Did you hear? The north gate was left open again.",
    "Strange lights in the Whisperwood, they say.",
)


class AmbientLink(Protocol):
    """What Chatter needs from the network (NetLink implements it)."""

    def start_ambient(self, npc_ids: list[str], seed_line: str, turns: int) -> None: ...
    def end_conversation(self, conversation_id: str) -> None: ...


class Log(Protocol):
    """Where overheard lines go (Talk implements it)."""

    def add(self, kind: EntryKind, speaker: str, text: str) -> None: ...


@dataclass(frozen=True)
class Pair:
    npc_ids: tuple[str, str]
    centre: tuple[float, float]  # pixels, between the two


def near_pairs(spots: list[NpcSpot] | tuple[NpcSpot, ...], max_distance: float = PAIR_RANGE) -> list[Pair]:
    """Every two villagers standing within ``max_distance`` pixels of each other."""
    out = []
    for i, a in enumerate(spots):
        for b in spots[i + 1 :]:
            (ax, ay), (bx, by) = tile_centre(a.tile), tile_centre(b.tile)
            if math.hypot(ax - bx, ay - by) <= max_distance:
                out.append(Pair((a.npc_id, b.npc_id), ((ax + bx) / 2, (ay + by) / 2)))
    return out


@dataclass
class Chatter:
    link: AmbientLink
    log: Log
    pairs: list[Pair]
    names: dict[str, str]  # npc id -> display name
    enabled: bool = True
    active: Pair | None = None
    conversation_id: str | None = None
    lines: int = 0
    exchanges: int = 0  # ambient conversations started so far
    last_start: dict[tuple[str, str], float] = field(default_factory=dict)
    unclaimed: list[Message] = field(default_factory=list)  # held while starting, not ours after all
    _still_since: float | None = None
    _last_pos: tuple[float, float] | None = None
    _ending: bool = False
    _stash: list[Message] = field(default_factory=list)

    # -- every frame ------------------------------------------------------------------------------------
    def update(self, now: float, player: tuple[float, float], player_talking: bool) -> None:
        if self._last_pos != player or player_talking:
            self._still_since = now
        self._last_pos = player
        if self.active is not None:
            if player_talking or self._dist(player, self.active) > EARSHOT:
                self._end()  # the player has their own conversation now, or walked away
            return
        if not self.enabled or player_talking or self._still_since is None:
            return
        if now - self._still_since < IDLE_SECONDS:
            return
        for pair in self.pairs:
            last = self.last_start.get(pair.npc_ids)
            if self._dist(player, pair) <= EARSHOT and (last is None or now - last >= COOLDOWN_SECONDS):
                self._start(pair, now)
                return

    @staticmethod
    def _dist(player: tuple[float, float], pair: Pair) -> float:
        return math.hypot(player[0] - pair.centre[0], player[1] - pair.centre[1])

    def _start(self, pair: Pair, now: float) -> None:
        self.active, self.conversation_id, self.lines, self._ending = pair, None, 0, False
        self.last_start[pair.npc_ids] = now
        self.exchanges += 1
        line = OPENERS[(self.exchanges - 1) % len(OPENERS)]
        self.link.start_ambient(list(pair.npc_ids), line, TURNS)

    def _end(self) -> None:
        if self.conversation_id is not None and not self._ending:
            self._ending = True
            self.link.end_conversation(self.conversation_id)
        elif self.conversation_id is None:
            self._ending = True  # ended as soon as the runtime confirms the start

    def _closed(self) -> None:
        self.active, self.conversation_id, self._ending = None, None, False
        self.unclaimed.extend(self._stash)  # held in case they were ours: the caller passes them on
        self._stash = []

    # -- what the runtime said ---------------------------------------------------------------------------
    def handle(self, msg: Inbound) -> bool:
        """Claim this exchange's messages; False for anything else (the caller passes it on)."""
        if self.active is None:
            return False
        if isinstance(msg, LinkProblem):
            if msg.what.startswith("overhear"):
                self._closed()
                return True
            return False
        if isinstance(msg, ConversationStarted):
            if self.conversation_id is None and sorted(msg.npc_ids) == sorted(self.active.npc_ids):
                self._started(msg.conversation_id)
                return True
            return False
        conv = getattr(msg, "conversation_id", None)
        if conv is None:
            return False
        if self.conversation_id is None:
            if isinstance(msg, NpcTextFinal) and not msg.ambient:
                return False  # a line to the player: not ours
            self._stash.append(msg)  # it may have overtaken our conversation_started
            return True
        if conv != self.conversation_id:
            return False
        if isinstance(msg, NpcTextFinal) and msg.ambient and msg.text:
            self.lines += 1
            self.log.add("npc", f"{self._name(msg.npc_id)} (overheard)", msg.text)
            if self.lines >= TURNS:
                self._end()
        elif isinstance(msg, ConversationEnded):
            self._closed()
        return True  # deltas, a farewell, errors about it: nothing to show

    def _started(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        stash, self._stash = self._stash, []
        if self._ending:
            self._ending = False
            self._end()
        for held in stash:
            if getattr(held, "conversation_id", None) == conversation_id:
                self.handle(held)
            else:
                self.unclaimed.append(held)

    def _name(self, npc_id: str) -> str:
        name = self.names.get(npc_id, npc_id)
        return name.split()[0] if name else npc_id
