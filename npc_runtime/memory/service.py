"""The memory concern behind one object: what the runtime extension and the CLI call.

:class:`MemoryService` owns the memory stream, the relationships and facts about players, and
reflection. It does no networking; it writes through the injected :class:`~npc_runtime.storage.Database`
and takes game time from its callers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..clock import Clock
from ..storage.shared import SqlDatabase
from .embeddings import Embedder, make_embedder
from .reflection import ExtractiveReflector, Reflector
from .relations import PlayerFacts, RelationshipChange, Relationships, extract_facts
from .settings import MemorySettings
from .store import MemoryStore
from .tokenizer import basic_split
from .types import Memory, NewMemory, Retrieved, describe

log = logging.getLogger(__name__)

# Words that make something a player said more memorable (offline importance; see docs/memory.md).
_SALIENT = frozenset(
    [
        "promise",
        "promised",
        "swear",
        "swore",
        "vow",
        "owe",
        "owes",
        "debt",
        "pay",
        "paid",
        "gold",
        "coin",
        "coins",
        "reward",
        "quest",
        "help",
        "kill",
        "killed",
        "dead",
        "die",
        "died",
        "death",
        "murder",
        "stole",
        "steal",
        "stolen",
        "thief",
        "love",
        "hate",
        "secret",
        "betray",
        "betrayed",
        "lie",
        "lied",
        "name",
        "brother",
        "sister",
        "mother",
        "father",
        "son",
        "daughter",
        "wife",
        "husband",
        "friend",
        "enemy",
        "war",
        "dragon",
        "danger",
    ]
)


@dataclass
class Recall:
    memories: list[str] = field(default_factory=list)
    relationship: dict[str, float] = field(default_factory=dict)
    player_facts: list[str] = field(default_factory=list)
    player_name: str | None = None  # the name the player gave this NPC
    retrieved: list[Retrieved] = field(default_factory=list)


def dialogue_importance(text: str, base: float) -> float:
    """Importance of a line of dialogue without a language model: a base, plus salient words."""
    words = set(basic_split(text))
    bonus = 2.0 * len(words & _SALIENT)
    if re.search(r"[!]", text):
        bonus += 0.5
    return float(min(10.0, base + min(bonus, 5.0)))


class MemoryService:
    def __init__(
        self,
        db: SqlDatabase,
        settings: MemorySettings | None = None,
        *,
        clock: Clock | None = None,
        embedder: Embedder | str | None = "settings",
        reflector: Reflector | None = None,
    ) -> None:
        self.settings = settings or MemorySettings()
        if isinstance(embedder, str):
            embedder = make_embedder(self.settings.embeddings, model_dir=self.settings.model_dir)
        self.store = MemoryStore(db, embedder, self.settings, clock)
        self.relationships = Relationships(db, self.settings.relationships)
        self.facts = PlayerFacts(db)
        self.reflector: Reflector = reflector or ExtractiveReflector()
        self.db = db

    # -- perceiving ------------------------------------------------------------------------
    def observe(
        self,
        npc_id: str,
        text: str,
        *,
        importance: float = 5.0,
        game_time: float,
        player_id: str | None = None,
        kind: str = "observed",
    ) -> int:
        """Something the NPC witnessed or was told; durable when this returns."""
        mid = self.store.add(
            NewMemory(
                npc_id, text, kind=kind, importance=importance, game_time=game_time, player_id=player_id
            )
        )
        self._maybe_prune(npc_id, game_time)
        return mid

    def remember_turn(
        self,
        npc_id: str,
        player_id: str,
        *,
        player_text: str | None,
        heard_text: str,
        game_time: float,
        conversation_id: str | None = None,
        routine: bool = False,
        request: str | None = None,
    ) -> list[int]:
        """What the NPC heard the player say and what the player heard the NPC say.

        ``routine``: the NPC's line was a greeting or farewell (remembered with importance 1).
        ``request``: the turn's input key (cluster mode): a turn run again writes its memories once."""
        items: list[NewMemory] = []
        s = self.settings
        if player_text and player_text.strip():
            items.append(
                NewMemory(
                    npc_id,
                    player_text.strip()[:4000],
                    kind="heard",
                    importance=dialogue_importance(player_text, s.importance_heard),
                    game_time=game_time,
                    player_id=player_id,
                    speaker=player_id,
                    conversation_id=conversation_id,
                )
            )
        if heard_text and heard_text.strip():
            items.append(
                NewMemory(
                    npc_id,
                    heard_text.strip()[:4000],
                    kind="said",
                    importance=1.0 if routine else dialogue_importance(heard_text, s.importance_said),
                    game_time=game_time,
                    player_id=player_id,
                    speaker=npc_id,
                    conversation_id=conversation_id,
                )
            )
        ids = self.store.add_many(items, request=request) if items else []
        if player_text:
            for kind, fact in extract_facts(player_text):
                self.facts.add(npc_id, player_id, kind, fact, game_time=game_time)
        self._maybe_prune(npc_id, game_time)
        return ids

    def remember_overheard(
        self,
        npc_id: str,
        player_id: str,
        *,
        speaker: str,
        player_text: str | None,
        heard_text: str,
        game_time: float,
        conversation_id: str | None = None,
        request: str | None = None,
    ) -> list[int]:
        """A bystander in a group conversation: heard the player, and another NPC's reply."""
        s = self.settings
        items = [
            NewMemory(
                npc_id,
                text.strip()[:4000],
                kind="heard",
                importance=dialogue_importance(text, base),
                game_time=game_time,
                player_id=player_id,
                speaker=who,
                conversation_id=conversation_id,
            )
            for text, who, base in (
                (player_text or "", player_id, s.importance_heard),
                (heard_text, speaker, s.importance_said),
            )
            if text and text.strip()
        ]
        ids = self.store.add_many(items, request=request) if items else []
        self._maybe_prune(npc_id, game_time)
        return ids

    def seed(self, npc_id: str, seeds: Sequence[tuple[str, float, str | None, float]]) -> bool:
        """Persona ``memories:`` (text, importance, player, game_time), written once per NPC."""
        return self.store.seed(
            npc_id,
            [
                NewMemory(npc_id, t, kind="seed", importance=i, player_id=p, game_time=g)
                for t, i, p, g in seeds
            ],
        )

    def _maybe_prune(self, npc_id: str, now: float) -> None:
        if self.store.over_capacity(npc_id) or self.settings.forget_after_hours is not None:
            n = self.store.prune(npc_id, now)
            if n:
                log.info("memory: pruned %d memories of %s", n, npc_id)

    # -- recalling -------------------------------------------------------------------------
    def retrieve(
        self, npc_id: str, query: str | None, now: float, *, k: int = 10, player_id: str | None = None
    ) -> list[Retrieved]:
        return self.store.retrieve(npc_id, query, now, k=k, player_id=player_id)

    def context(
        self, npc_id: str, player_id: str, query: str | None, now: float, count_tokens: bool = True
    ) -> Recall:
        """What goes into one turn's dialogue prompt: the best memories within the token budget,
        the relationship with this player and the facts known about them."""
        s = self.settings
        facts = self.facts.all(npc_id, player_id)  # one read for both (a round trip in cluster mode)
        part = Recall(
            relationship=self.relationships.get(npc_id, player_id),
            player_facts=self.facts.prose(facts),
            player_name=self.facts.latest_name(facts),
        )
        if s.context_max_memories == 0 or s.context_token_budget == 0:
            return part
        found = self.store.retrieve(npc_id, query, now, k=s.context_max_memories, about=player_id)
        used = 0
        for r in found:
            line = describe(r.memory, now)
            cost = self._tokens(line)
            if used + cost > s.context_token_budget:
                continue
            used += cost
            part.memories.append(line)
            part.retrieved.append(r)
        return part

    def _tokens(self, text: str) -> int:
        emb = self.store.embedder
        tok = getattr(emb, "tokenizer", None)
        if tok is not None:
            return int(tok.count(text))
        return max(1, round(len(basic_split(text)) * 1.3))

    # -- relationships and facts -----------------------------------------------------------
    def adjust_relationship(
        self,
        npc_id: str,
        player_id: str,
        deltas: dict[str, float],
        *,
        game_time: float,
        reason: str | None = None,
        absolute: bool = False,
    ) -> RelationshipChange:
        return self.relationships.adjust(
            npc_id, player_id, deltas, game_time=game_time, reason=reason, absolute=absolute
        )

    # -- reflecting ------------------------------------------------------------------------
    def reflection_due(self, npc_id: str) -> bool:
        pending, _ = self.store.pending_importance(npc_id)
        return pending >= self.settings.reflection_threshold

    async def reflect(self, npc_id: str, npc_name: str, now: float) -> list[int]:
        """Condense the memories since the last reflection; returns the new reflections' ids."""
        _, upto = self.store.pending_importance(npc_id)
        recent = [
            m
            for m in reversed(self.store.recent(npc_id, limit=self.settings.reflection_window, after_id=upto))
            if m.kind != "reflection"
        ]
        if not recent:
            self.store.mark_reflected(npc_id, upto)
            return []
        vectors = self.store.vectors(npc_id, (m.id for m in recent))
        drafts = await self.reflector.reflect(npc_name, recent, vectors)
        items = [
            NewMemory(
                npc_id,
                d.text[:4000],
                kind="reflection",
                importance=d.importance,
                game_time=now,
                player_id=d.player_id,
                evidence=d.evidence,
            )
            for d in drafts
        ]
        with self.db.transaction():
            ids = self.store.add_many(items) if items else []
            self.store.mark_reflected(npc_id, max(m.id for m in recent))
        return ids

    def memory(self, memory_id: int) -> Memory | None:
        return self.store.get(memory_id)
