"""Embedding throughput per backend on SOTU passages: passages/s and tokens/s.

    flock /tmp/cpu.lock .venv/bin/python bench/embed.py [--sample 3000] [--backends torch,onnx,onnx-int8]

A seeded sample of SOTU passages (split as the index splits them) is embedded once per backend at
the batch size that a short sweep on a sub-sample found fastest; all cores are used (threads 0).
"""
from __future__ import annotations

import argparse
import time


from _common import header, report, sotu_passages

from index.embedder import make_embedder  # noqa: E402
from search.settings import load_settings  # noqa: E402


def timed(encoder, texts, batch_size) -> float:
    began = time.perf_counter()
    encoder.encode(texts, batch_size=batch_size)
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=3000, help="SOTU passages to embed per backend")
    ap.add_argument("--sweep", type=int, default=384, help="passages per batch-size trial")
    ap.add_argument("--batch-sizes", default="8,16,32,64,128")
    ap.add_argument("--backends", default="torch,onnx,onnx-int8")
    args = ap.parse_args()

    backends = args.backends.split(",")
    encoders = {b: make_embedder(b, load_settings().model, load_settings().onnx_cache, threads=0) for b in backends}
    texts = sotu_passages(encoders[backends[0]], args.sample)
    tokens = sum(min(encoders[backends[0]].count_tokens(t) + 2, encoders[backends[0]].max_tokens) for t in texts)
    sweep_texts = texts[: args.sweep]
    reference = None
    rows = []
    for name, encoder in encoders.items():
        encoder.encode(sweep_texts[:32])  # warm-up (graph optimisation, allocator)
        sweep = {bs: len(sweep_texts) / timed(encoder, sweep_texts, bs) for bs in map(int, args.batch_sizes.split(","))}
        best = max(sweep, key=sweep.get)
        began = time.perf_counter()
        vectors = encoder.encode(texts, batch_size=best)
        seconds = time.perf_counter() - began
        if reference is None:
            reference = vectors
        cosine = (vectors * reference).sum(axis=1)
        rows.append({"backend": name, "batch_size": best, "passages": len(texts),
                     "seconds": round(seconds, 2), "passages_per_s": round(len(texts) / seconds, 1),
                     "tokens_per_s": round(tokens / seconds), "cos_vs_first_min": round(float(cosine.min()), 4),
                     "cos_vs_first_mean": round(float(cosine.mean()), 4),
                     "sweep_passages_per_s": {str(k): round(v, 1) for k, v in sweep.items()}})
        print(name, rows[-1], flush=True)
    base = rows[0]["passages_per_s"]
    for row in rows:
        row["speedup"] = round(row["passages_per_s"] / base, 2)
    report("embed", header("Embedding throughput on SOTU passages"), rows,
           ["backend", "batch_size", "passages", "seconds", "passages_per_s", "tokens_per_s", "speedup",
            "cos_vs_first_mean", "cos_vs_first_min"],
           {"sample": len(texts), "tokens": tokens, "first_backend": backends[0]})


if __name__ == "__main__":
    main()
