"""Fuse the vector and keyword rankings into one."""
from __future__ import annotations

from typing import Sequence

Ranking = Sequence[tuple[int, float]]
RRF_K = 60


def rrf(rankings: Sequence[Ranking], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over the rankings that hold an id."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def _max_normalised(ranking: Ranking) -> dict[int, float]:
    top = max((s for _, s in ranking), default=0.0)
    return {pid: (s / top if top > 0 else 0.0) for pid, s in ranking}


def weighted(vector: Ranking, keyword: Ranking, weight: float) -> list[tuple[int, float]]:
    """Score fusion: weight * cosine + (1 - weight) * BM25 / max BM25 over the candidates.

    Cosine is already on a fixed scale; BM25 is not, so it is divided by the best keyword score
    of the question. A passage missing from one list scores 0 on that side.
    """
    vec = dict(vector)
    kw = _max_normalised(keyword)
    ids = set(vec) | set(kw)
    fused = {pid: weight * vec.get(pid, 0.0) + (1 - weight) * kw.get(pid, 0.0) for pid in ids}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
