"""Fuse the vector and keyword rankings into one.

Four methods, chosen by the `fusion` setting (measured in docs/quality.md):

- ``rrf``: reciprocal-rank fusion, scores ignored.
- ``weighted``: weight * cosine + (1 - weight) * BM25 / best BM25 of the question.
- ``minmax``: the same convex sum after min-max scaling each side over the candidates.
- ``adaptive``: weight * cosine + (1 - weight) * BM25 / ideal BM25 of the question, where the ideal
  is the score of a passage that held every question term (the sum of their IDFs). The keyword
  side then weighs in by how much of the question it actually matched, not relative to its own
  best candidate: a rare name or number matched in full counts fully, a paraphrase whose best
  keyword match shares one common word counts little. The weight adapts to the question without
  a second model. A coverage gate adapts it once more, per question: the best keyword match's
  coverage (its BM25 over the ideal) says whether the question shares the statements' words at
  all. Below `gate[0]` the keyword side is left out, above `gate[1]` it counts in full, linearly in
  between. Claims that reuse the text's terms (SciFact) clear it; paraphrases mostly do not.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SettingError

Ranking = Sequence[tuple[int, float]]
RRF_K = 60
METHODS = ("adaptive", "weighted", "minmax", "rrf")


def rrf(rankings: Sequence[Ranking], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over the rankings that hold an id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
    return _sorted(fused)


def _sorted(fused: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def _max_normalised(ranking: Ranking) -> dict[int, float]:
    top = max((s for _, s in ranking), default=0.0)
    return {pid: (s / top if top > 0 else 0.0) for pid, s in ranking}


def _min_max(ranking: Ranking) -> dict[int, float]:
    scores = [s for _, s in ranking]
    if not scores:
        return {}
    low, high = min(scores), max(scores)
    return {pid: ((s - low) / (high - low) if high > low else 0.0) for pid, s in ranking}


def _convex(vec: dict[int, float], kw: dict[int, float], weight: float) -> list[tuple[int, float]]:
    ids = set(vec) | set(kw)
    return _sorted({pid: weight * vec.get(pid, 0.0) + (1 - weight) * kw.get(pid, 0.0) for pid in ids})


def weighted(vector: Ranking, keyword: Ranking, weight: float) -> list[tuple[int, float]]:
    """Score fusion: weight * cosine + (1 - weight) * BM25 / max BM25 over the candidates.

    Cosine is already on a fixed scale; BM25 is not, so it is divided by the best keyword score
    of the question. A passage missing from one list scores 0 on that side.
    """
    return _convex(dict(vector), _max_normalised(keyword), weight)


def minmax(vector: Ranking, keyword: Ranking, weight: float) -> list[tuple[int, float]]:
    """Score fusion after scaling both sides to 0..1 over the candidates."""
    return _convex(_min_max(vector), _min_max(keyword), weight)


def coverage_gate(best_coverage: float, gate: tuple[float, float]) -> float:
    """Share of the keyword weight a question keeps, from its best keyword match's coverage."""
    low, high = gate
    if high <= low:
        return 1.0 if best_coverage >= low else 0.0
    return min(1.0, max(0.0, (best_coverage - low) / (high - low)))


def adaptive(vector: Ranking, keyword: Ranking, weight: float, ideal: float,
             gate: tuple[float, float] = (0.0, 0.0)) -> list[tuple[int, float]]:
    """Score fusion with BM25 divided by the question's ideal BM25, gated by the best coverage."""
    kw = {pid: (s / ideal if ideal > 0 else 0.0) for pid, s in keyword}
    keep = coverage_gate(max(kw.values(), default=0.0), gate)
    return _convex(dict(vector), {pid: keep * c for pid, c in kw.items()}, weight)


class Pairs(Sequence[tuple[int, float]]):
    """(id, score) pairs held as two arrays, made into tuples only when read as a list: the ranker's ~2,000
    candidates a question are fused, scored and looked up as arrays, and most lists are never read."""

    __slots__ = ("ids", "scores")

    def __init__(self, ids: np.ndarray, scores: np.ndarray):
        self.ids, self.scores = ids, scores

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return zip(self.ids.tolist(), self.scores.tolist())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(zip(self.ids[i].tolist(), self.scores[i].tolist()))
        return int(self.ids[i]), float(self.scores[i])

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"Pairs({list(self)!r})"

    @classmethod
    def of(cls, ranking: Sequence[tuple[int, float]]) -> Pairs:
        """`ranking` as Pairs (itself when it is)."""
        if isinstance(ranking, Pairs):
            return ranking
        ids = np.fromiter((pid for pid, _ in ranking), dtype=np.int64, count=len(ranking))
        scores = np.fromiter((s for _, s in ranking), dtype=np.float64, count=len(ranking))
        return cls(ids, scores)

    def by_id(self) -> Pairs:
        """The same pairs in ascending id order (what `lookup` reads)."""
        if len(self.ids) < 2 or bool(np.all(self.ids[1:] > self.ids[:-1])):
            return self
        order = np.argsort(self.ids, kind="stable")
        return Pairs(self.ids[order], self.scores[order])

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the score of each of `ids`, whether it is here) for pairs in ascending id order (`by_id`)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.ids):
            return np.zeros(len(ids)), np.zeros(len(ids), dtype=bool)
        at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return self.scores[at], self.ids[at] == ids


@dataclass(frozen=True)
class Candidates:
    """What both sides found for one question, before fusion.

    `vector` and `keyword` are each side's own top candidates, best first (what rrf ranks);
    `cosines` and `bm25` hold both exact scores for every id either side found (what score fusion
    needs); `ideal` is the question's ideal BM25 (adaptive fusion).
    """

    vector: Ranking
    keyword: Ranking
    cosines: Ranking
    bm25: Ranking
    ideal: float = 0.0
    # (ids, cosines, bm25) as arrays in the order of `cosines`/`bm25`, when the ranker already has them:
    # fuse then skips rebuilding them from the tuples (about 2,000 per question at the facets' depth)
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def keyword_decides(candidates: Candidates) -> list[tuple[int, float]]:
    """The ranking of a question the sentence model cannot read (not English): by BM25 over the question's
    ideal (its keyword coverage, 0..1), best first; the vector side's other candidates follow at 0 in their
    cosine order, so a question no keyword matches still gets (weak) results."""
    c = candidates
    top = max((s for _, s in c.bm25), default=0.0)
    scale = c.ideal if c.ideal > 0 else top
    kw = {pid: s / scale for pid, s in c.bm25 if s > 0 and scale > 0}
    ranked = sorted(kw.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked + [(pid, 0.0) for pid, _ in sorted(c.cosines, key=lambda kv: (-kv[1], kv[0])) if pid not in kw]


def gate_unreadable(candidates: Candidates, readable: Sequence[bool] | np.ndarray) -> Candidates:
    """Candidates whose passages the sentence model cannot read (not English) score on their keywords alone:
    their cosine (noise) is replaced by their BM25 over the question's ideal, so it neither lifts them
    above good matches nor sinks a good keyword match of theirs. `readable` follows `candidates.cosines`."""
    c = candidates
    if np.all(np.asarray(readable, dtype=bool)):
        return c
    top = max((s for _, s in c.bm25), default=0.0)
    scale = c.ideal if c.ideal > 0 else top
    bm25 = dict(c.bm25)
    cosines = [(pid, s if ok else (bm25.get(pid, 0.0) / scale if scale > 0 else 0.0))
               for (pid, s), ok in zip(c.cosines, readable)]
    unreadable = {pid for (pid, _), ok in zip(c.cosines, readable) if not ok}
    vector = [(pid, s) for pid, s in c.vector if pid not in unreadable]
    return Candidates(vector, c.keyword, cosines, c.bm25, c.ideal)


def fuse(method: str, candidates: Candidates, weight: float,
         gate: tuple[float, float] = (0.0, 0.0), depth: int | None = None) -> list[tuple[int, float]]:
    """One ranking from both sides' candidates by the `fusion` setting's method.

    The score fusions run on arrays here (the same float64 arithmetic, in the same order, as the list
    functions above, which stay the readable reference and are tested equal): a question's two
    thousand candidates cost microseconds instead of milliseconds. `depth`: only the best `depth`.
    """
    return list(fuse_pairs(method, candidates, weight, gate, depth))


def fuse_pairs(method: str, candidates: Candidates, weight: float, gate: tuple[float, float] = (0.0, 0.0),
               depth: int | None = None) -> Sequence[tuple[int, float]]:
    """`fuse`, with a score fusion's ranking left as arrays (`Pairs`): the searcher reads the weak line, the
    facets and the timeline over all of it as arrays and makes tuples only of the page's head."""
    c = candidates
    if method == "rrf":
        return rrf([c.vector, c.keyword])[:depth]
    if method not in ("minmax", "adaptive", "weighted"):
        raise SettingError(f"fusion must be one of {', '.join(METHODS)}, got {method!r}")
    if not c.cosines:
        return Pairs(np.zeros(0, dtype=np.int64), np.zeros(0))
    if c.arrays is not None:
        ids, vec, kw = c.arrays
    else:
        ids = np.fromiter((pid for pid, _ in c.cosines), dtype=np.int64, count=len(c.cosines))
        vec = np.fromiter((s for _, s in c.cosines), dtype=np.float64, count=len(c.cosines))
        kw = np.fromiter((s for _, s in c.bm25), dtype=np.float64, count=len(c.bm25))
    if method == "minmax":
        vec, kw = _min_max_array(vec), _min_max_array(kw)
    elif method == "weighted":
        top = kw.max()
        kw = kw / top if top > 0 else np.zeros_like(kw)
    else:
        kw = kw / c.ideal if c.ideal > 0 else np.zeros_like(kw)
        kw = coverage_gate(float(kw.max()), gate) * kw
    scores = weight * vec + (1 - weight) * kw
    order = np.lexsort((ids, -scores))[:depth]
    return Pairs(ids[order], scores[order])


def _min_max_array(x: np.ndarray) -> np.ndarray:
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else np.zeros_like(x)

