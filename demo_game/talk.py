"""Conversation state and the chat log: what the game does with each message from the runtime.

No pygame and no sockets here: :class:`Talk` is fed inbound messages and player intents, and
tells the :class:`~demo_game.net.NetLink` what to send. The HUD draws its ``log``, ``subtitle``
and ``notices``. Tests can drive it with plain message objects.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol

from npc_runtime.protocol.messages import (
    ConversationEnded,
    ConversationStarted,
    Error,
    Message,
    NpcAction,
    NpcTextDelta,
    NpcTextFinal,
    PersonaError,
    PersonaReloaded,
    WarningMessage,
)

from .net import Inbound, LinkProblem

log = logging.getLogger(__name__)

EntryKind = Literal["npc", "player", "action", "notice", "system", "error"]
NOTICE_SECONDS = 5.0
CAPTION_SECONDS = 4.0
MAX_LOG = 200


class Link(Protocol):
    """What Talk needs from the network (NetLink implements it)."""

    def start_conversation(self, npc_id: str, *, player_id: str = ..., mode: str = ...) -> None: ...
    def say(self, conversation_id: str, text: str) -> None: ...
    def interrupt(self, conversation_id: str) -> None: ...
    def end_conversation(self, conversation_id: str) -> None: ...


@dataclass(frozen=True)
class LogEntry:
    kind: EntryKind
    speaker: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "speaker": self.speaker, "text": self.text}


@dataclass
class Notice:
    text: str
    kind: EntryKind
    until: float


class Phase(Enum):
    IDLE = "idle"
    STARTING = "starting"
    OPEN = "open"
    ENDING = "ending"


def first_name(name: str) -> str:
    return name.split()[0] if name else name


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def describe_action(npc: str, name: str, args: dict[str, Any]) -> str:
    """A line for the screen, e.g. ``Mira serves you an ale``. Unknown actions get a plain form."""
    nice = {str(k): str(v).replace("_", " ") for k, v in args.items()}
    if name == "serve_drink":
        return f"{npc} serves you {_article(nice.get('drink', 'drink'))}"
    if name == "show_wares":
        return f"{npc} shows you the {nice.get('kind', 'wares')} (trade window opens)"
    if name == "sell_remedy":
        price = f" for {nice['price']} gold" if "price" in nice else ""
        return f"{npc} sells you {_article(nice.get('remedy', 'remedy'))}{price}"
    if name == "open_gate":
        return f"{npc} opens the north gate"
    detail = ", ".join(f"{k}={v}" for k, v in nice.items())
    return f"{npc}: {name.replace('_', ' ')}" + (f" ({detail})" if detail else "")


@dataclass
class Talk:
    link: Link
    names: dict[str, str]  # npc id -> display name (from welcome)
    player_id: str = "player"
    phase: Phase = Phase.IDLE
    npc_id: str | None = None
    conversation_id: str | None = None
    subtitle: str = ""  # the NPC line being streamed (npc_text_delta)
    awaiting_reply: bool = False
    log: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=MAX_LOG))
    history: list[LogEntry] = field(default_factory=list)  # everything, for --chat-log
    notices: list[Notice] = field(default_factory=list)
    now: float = 0.0
    caption_until: float = 0.0  # the last final line stays on screen until then
    last_line: str = ""
    unclaimed: list[Message] = field(default_factory=list)  # replayed messages Talk does not handle
    _stash: list[Message] = field(default_factory=list)

    # -- player intents ------------------------------------------------------------------------------
    def begin(self, npc_id: str, mode: str = "text") -> None:
        if self.phase is not Phase.IDLE:
            return
        self.phase, self.npc_id, self.conversation_id = Phase.STARTING, npc_id, None
        self.subtitle, self.awaiting_reply = "", True
        self.add("system", "", f"You approach {self.name(npc_id)}.")
        self.link.start_conversation(npc_id, player_id=self.player_id, mode=mode)

    def say(self, text: str) -> bool:
        text = text.strip()
        if not text or self.phase is not Phase.OPEN or self.conversation_id is None:
            return False
        self.add("player", "You", text)
        self.awaiting_reply = True
        self.link.say(self.conversation_id, text)
        return True

    def interrupt(self) -> None:
        """Cut the NPC's reply in flight (it keeps what it had said)."""
        if self.phase is Phase.OPEN and self.conversation_id is not None and self.awaiting_reply:
            self.link.interrupt(self.conversation_id)

    def end(self) -> None:
        """Esc: say goodbye (the NPC answers with its farewell, then the conversation closes)."""
        if self.phase is Phase.OPEN and self.conversation_id is not None:
            self.phase = Phase.ENDING
            self.link.end_conversation(self.conversation_id)
        elif self.phase is Phase.STARTING:
            self.phase = Phase.ENDING  # ended as soon as the runtime confirms the start

    @property
    def talking(self) -> bool:
        return self.phase is not Phase.IDLE

    @property
    def caption(self) -> str:
        """What the subtitle bar shows: the line being streamed, else the last line for a while."""
        if self.subtitle:
            return self.subtitle
        return self.last_line if self.now < self.caption_until and self.talking else ""

    def name(self, npc_id: str | None) -> str:
        return first_name(self.names.get(npc_id or "", npc_id or "someone"))

    # -- what the runtime said ------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        self.now = now
        self.notices = [n for n in self.notices if n.until > now]

    def notify(self, text: str, kind: EntryKind = "notice", log_it: bool = True) -> None:
        self.notices.append(Notice(text, kind, self.now + NOTICE_SECONDS))
        if log_it:
            self.add(kind, "", text)

    def handle(self, msg: Inbound) -> bool:
        """Apply one inbound item; False when it is not a conversation matter (the caller may use it)."""
        if isinstance(msg, LinkProblem):
            self.notify(f"Could not {msg.what}: {msg.message}", "error")
            if msg.what.startswith("talk to") and self.phase in (Phase.STARTING, Phase.ENDING):
                self._closed()
            return True
        if isinstance(msg, ConversationStarted):
            self._started(msg)
            return True
        conv = getattr(msg, "conversation_id", None)
        if conv is not None and conv != self.conversation_id:
            if self.phase in (Phase.STARTING, Phase.ENDING) and self.conversation_id is None:
                self._stash.append(msg)  # streamed before the start's reply was seen: replay it
            return True
        if isinstance(msg, NpcTextDelta):
            self.subtitle += msg.text  # pieces concatenate as they are (the final line is their sum)
        elif isinstance(msg, NpcTextFinal):
            self._final(msg)
        elif isinstance(msg, NpcAction):
            self.notify(describe_action(self.name(msg.npc_id), msg.name, msg.args), "action")
        elif isinstance(msg, ConversationEnded):
            if msg.reason != "client":
                self.add("system", "", f"The conversation ended ({msg.reason}).")
            self._closed()
        elif isinstance(msg, WarningMessage):
            log.info("runtime warning %s: %s", msg.code, msg.message)
            if msg.code == "action_rejected":
                self.notify(f"{self.name(self.npc_id)} thinks better of it.", "system")
        elif isinstance(msg, Error):
            self.notify(f"Runtime error {msg.code}: {msg.message}", "error")
            self.awaiting_reply = False
        elif isinstance(msg, PersonaReloaded):
            self.notify(f"{self.name(msg.npc_id)} was rewritten (persona reloaded)", "system")
        elif isinstance(msg, PersonaError):
            self.notify(f"Persona file {msg.file} has problems; the last good version stays", "error")
        else:
            return False
        return True

    def _started(self, msg: ConversationStarted) -> None:
        self.conversation_id = msg.conversation_id
        ending = self.phase is Phase.ENDING
        self.phase = Phase.OPEN
        stash, self._stash = self._stash, []
        for held in stash:
            if getattr(held, "conversation_id", None) == msg.conversation_id and not self.handle(held):
                self.unclaimed.append(held)  # e.g. the greeting's audio: the caller passes it on
        if ending:
            self.end()

    def _final(self, msg: NpcTextFinal) -> None:
        text = msg.text or self.subtitle
        if msg.interrupted:
            text += " —"
        self.add("npc", self.name(msg.npc_id), text)
        self.subtitle = ""
        self.last_line, self.caption_until = text, self.now + CAPTION_SECONDS
        self.awaiting_reply = False

    def _closed(self) -> None:
        self.phase, self.npc_id, self.conversation_id = Phase.IDLE, None, None
        self.subtitle, self.awaiting_reply, self._stash = "", False, []

    def add(self, kind: EntryKind, speaker: str, text: str) -> None:
        entry = LogEntry(kind, speaker, text)
        self.log.append(entry)
        self.history.append(entry)
