"""Ranking metrics as pytrec_eval / BEIR compute them: nDCG@k, Recall@k, MRR@k.

A run maps a query id to {document id: score}; qrels map a query id to {document id: relevance}.
Documents are ranked by score, best first, ties broken by document id descending (trec_eval's rule).
Queries without any relevant document are left out, as BEIR does; each metric is the mean over
the remaining queries. A query that retrieves nothing scores 0.
"""
from __future__ import annotations

import math
from typing import Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Document ids best first; equal scores in descending id order, as trec_eval sorts them."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def ndcg_at(ranking: list[str], relevance: Mapping[str, int], k: int) -> float:
    """nDCG@k with gain = graded relevance and discount 1 / log2(rank + 1)."""
    dcg = sum(relevance.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if relevance.get(d, 0) > 0)
    ideal = sorted((r for r in relevance.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: list[str], relevance: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {d for d, r in relevance.items() if r > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranking: list[str], relevance: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document in the top k, else 0."""
    for i, d in enumerate(ranking[:k], 1):
        if relevance.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """{query id: {"ndcg@10", "recall@10", "recall@100", "mrr@10"}} for every judged query."""
    out = {}
    for qid, relevance in qrels.items():
        if not any(r > 0 for r in relevance.values()):
            continue
        ranking = ranked(run.get(qid, {}))
        out[qid] = {"ndcg@10": ndcg_at(ranking, relevance, 10),
                    "recall@10": recall_at(ranking, relevance, 10),
                    "recall@100": recall_at(ranking, relevance, 100),
                    "mrr@10": mrr_at(ranking, relevance, 10)}
    return out


def evaluate_run(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean of each metric over the judged queries."""
    rows = per_query(run, qrels)
    names = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
    if not rows:
        return {n: 0.0 for n in names}
    return {n: sum(r[n] for r in rows.values()) / len(rows) for n in names}
