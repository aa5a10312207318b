"""In-memory search over one NPC's memories: numpy columns, and a two-stage relevance scan.

Scoring every memory is a matrix-vector product over the NPC's embeddings; at 100,000 memories of
128 float32 dims that reads 51 MB per query, which memory bandwidth alone makes slower than the
5 ms budget on a small machine. Above ``exact_search_below`` memories the scan is done in two
stages: a first pass over the first ``coarse_dims`` dimensions (the model's PCA orders dimensions
by variance, so they carry most of the signal) picks ``candidates`` memories by approximate total
score (plus the most relevant one); the exact scores are then computed for those only. Vectors are
kept one column per memory, so the first dimensions of all memories are one contiguous block.
``tools/bench_memory.py`` measures how often this finds the exact top 10.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import scoring
from .settings import MemorySettings


@dataclass
class NpcIndex:
    """One NPC's memories as columns; rows are in id order (ids only grow: AUTOINCREMENT)."""

    ids: np.ndarray
    importance: np.ndarray
    times: np.ndarray
    players: np.ndarray  # int32 code per memory: 0 = concerns no player (see ``codes``)
    codes: dict[str, int]
    mat: np.ndarray | None  # (dims, capacity): one column per memory, so a prefix of rows is contiguous
    coarse_dims: int
    n: int
    version: int = 0  # the NPC's memory version it was built at (cluster mode; 0 in SQLite)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        importance: np.ndarray,
        times: np.ndarray,
        players: list[str | None],
        vecs: np.ndarray | None,
        coarse_dims: int,
    ) -> NpcIndex:
        """``vecs``: one unit row per memory (n, dims)."""
        mat = None
        if vecs is not None:
            mat = np.zeros((vecs.shape[1], max(64, vecs.shape[0])), dtype=np.float32)
            mat[:, : vecs.shape[0]] = vecs.T
        dims = coarse_dims if mat is not None and 0 < coarse_dims < mat.shape[0] else 0
        codes: dict[str, int] = {}
        player_codes = np.fromiter(
            (0 if p is None else codes.setdefault(p, len(codes) + 1) for p in players),
            dtype=np.int32,
            count=len(players),
        )
        return cls(ids, importance, times, player_codes, codes, mat, dims, int(ids.shape[0]))

    def code(self, player_id: str) -> int:
        """The player's code (-1 when no memory concerns them)."""
        return self.codes.get(player_id, -1)

    def append(
        self, mid: int, importance: float, t: float, player: str | None, vec: np.ndarray | None
    ) -> None:
        if self.n == self.ids.shape[0]:
            cap = max(64, self.n * 2)
            self.ids = _grow(self.ids, cap)
            self.importance = _grow(self.importance, cap)
            self.times = _grow(self.times, cap)
            self.players = _grow(self.players, cap)
        if self.mat is not None and self.n == self.mat.shape[1]:
            grown = np.zeros((self.mat.shape[0], max(64, self.n * 2)), dtype=np.float32)
            grown[:, : self.n] = self.mat[:, : self.n]
            self.mat = grown
        self.ids[self.n] = mid
        self.importance[self.n] = importance
        self.times[self.n] = t
        self.players[self.n] = 0 if player is None else self.codes.setdefault(player, len(self.codes) + 1)
        if self.mat is not None and vec is not None:
            self.mat[:, self.n] = vec
        self.n += 1

    def vector(self, position: int) -> np.ndarray:
        assert self.mat is not None
        return np.array(self.mat[:, position])

    def positions_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions, mask of ``ids`` found) for memory ids."""
        n = self.n
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(ids.shape[0], dtype=bool)
        where = np.searchsorted(self.ids[:n], ids)
        ok = (where < n) & (self.ids[np.minimum(where, n - 1)] == ids)
        return where[ok], ok


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap, *a.shape[1:]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@dataclass(frozen=True)
class Ranked:
    """The best memories, best first: index positions and their normalised scores."""

    positions: np.ndarray
    total: np.ndarray
    recency: np.ndarray
    importance: np.ndarray
    relevance: np.ndarray


def rank(
    idx: NpcIndex,
    now: float,
    settings: MemorySettings,
    k: int,
    *,
    query_vec: np.ndarray | None,
    lexical: np.ndarray | None,
    player_id: str | None = None,
    about: str | None = None,
) -> Ranked:
    """Top ``k`` by weighted normalised recency + importance + relevance.

    ``query_vec`` is the unit query embedding (None: no embedding relevance); ``lexical`` holds
    normalised bm25 (0..1) per index position (None: no lexical relevance). Without a query both
    are None and relevance is left out. ``player_id`` keeps only memories about that player;
    ``about`` adds ``weights.player`` to memories about that player (the one being talked to).
    """
    n = idx.n
    s = settings
    w = s.weights
    sel: np.ndarray | None = None
    if player_id is not None:
        sel = np.flatnonzero(idx.players[:n] == idx.code(player_id))
    rec = scoring.recency(now, idx.times[:n] if sel is None else idx.times[sel], s.recency_half_life_hours)
    imp = idx.importance[:n] if sel is None else idx.importance[sel]
    rec_n = scoring.normalise(rec, scoring.MIN_SPAN_RECENCY)
    imp_n = scoring.normalise(imp, scoring.MIN_SPAN_IMPORTANCE)
    base = w.recency * rec_n + w.importance * imp_n
    if about is not None and w.player > 0.0:
        base += w.player * ((idx.players[:n] if sel is None else idx.players[sel]) == idx.code(about))
    m = rec.shape[0]
    lex = None if lexical is None else (lexical if sel is None else lexical[sel])
    lam = s.lexical_weight if query_vec is not None else 1.0

    if query_vec is None and lex is None:
        best = scoring.top_k(base, k)
        zeros = np.zeros(best.shape[0], dtype=np.float32)
        return Ranked(_pos(best, sel), base[best], rec_n[best], imp_n[best], zeros)

    def exact(rows: np.ndarray | None) -> np.ndarray:
        """Relevance of the selected rows (all when None), before normalisation."""
        out = np.zeros(m if rows is None else rows.shape[0], dtype=np.float32)
        if query_vec is not None and lam < 1.0 and idx.mat is not None:
            if rows is None:
                cols = idx.mat[:, :n] if sel is None else idx.mat[:, sel]
            else:
                cols = idx.mat[:, rows if sel is None else sel[rows]]
            out += (1.0 - lam) * (query_vec @ cols)
        if lex is not None and lam > 0.0:
            out += lam * (lex if rows is None else lex[rows])
        return out

    d = idx.coarse_dims
    if query_vec is None or idx.mat is None or d == 0 or m < s.exact_search_below or lam >= 1.0:
        rel = exact(None)
        rel_n = scoring.normalise(rel, scoring.MIN_SPAN_RELEVANCE)
        total = base + w.relevance * rel_n
        best = scoring.top_k(total, k)
        return Ranked(_pos(best, sel), total[best], rec_n[best], imp_n[best], rel_n[best])

    # Two stages: approximate relevance from the first dimensions, exact for the candidates.
    head = idx.mat[:d, :n] if sel is None else idx.mat[:d, sel]
    approx = (1.0 - lam) * (query_vec[:d] @ head)
    if lex is not None and lam > 0.0:
        approx += lam * lex
    approx_n = scoring.normalise(approx, scoring.MIN_SPAN_RELEVANCE)
    c = min(s.candidates, m)
    cand = np.union1d(scoring.top_k(base + w.relevance * approx_n, c), [int(np.argmax(approx))])
    cand_rel = exact(cand)
    lowest = int(np.argmin(approx))
    lo = min(float(cand_rel.min()), float(exact(np.array([lowest]))[0]))
    hi = float(cand_rel.max())
    rel_n_c = ((cand_rel - lo) / max(hi - lo, scoring.MIN_SPAN_RELEVANCE)).astype(np.float32)
    total_c = base[cand] + w.relevance * rel_n_c
    best_c = scoring.top_k(total_c, k)
    best = cand[best_c]
    return Ranked(_pos(best, sel), total_c[best_c], rec_n[best], imp_n[best], rel_n_c[best_c])


def _pos(best: np.ndarray, sel: np.ndarray | None) -> np.ndarray:
    return best if sel is None else sel[best]
