"""Ranking metrics through ir_measures (the pytrec_eval / trec_eval definitions BEIR reports).

A run maps a query id to {document id: score}; qrels map a query id to {document id: relevance}.
Documents rank by score, ties by document id descending (trec_eval's rule). ir_measures' providers
do not all break ties alike (pytrec_eval for nDCG and recall, another for RR), and fused rankings do
tie (rrf), so each run is re-scored by its trec_eval rank before any provider sees it.
Queries without any relevant document are left out, as BEIR does; a judged query the run does not
answer scores 0 (pytrec_eval alone would skip it and inflate the mean). Measures are named as in
docs/quality.md: "ndcg@10", "recall@100", "mrr@10".
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import ir_measures

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]
MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
_LIBRARY = {"ndcg": ir_measures.nDCG, "recall": ir_measures.R, "mrr": ir_measures.RR}


def measure(name: str):
    """The ir_measures object for a name such as "ndcg@10"."""
    kind, _, cutoff = name.partition("@")
    return _LIBRARY[kind] @ int(cutoff)


def per_query(run: Run, qrels: Qrels, measures: Sequence[str] = MEASURES) -> dict[str, dict[str, float]]:
    """{query id: {measure: value}} for every judged query."""
    judged = {q: {d: int(r) for d, r in rel.items()} for q, rel in qrels.items() if any(r > 0 for r in rel.values())}
    out = {q: {name: 0.0 for name in measures} for q in judged}
    answered = {q: _by_trec_eval_rank(docs) for q, docs in run.items() if q in judged and docs}
    names = {measure(name): name for name in measures}
    if answered:
        for row in ir_measures.iter_calc(list(names), judged, answered):
            out[row.query_id][names[row.measure]] = float(row.value)
    return out


def _by_trec_eval_rank(docs: Mapping[str, float]) -> dict[str, float]:
    """Scores replaced by their rank (best highest), ties ordered by document id descending."""
    ordered = sorted(docs.items(), key=lambda kv: (float(kv[1]), kv[0]), reverse=True)
    return {d: float(len(ordered) - i) for i, (d, _) in enumerate(ordered)}


def evaluate_run(run: Run, qrels: Qrels, measures: Sequence[str] = MEASURES) -> dict[str, float]:
    """Mean of each measure over the judged queries."""
    rows = per_query(run, qrels, measures)
    if not rows:
        return {name: 0.0 for name in measures}
    return {name: sum(r[name] for r in rows.values()) / len(rows) for name in measures}
