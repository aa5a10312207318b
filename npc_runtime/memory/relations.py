"""What an NPC thinks of each player (bounded relationship values) and knows about them (facts).

Relationship values live per (npc, player, dimension); dimensions and their bounds come from
``memory.relationships`` in the settings (default: trust and affinity in [-1, 1], starting at 0).
Every change is clamped to the bounds and reported as a :class:`RelationshipChange`, which the
runtime turns into a ``relationship_changed`` event for the game.

Facts are short sentences per (npc, player) with a kind: ``name`` (one per player: a new name
replaces the old), ``promise``, ``deed`` or ``fact``. :func:`extract_facts` finds names and
promises in what the player said, offline, with a few English patterns.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..storage.shared import SqlDatabase
from ..text import stated_name
from .settings import Bound
from .types import InvalidMemoryError, check_id

FACT_KINDS = ("name", "promise", "deed", "fact")
MAX_FACT_CHARS = 500


@dataclass(frozen=True)
class RelationshipChange:
    npc_id: str
    player_id: str
    values: dict[str, float]  # every dimension after the change
    changes: dict[str, float]  # dimension -> applied delta (after clamping), only those that moved
    reason: str | None = None


@dataclass(frozen=True)
class Fact:
    kind: str
    text: str
    game_time: float


def lock_npc(db: SqlDatabase, conn: Any, npc_id: str) -> None:
    """In the shared database (cluster mode), take the NPC's row lock for this transaction, so
    that workers changing one NPC's state do it one at a time (no lost update)."""
    if db.shared:
        conn.execute("INSERT INTO memory_npc_state(npc_id) VALUES (?) ON CONFLICT DO NOTHING", (npc_id,))
        conn.execute("SELECT 1 FROM memory_npc_state WHERE npc_id=? FOR UPDATE", (npc_id,))


class Relationships:
    def __init__(self, db: SqlDatabase, dimensions: dict[str, Bound]) -> None:
        self.db = db
        self.dimensions = dimensions

    def get(self, npc_id: str, player_id: str) -> dict[str, float]:
        values = {name: b.initial for name, b in self.dimensions.items()}
        rows = self.db.execute(
            "SELECT dimension, value FROM memory_relationships WHERE npc_id=? AND player_id=?",
            (npc_id, player_id),
        ).fetchall()
        for dim, value in rows:
            if dim in values:
                values[dim] = float(value)
        return values

    def adjust(
        self,
        npc_id: str,
        player_id: str,
        deltas: dict[str, float],
        *,
        game_time: float,
        reason: str | None = None,
        absolute: bool = False,
    ) -> RelationshipChange:
        """Add ``deltas`` (or set, when ``absolute``) and clamp; one transaction."""
        check_id(npc_id, "npc_id")
        check_id(player_id, "player_id")
        for dim, value in deltas.items():
            if dim not in self.dimensions:
                raise InvalidMemoryError(
                    f"unknown relationship dimension '{dim}'; configured: {', '.join(self.dimensions)} "
                    "(add it under memory.relationships in the settings)"
                )
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise InvalidMemoryError(
                    f"relationship value for '{dim}' must be a finite number, got {value!r}"
                )
        with self.db.transaction() as conn:
            lock_npc(self.db, conn, npc_id)  # read-modify-write: one writer per NPC at a time
            before = self.get(npc_id, player_id)
            after = dict(before)
            for dim, value in deltas.items():
                b = self.dimensions[dim]
                target = float(value) if absolute else before[dim] + float(value)
                after[dim] = min(max(target, b.min), b.max)
            changed = {d: after[d] - before[d] for d in after if after[d] != before[d]}
            conn.executemany(
                "INSERT INTO memory_relationships(npc_id, player_id, dimension, value, game_time) "
                "VALUES (?,?,?,?,?) ON CONFLICT(npc_id, player_id, dimension) "
                "DO UPDATE SET value=excluded.value, game_time=excluded.game_time",
                [(npc_id, player_id, d, after[d], game_time) for d in changed],
            )
        return RelationshipChange(npc_id, player_id, after, changed, reason)


class PlayerFacts:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def add(self, npc_id: str, player_id: str, kind: str, text: str, *, game_time: float) -> bool:
        """Remember a fact; False when it was already known."""
        check_id(npc_id, "npc_id")
        check_id(player_id, "player_id")
        if kind not in FACT_KINDS:
            raise InvalidMemoryError(f"unknown fact kind '{kind}'; use one of {', '.join(FACT_KINDS)}")
        text = text.strip() if isinstance(text, str) else ""
        if not text or len(text) > MAX_FACT_CHARS:
            raise InvalidMemoryError(f"a fact must be 1 to {MAX_FACT_CHARS} characters of text")
        with self.db.transaction() as conn:
            lock_npc(self.db, conn, npc_id)
            if kind == "name":
                conn.execute(
                    "DELETE FROM memory_player_facts WHERE npc_id=? AND player_id=? AND kind='name' AND text!=?",
                    (npc_id, player_id, text),
                )
            cur = conn.execute(
                "INSERT INTO memory_player_facts(npc_id, player_id, kind, text, game_time) "
                "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                (npc_id, player_id, kind, text, game_time),
            )
            return cur.rowcount > 0

    def all(self, npc_id: str, player_id: str) -> list[Fact]:
        rows = self.db.execute(
            "SELECT kind, text, game_time FROM memory_player_facts WHERE npc_id=? AND player_id=? ORDER BY id",
            (npc_id, player_id),
        ).fetchall()
        return [Fact(str(k), str(t), float(g)) for k, t, g in rows]

    def name(self, npc_id: str, player_id: str) -> str | None:
        """The name the player gave this NPC (the latest), or None."""
        row = self.db.execute(
            "SELECT text FROM memory_player_facts WHERE npc_id=? AND player_id=? AND kind='name' "
            "ORDER BY id DESC LIMIT 1",
            (npc_id, player_id),
        ).fetchone()
        return str(row[0]) if row else None

    def describe(self, npc_id: str, player_id: str) -> list[str]:
        """Facts as prose for the dialogue prompt."""
        return self.prose(self.all(npc_id, player_id))

    @staticmethod
    def latest_name(facts: list[Fact]) -> str | None:
        """The name among ``facts`` (as :meth:`all` lists them, oldest first) the player gave last."""
        names = [f.text for f in facts if f.kind == "name"]
        return names[-1] if names else None

    @staticmethod
    def prose(facts: list[Fact]) -> list[str]:
        """Facts as prose for the dialogue prompt."""
        out: list[str] = []
        for f in facts:
            if f.kind == "name":
                out.append(f"Their name is {f.text}.")
            elif f.kind == "promise":
                out.append(f"They promised: {f.text}")
            elif f.kind == "deed":
                out.append(f"They did this: {f.text}")
            else:
                out.append(f.text)
        return out


_PROMISE_RE = re.compile(
    r"\b(?:I|i)\s+(?:promise|swear|vow|give you my word)\b[^.!?]{0,200}[.!?]?", re.IGNORECASE
)


def extract_facts(player_text: str) -> list[tuple[str, str]]:
    """(kind, text) facts stated in what the player said: their name and promises."""
    out: list[tuple[str, str]] = []
    name = stated_name(player_text)
    if name:
        out.append(("name", name))
    for p in _PROMISE_RE.finditer(player_text):
        out.append(("promise", p.group(0).strip()))
    return out
