"""SciFact test nDCG@10 per embedding backend (hybrid and vector): the rule for changing the default.

    flock /tmp/cpu.lock .venv/bin/python bench/scifact.py [--backends torch,onnx-int8] [--modes hybrid,vector]

Runs search.evaluate.evaluate (the `statement-search eval` path) with each backend's encoder. Each
backend gets its own index cache (state/eval for torch, state/eval-<backend> otherwise), since the
evaluation cache is keyed by corpus and model weights only. A backend may become the default only if
both of its nDCG@10 figures are within 0.005 of torch's.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from _common import ROOT, SHARED, header, report

from search.settings import load_settings  # noqa: E402

SCIFACT = SHARED / "scifact"


def main() -> None:
    from search.evaluate import CACHE_ROOT, evaluate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--modes", default="hybrid,vector")
    ap.add_argument("--dataset", type=Path, default=SCIFACT)
    args = ap.parse_args()
    rows, base = [], {}
    for backend in args.backends.split(","):
        settings = load_settings({"embedding_backend": backend})
        encoder = settings.make_embedder(threads=0)
        cache = CACHE_ROOT if backend == "torch" else ROOT / "state" / f"eval-{backend}"
        for mode in args.modes.split(","):
            result = evaluate(args.dataset, settings, split="test", mode=mode, cache=cache, embedder=encoder)
            row = {"backend": backend, "mode": mode, "ndcg_at_10": result["ndcg@10"],
                   "recall_at_100": result["recall@100"], "queries": result["queries"]}
            if backend == "torch":
                base[mode] = row["ndcg_at_10"]
            if mode in base:
                row["delta_vs_torch"] = round(row["ndcg_at_10"] - base[mode], 4)
                row["within_0.005"] = abs(row["delta_vs_torch"]) <= 0.005
            rows.append(row)
            print(row, flush=True)
    report("scifact", header("SciFact test nDCG@10 per embedding backend"), rows,
           ["backend", "mode", "ndcg_at_10", "delta_vs_torch", "within_0.005", "recall_at_100", "queries"])


if __name__ == "__main__":
    main()
