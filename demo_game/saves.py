"""Quick save (F5) and quick load (F9): the runtime's state (world and memory) as an opaque blob
in the game's own save slot, one file (docs/protocol.md, Saves)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from npc_runtime.protocol.messages import Load, Loaded, Message, Save, SaveData

from .net import Inbound, LinkProblem
from .talk import Talk

log = logging.getLogger(__name__)

SAVING, LOADING = "save the game", "load the game"


class Requester(Protocol):
    def request(self, msg: Message, *, what: str, timeout: float = ...) -> None: ...


class QuickSave:
    def __init__(self, link: Requester, talk: Talk, path: Path) -> None:
        self.link = link
        self.talk = talk
        self.path = path
        self.loaded = False  # set when a load went through (the caller re-reads the world)

    def save(self) -> None:
        self.link.request(Save(), what=SAVING)

    def load(self) -> None:
        try:
            blob = self.path.read_bytes()
        except OSError:
            self.talk.notify(f"No quick save yet ({self.path}): press F5 first.", "system")
            return
        self.link.request(Load(blob=blob), what=LOADING, timeout=30.0)

    def handle(self, msg: Inbound) -> bool:
        if isinstance(msg, SaveData):
            self._write(msg.blob)
            self.talk.notify(f"Game saved ({', '.join(msg.parts) or 'empty'})", "system")
            return True
        if isinstance(msg, Loaded):
            self.loaded = True
            self.talk.notify("Game loaded", "system")
            return True
        if isinstance(msg, LinkProblem) and msg.what in (SAVING, LOADING):
            self.talk.notify(f"Could not {msg.what}: {msg.message}", "error")
            return True
        return False

    def _write(self, blob: bytes) -> None:
        """Write the slot atomically: a crash mid-write leaves the previous save intact."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, self.path)
        log.info("saved %d bytes to %s", len(blob), self.path)
