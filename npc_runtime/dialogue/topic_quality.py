"""Topic-matching accuracy on a labelled set (tests/dialogue/data/topic_matching.yaml).

Each case is a player line said to one persona, with the topic that should answer it or none.
A case is right when the matcher's best topic above its threshold is the expected one (or when no
topic reaches the threshold and none was expected). Near misses (``near``) and unrelated lines
(``other``) expect none unless labelled otherwise; a topic chosen for them is a false match.
Used by ``tools/bench_topics.py`` and the tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..personas.loader import load_persona_file
from ..personas.schema import Persona
from .context import DialogueContext
from .providers.authored import DEFAULT_THRESHOLD, LEXICAL_THRESHOLD, best_topic
from .similarity import SentenceEmbedder, TopicMatcher

OLD_THRESHOLD = LEXICAL_THRESHOLD  # the lexical matcher's threshold (its default before embeddings)


@dataclass(frozen=True)
class Case:
    npc: str
    text: str
    expected: str | None
    kind: str  # para | near | other
    split: str  # dev | test


@dataclass
class Result:
    mode: str
    split: str
    n: int = 0
    correct: int = 0
    para: int = 0
    para_correct: int = 0  # the expected topic chosen (top-1 above the threshold)
    none_expected: int = 0
    false_matches: int = 0  # a topic chosen where none should answer
    near: int = 0
    near_false: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def top1(self) -> float:
        return self.para_correct / self.para if self.para else 0.0

    @property
    def false_rate(self) -> float:
        return self.false_matches / self.none_expected if self.none_expected else 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "mode": self.mode,
            "split": self.split,
            "cases": self.n,
            "accuracy": round(self.accuracy, 3),
            "top1_paraphrases": f"{self.para_correct}/{self.para}",
            "false_matches": f"{self.false_matches}/{self.none_expected}",
            "near_miss_false_matches": f"{self.near_false}/{self.near}",
            "match_ms_p50": round(statistics.median(lat), 3) if lat else None,
            "match_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 3) if lat else None,
        }


def load_cases(path: str | Path) -> list[Case]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    out: list[Case] = []
    for npc, splits in data.items():
        for split, rows in splits.items():
            for text, expected, kind in rows:
                out.append(Case(npc, str(text), expected, kind, split))
    return out


def load_personas(folder: str | Path, ids: set[str]) -> dict[str, Persona]:
    out: dict[str, Persona] = {}
    for npc in sorted(ids):
        persona, problems = load_persona_file(Path(folder) / f"{npc}.persona.yaml")
        if persona is None:
            raise ValueError(f"persona {npc}: " + "; ".join(str(p) for p in problems))
        out[npc] = persona
    return out


def modes(embedder: SentenceEmbedder) -> dict[str, tuple[Callable[[], TopicMatcher], float]]:
    """Matchers to compare: name -> (factory, threshold)."""
    return {
        "old (lexical)": (lambda: TopicMatcher(None, gates=False, argument_bonus=0.0), OLD_THRESHOLD),
        "lexical + require/exclude": (lambda: TopicMatcher(None, argument_bonus=0.0), OLD_THRESHOLD),
        "new (lexical + embeddings)": (lambda: TopicMatcher(embedder), DEFAULT_THRESHOLD),
    }


def evaluate(
    cases: list[Case],
    personas: dict[str, Persona],
    embedder: SentenceEmbedder,
    mode: str,
    split: str | None = None,
    repeat: int = 1,
) -> Result:
    factory, threshold = modes(embedder)[mode]
    matcher = factory()
    result = Result(mode, split or "all")
    for case in cases:
        if split is not None and case.split != split:
            continue
        ctx = DialogueContext(persona=personas[case.npc], player_id="bench", player_text=case.text)
        topic, score = best_topic(ctx.persona, ctx, case.text, matcher)  # phrasing vectors cached
        for i in range(repeat):
            # Trailing spaces change nothing in the result but miss the per-text caches, so each
            # timed match embeds and tokenises the player's line afresh, as a new line would be.
            t0 = time.perf_counter()
            best_topic(ctx.persona, ctx, case.text + " " * (i + 1), matcher)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        got = topic.id if topic is not None and score >= threshold else None
        result.n += 1
        result.correct += got == case.expected
        if case.expected is not None:
            result.para += 1
            result.para_correct += got == case.expected
        else:
            result.none_expected += 1
            result.false_matches += got is not None
            if case.kind == "near":
                result.near += 1
                result.near_false += got is not None
        if got != case.expected:
            result.errors.append((case.npc, case.text, case.expected, got))
    return result
