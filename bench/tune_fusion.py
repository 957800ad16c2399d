"""Tune the hybrid fusion on a BEIR split (SciFact train): every method and weight of FUSION_GRID.

Candidates and both exact scores are computed once per query by the service's own step
(search.ranking.Ranker.candidates), then each setting is fused with search.fusion.fuse and folded to
documents by their best passage. The final figures for docs/quality.md come from `statement-search eval`.

    flock /tmp/cpu.lock .venv/bin/python bench/tune_fusion.py --dataset ../shared/data/scifact --split train
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.evaluate import (PASSAGE_DEPTH, CACHE_ROOT, documents_of, fold, load_dataset,  # noqa: E402
                             prepare_index, run_queries)
from search.fusion import Candidates, fuse  # noqa: E402
from search.metrics import evaluate_run  # noqa: E402
from search.settings import load_settings  # noqa: E402

WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
NO_GATE = (0.0, 0.0)
GATES = ((0.15, 0.2), (0.15, 0.25), (0.2, 0.25), (0.2, 0.3), (0.25, 0.3))
# (fusion, vector weight, coverage gate of the adaptive fusion)
FUSION_GRID = ([("rrf", 0.5, NO_GATE)] + [("weighted", w, NO_GATE) for w in WEIGHTS]
               + [("minmax", w, NO_GATE) for w in WEIGHTS]
               + [("adaptive", w, NO_GATE) for w in (0.2,) + WEIGHTS]
               + [("adaptive", w, g) for w in (0.4, 0.5, 0.6) for g in GATES])


def label(method: str, weight: float, gate: tuple[float, float]) -> str:
    """How a grid row is named in the tables: `adaptive 0.5 gate 0.15-0.25`."""
    if method == "rrf":
        return "rrf"
    return f"{method} {weight}" + (f" gate {gate[0]}-{gate[1]}" if gate != NO_GATE else "")


def candidates(searcher, text: str, depth: int = PASSAGE_DEPTH) -> Candidates:
    """Both sides' candidates and exact scores for one question, as the service computes them."""
    n = max(depth, searcher.settings.candidates)
    return searcher.ranker.candidates(text, searcher.embed_question(text), n)


def main() -> None:
    from search.searcher import Searcher

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--json", type=Path, help="Write the grid here as JSON.")
    args = ap.parse_args()

    settings = load_settings({"fusion": "adaptive"})  # candidates carry the ideal BM25 for every method
    embedder = settings.make_embedder(threads=0)
    data = load_dataset(args.dataset, args.split)
    searcher = Searcher(prepare_index(data.path, embedder, CACHE_ROOT), settings, embedder)
    doc_of = documents_of(searcher)
    cands = {qid: candidates(searcher, text) for qid, text in data.queries.items()}
    rows = []
    for mode in ("vector", "keyword"):
        scores = evaluate_run({qid: fold(c.vector if mode == "vector" else c.keyword, doc_of)
                               for qid, c in cands.items()}, data.qrels)
        rows.append({"method": mode, **scores})
    # MTEB's all-MiniLM-L6-v2 figure embeds each document once, truncated to 256 word pieces:
    # scoring only each document's first passage (title context + opening) mimics that.
    run, _ = run_queries(searcher, data, "vector", passages="first")
    rows.append({"method": "vector, first passage only", **evaluate_run(run, data.qrels)})
    for method, weight, gate in FUSION_GRID:
        run = {qid: fold(fuse(method, c, weight, gate), doc_of) for qid, c in cands.items()}
        rows.append({"method": label(method, weight, gate), **evaluate_run(run, data.qrels)})
    print(f"{args.dataset.name} {args.split}: {len(cands)} queries\n")
    print("| fusion | nDCG@10 | R@10 | R@100 | MRR@10 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | "
              f"{r['recall@100']:.4f} | {r['mrr@10']:.4f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
