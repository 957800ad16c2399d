"""Recall@10 and latency of the approximate indexes against exact flat search at 20k, 200k and 1M vectors.

    flock /tmp/cpu.lock .venv/bin/python bench/ann.py [--sizes 20000,200000,1000000] [--kinds hnsw,ivf,ivfpq]

ivfpq sweeps nprobe x rerank (candidates re-scored exactly from the memory-mapped vectors.npy) and
reports the index file's bytes per passage (IVF-PQ lists are read into RAM; vectors stay on disk).

Vectors: the real SOTU passage vectors of state/sotu-index (about 20k); larger sizes add generated
vectors: row i is normalise(p + 0.3 p' + N(0, 0.03^2 I)) with p the SOTU vector i mod 20k and p' a
random one (cosine ~0.9 to p, so the data keeps SOTU's cluster structure). Queries: the real
questions of bench/_common.py and tests/data/paraphrases.jsonl, embedded with the bundled model. Latency is per single query on one thread (as a serving worker
runs); builds use all cores. Built indexes are kept under state/bench/ for bench/query.py and
bench/memory.py.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time

import faiss
import numpy as np

from _common import BENCH_STATE, SOTU, SOTU_INDEX, header, real_questions, report

from index.embedder import available_cores  # noqa: E402
from index.vectors import ANN_DEFAULTS, FaissIndex  # noqa: E402

SPEC_FILE = "spec.json"  # the manifest's "index" block for a bench folder


def sotu_vectors() -> np.ndarray:
    path = SOTU_INDEX / "vectors.npy"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build it first with\n  flock /tmp/cpu.lock .venv/bin/statement-search "
                         f"rebuild-index --corpus {SOTU} --index {SOTU_INDEX}")
    return np.ascontiguousarray(np.load(path), dtype=np.float32)


def grow(base: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """`base` plus generated vectors near it, `size` rows in all (deterministic)."""
    if size <= len(base):
        return base[:size]
    rng = np.random.default_rng(seed)
    out = np.empty((size, base.shape[1]), dtype=np.float32)
    out[: len(base)] = base
    for start in range(len(base), size, 100_000):
        n = min(100_000, size - start)
        parents = np.arange(start, start + n) % len(base)  # row i is a noisy copy of passage i mod len(base)
        x = base[parents] + 0.3 * base[rng.integers(0, len(base), n)]
        x += rng.normal(0, 0.03, size=x.shape).astype(np.float32)
        out[start:start + n] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def question_vectors() -> np.ndarray:
    """The real questions, embedded by the configured backend (the one the SOTU index was built with)."""
    from search.settings import load_settings

    return load_settings().make_embedder(threads=0).encode(real_questions())


def latencies(index: FaissIndex, queries: np.ndarray, k: int = 10, repeat: int = 3) -> tuple[list, np.ndarray]:
    """Each query's top `k` (repeated `repeat` times), and the per-query latencies in ms."""
    results, times = None, []
    for _ in range(repeat):
        out = []
        for q in queries:
            began = time.perf_counter()
            out.append(index.search(q, k)[0])
            times.append((time.perf_counter() - began) * 1000)
        results = out
    return results, np.asarray(times)


def recall(got, want, k: int = 10) -> float:
    """Mean share of each query's exact top `k` that the approximate top `k` holds."""
    return float(np.mean([len({i for i, _ in g[:k]} & {i for i, _ in w[:k]}) / max(1, min(k, len(w)))
                          for g, w in zip(got, want)]))


def bench_folder(size: int, kind: str, params: dict | None = None):
    """state/bench/ann-<size>-<kind>[-<param><value>...]: the default parameters get the plain name."""
    extra = "".join(f"-{k}{v}" for k, v in sorted((params or {}).items()))
    return BENCH_STATE / f"ann-{size}-{kind}{extra}"


def stored(size: int, kind: str, vectors: np.ndarray, params: dict | None = None) -> tuple[FaissIndex, float]:
    """Build (or reload) the index for this size and kind (and build parameters) under state/bench/."""
    folder = bench_folder(size, kind, params)
    if (folder / SPEC_FILE).is_file() and (folder / "vectors.npy").is_file():
        return FaissIndex.load(folder, json.loads((folder / SPEC_FILE).read_text())), float("nan")
    faiss.omp_set_num_threads(available_cores())
    began = time.perf_counter()
    index = FaissIndex.build(vectors, np.arange(len(vectors)), kind, params)
    seconds = time.perf_counter() - began
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    index.save(tmp)
    np.save(tmp / "vectors.npy", vectors)
    (tmp / SPEC_FILE).write_text(json.dumps(index.spec(), indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return FaissIndex.load(folder, index.spec()), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,200000,1000000")
    ap.add_argument("--kinds", default="hnsw,ivf")
    ap.add_argument("--ef", default="32,64,128,256", help="HNSW efSearch values to try")
    ap.add_argument("--nprobe", default="8,16,32,64", help="IVF nprobe values to try")
    ap.add_argument("--rerank", default="100,200,400", help="ivfpq candidates re-scored exactly")
    ap.add_argument("--depth", default="10", help="results asked of the index, of which the top 10 are scored: "
                    "10 is a bare top-10 search; 1000 is what a search asks through the service (facet_depth), "
                    "FAISS 1.15's HNSW walks with efSearch at any depth (its result heap keeps the best `depth` nodes "
                    "visited), so recall_at_10 does not change with depth; recall_at_depth is the share of the exact "
                    "top `depth` found (the candidates the service fuses and computes facets over)")
    ap.add_argument("--hnsw-build", default="", help="HNSW build parameters other than ANN_DEFAULTS, e.g. "
                    "'efConstruction=200' or 'M=48,efConstruction=200': kept in state/bench/ann-<size>-hnsw-<...>")
    args = ap.parse_args()
    hnsw_build = {k: int(v) for k, v in (p.split("=") for p in args.hnsw_build.split(",") if p)}

    base, queries = sotu_vectors(), question_vectors()
    rows = []
    for size in map(int, args.sizes.split(",")):
        vectors = grow(base, size)
        size = len(vectors)
        flat, build_s = stored(size, "flat", vectors)
        faiss.omp_set_num_threads(1)
        exact, times = latencies(flat, queries)
        deepest = max(map(int, args.depth.split(",")))
        exact_deep = [flat.search(q, deepest)[0] for q in queries] if deepest > 10 else exact
        rows.append({"vectors": size, "index": "flat", "param": "-", "recall_at_10": 1.0,
                     "p50_ms": round(float(np.percentile(times, 50)), 3),
                     "p95_ms": round(float(np.percentile(times, 95)), 3), "build_s": round(build_s, 1)})
        print(rows[-1], flush=True)
        for kind in args.kinds.split(","):
            built = hnsw_build if kind == "hnsw" else None
            index, build_s = stored(size, kind, vectors, built)
            faiss.omp_set_num_threads(1)
            ivf = faiss.extract_index_ivf(index.index) if kind != "hnsw" else None
            nbytes = (bench_folder(size, kind, built) / "index.faiss").stat().st_size
            reranks = list(map(int, args.rerank.split(","))) if kind == "ivfpq" else [0]
            for value in map(int, (args.ef if kind == "hnsw" else args.nprobe).split(",")):
                for rerank in reranks:
                    if kind == "hnsw":
                        faiss.downcast_index(index.index.index).hnsw.efSearch = value
                        param = "".join(f"{k}={v}, " for k, v in sorted(hnsw_build.items())) + f"efSearch={value}"
                    else:
                        ivf.nprobe = index.params["nprobe"] = value
                        param = f"nprobe={value}, nlist={ivf.nlist}"
                    if kind == "ivfpq":
                        index.params["rerank"] = rerank
                        param += f", rerank={rerank}, {index.factory}"
                    for depth in map(int, args.depth.split(",")):
                        got, times = latencies(index, queries, k=depth)
                        rows.append({"vectors": size, "index": kind, "param": param, "depth": depth,
                                     "recall_at_10": round(recall(got, exact), 4),
                                     "recall_at_depth": round(recall(got, exact_deep, depth), 4),
                                     "p50_ms": round(float(np.percentile(times, 50)), 3),
                                     "p95_ms": round(float(np.percentile(times, 95)), 3),
                                     "build_s": round(build_s, 1), "index_bytes_per_vector": round(nbytes / size, 1)})
                        print(rows[-1], flush=True)
    report("ann", header("Approximate vs exact vector search (recall@10, 1-thread latency)"), rows,
           ["vectors", "index", "param", "depth", "recall_at_10", "recall_at_depth", "p50_ms", "p95_ms", "build_s",
            "index_bytes_per_vector"],
           {"queries": len(queries), "defaults": ANN_DEFAULTS})


if __name__ == "__main__":
    main()
