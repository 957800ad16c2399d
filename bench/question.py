"""Embedding one question, one thread, per backend: the only model call a query makes.

    flock /tmp/cpu.lock .venv/bin/python bench/question.py [--backends torch,onnx,onnx-int8]

Each distinct question of bench/_common.py's set (SOTU questions and paraphrases) is embedded
alone (batch of one), after a warm-up, on one intra-op thread as a serving worker runs. Reports p50 /
p95 / p99 ms. The ONNX rows time the encoder a generation carries (tokenizers + onnxruntime).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _common import header, real_questions, report

from search.settings import load_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the question set")
    args = ap.parse_args()
    questions = list(dict.fromkeys(real_questions()))
    rows = []
    for backend in args.backends.split(","):
        embedder = load_settings({"embedding_backend": backend}).make_embedder(threads=1)
        for q in questions[:5]:
            embedder.encode([q])  # warm-up: thread pools, session, first allocations
        times = []
        for _ in range(args.repeat):
            for q in questions:
                began = time.perf_counter()
                embedder.encode([q])
                times.append((time.perf_counter() - began) * 1000)
        t = np.asarray(times)
        rows.append({"backend": backend, "questions": len(questions), "calls": len(t),
                     "p50_ms": round(float(np.percentile(t, 50)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2),
                     "p99_ms": round(float(np.percentile(t, 99)), 2)})
        print(rows[-1], flush=True)
    report("question", header("Embedding one question, one thread"), rows,
           ["backend", "questions", "calls", "p50_ms", "p95_ms", "p99_ms"])


if __name__ == "__main__":
    main()
