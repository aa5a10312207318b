"""Reflection: condensing recent memories into higher-level ones that cite their evidence.

When the summed importance of new memories passes ``memory.reflection_threshold`` (Generative
Agents uses 150 on its 1-10 scale; see docs/memory.md), the runtime asks a :class:`Reflector` for
insights about the most recent ``reflection_window`` memories and stores each as a ``reflection``
memory linked to its evidence.

- :class:`ExtractiveReflector` works offline: it groups the memories by the player they concern,
  and per group keeps the most central (closest to the group's mean embedding) and most important
  memories, quoted, as the reflection.
- :class:`LLMReflector` asks a language model (any async ``complete(prompt) -> str``, e.g. the
  openai-compatible dialogue provider) for insights "(because of 1, 4)" and falls back to the
  extractive method when the model fails or answers nothing usable.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ProviderError
from .types import Memory, describe


@dataclass(frozen=True)
class ReflectionDraft:
    text: str
    evidence: tuple[int, ...]
    importance: float
    player_id: str | None = None


class Reflector(ABC):
    name = "base"

    @abstractmethod
    async def reflect(
        self, npc_name: str, memories: Sequence[Memory], vectors: dict[int, np.ndarray]
    ) -> list[ReflectionDraft]:
        """Insights about ``memories`` (oldest first); ``vectors`` holds their embeddings if known."""


class ExtractiveReflector(Reflector):
    name = "extractive"

    def __init__(self, min_group: int = 3, quotes: int = 2) -> None:
        self.min_group = min_group
        self.quotes = quotes

    async def reflect(
        self, npc_name: str, memories: Sequence[Memory], vectors: dict[int, np.ndarray]
    ) -> list[ReflectionDraft]:
        return self.reflect_now(memories, vectors)

    def reflect_now(
        self, memories: Sequence[Memory], vectors: dict[int, np.ndarray]
    ) -> list[ReflectionDraft]:
        groups: dict[str | None, list[Memory]] = {}
        for m in memories:
            if m.kind != "reflection":
                groups.setdefault(m.player_id, []).append(m)
        drafts: list[ReflectionDraft] = []
        for player, group in groups.items():
            if len(group) < self.min_group:
                continue
            picked = self._pick(group, vectors)
            quoted = " ".join(
                describe(m) + ("" if describe(m).endswith((".", "!", "?", '"')) else ".") for m in picked
            )
            if player is None:
                text = f"Lately, what stands out is this. {quoted}"
            else:
                talks = len({m.conversation_id for m in group if m.conversation_id}) or 1
                text = f"About {player} (we spoke {talks} time{'s' if talks != 1 else ''}), what stands out: {quoted}"
            top = sorted((m.importance for m in group), reverse=True)[:3]
            drafts.append(
                ReflectionDraft(
                    text=text,
                    evidence=tuple(m.id for m in group),
                    importance=min(10.0, sum(top) / len(top) + 1.0),
                    player_id=player,
                )
            )
        return drafts

    def _pick(self, group: list[Memory], vectors: dict[int, np.ndarray]) -> list[Memory]:
        imp = np.array([m.importance for m in group], dtype=np.float32)
        score = (imp - imp.min()) / max(float(imp.max() - imp.min()), 1.0)
        vecs = [vectors.get(m.id) for m in group]
        if all(v is not None for v in vecs):
            mat = np.stack([v for v in vecs if v is not None])
            centroid = mat.mean(axis=0)
            norm = float(np.linalg.norm(centroid))
            if norm > 0:
                central = mat @ (centroid / norm)
                span = max(float(central.max() - central.min()), 1e-6)
                score = score + (central - central.min()) / span
        order = np.lexsort((-np.arange(len(group)), -score))
        picked: list[Memory] = []
        seen: set[str] = set()
        for i in order:
            m = group[int(i)]
            if m.text.lower() not in seen:
                picked.append(m)
                seen.add(m.text.lower())
            if len(picked) == self.quotes:
                break
        return sorted(picked, key=lambda m: m.id)


_INSIGHT_RE = re.compile(
    r"^\s*(?:[-*]|\d+[.)])?\s*(.+?)\s*\(because of ([\d,\s and]+)\)\s*\.?\s*$", re.IGNORECASE
)


class LLMReflector(Reflector):
    name = "llm"

    def __init__(
        self,
        complete: Callable[[str], Awaitable[str]],
        fallback: ExtractiveReflector | None = None,
        insights: int = 3,
    ) -> None:
        self.complete = complete
        self.fallback = fallback or ExtractiveReflector()
        self.insights = insights

    def prompt(self, npc_name: str, memories: Sequence[Memory]) -> str:
        lines = [f"Statements about {npc_name}'s recent experiences:"]
        lines += [f"{i}. {describe(m)}" for i, m in enumerate(memories, 1)]
        lines.append(
            f"What {self.insights} high-level insights can {npc_name} infer from the statements above? "
            "Answer one per line, in the form: insight (because of 1, 5, 3)"
        )
        return "\n".join(lines)

    def parse(self, answer: str, memories: Sequence[Memory]) -> list[ReflectionDraft]:
        drafts: list[ReflectionDraft] = []
        for line in answer.splitlines():
            m = _INSIGHT_RE.match(line)
            if not m:
                continue
            nums = [int(x) for x in re.findall(r"\d+", m.group(2))]
            cited = [memories[n - 1] for n in nums if 1 <= n <= len(memories)]
            if not cited or not m.group(1).strip():
                continue
            players = {c.player_id for c in cited}
            top = sorted((c.importance for c in cited), reverse=True)[:3]
            drafts.append(
                ReflectionDraft(
                    text=m.group(1).strip()[:500],
                    evidence=tuple(dict.fromkeys(c.id for c in cited)),
                    importance=min(10.0, sum(top) / len(top) + 1.0),
                    player_id=players.pop() if len(players) == 1 else None,
                )
            )
        return drafts[: self.insights]

    async def reflect(
        self, npc_name: str, memories: Sequence[Memory], vectors: dict[int, np.ndarray]
    ) -> list[ReflectionDraft]:
        try:
            answer = await self.complete(self.prompt(npc_name, memories))
        except ProviderError:
            return self.fallback.reflect_now(memories, vectors)
        drafts = self.parse(answer, memories)
        return drafts or self.fallback.reflect_now(memories, vectors)
