"""Passages/s of Ray Data embedding (per actor, for the cluster) and Ray's overhead on a small corpus.

    flock /tmp/cpu.lock .venv/bin/python bench/ray_embed.py [--passages 2000] [--small 64]

A local cluster (ray.cluster_utils.Cluster: head + 2 worker nodes, 1 CPU each) on this machine; the
texts are SOTU passages of state/sotu-index (passages.sqlite). `local` is the same backend in this
process with one thread, the unit an actor runs. Cluster start and the first dataset (actor start,
model load) are timed apart from the steady-state throughput.
"""
from __future__ import annotations

import argparse
import sqlite3
import time

from _common import SOTU_INDEX, header, report

from index.distributed import EncoderSpec, RayEncoder  # noqa: E402
from index.embedder import Embedder  # noqa: E402

MB = 1024 * 1024


def passages(n: int) -> list[str]:
    conn = sqlite3.connect(SOTU_INDEX / "passages.sqlite")
    return [t for (t,) in conn.execute("SELECT text FROM passages ORDER BY id LIMIT ?", (n,))]


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--small", type=int, default=64, help="texts in the small-corpus overhead run")
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    texts = passages(args.passages)
    local = Embedder(threads=1)
    local.encode(texts[:32])
    rows = [{"run": "local, 1 thread", "actors": 0, "passages": len(texts),
             "seconds": round(seconds := timed(lambda: local.encode(texts)), 2),
             "passages_per_s": round(len(texts) / seconds, 1)}]
    print(rows[-1], flush=True)
    began = time.perf_counter()
    node = {"num_cpus": 1, "object_store_memory": 200 * MB}
    cluster = Cluster(initialize_head=True, connect=True, head_node_args=dict(node))
    for _ in range(2):
        cluster.add_node(**node)
    cluster.wait_for_nodes()
    start_s = time.perf_counter() - began
    try:
        for actors in (1, 2, 3):
            encoder = RayEncoder(local, EncoderSpec(threads=1), cluster.address, actors=actors)
            first = timed(lambda: encoder.encode(texts[:args.small]))  # actors start, models load
            seconds = timed(lambda: encoder.encode(texts))
            rows.append({"run": f"ray, {actors} actor(s)", "actors": actors, "passages": len(texts),
                         "seconds": round(seconds, 2), "passages_per_s": round(len(texts) / seconds, 1),
                         "small_corpus_s": round(first, 2)})
            print(rows[-1], flush=True)
        small_local = timed(lambda: local.encode(texts[:args.small]))
    finally:
        ray.shutdown()
        cluster.shutdown()
    report("ray_embed", header("Ray Data embedding on a local 3-node cluster (1 CPU per node)"), rows,
           ["run", "actors", "passages", "seconds", "passages_per_s", "small_corpus_s"],
           {"cluster_start_s": round(start_s, 2), "small_corpus_local_s": round(small_local, 2),
            "small_corpus_passages": args.small})
    print(f"cluster start {start_s:.1f} s; {args.small} passages locally {small_local:.2f} s")


if __name__ == "__main__":
    main()
