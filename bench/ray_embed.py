"""Passages/s of Ray Data embedding (per actor, for the cluster) and Ray's overhead on small corpora.

    flock /tmp/cpu.lock .venv/bin/python bench/ray_embed.py [--passages 2000] [--backend onnx-int8]

A local cluster (ray.cluster_utils.Cluster: head + 2 worker nodes, 1 CPU each) on this machine; the
texts are SOTU passages of state/sotu-index (passages.sqlite). `local` is the same backend in this
process with one thread, the unit an actor runs. Every `encode` on Ray starts a fresh actor pool
(actors start, each loads the model), so a run is timed twice, on `--small` texts and on all of them:
`seconds` includes the pool start, `marginal_per_s` = (passages - small) / (t_all - t_small) is the
steady-state rate with the start cancelled out. Then whole builds of the seed statement and of the
demo corpus (data/statements), locally and through `--ray` on the running cluster.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from _common import ROOT, SOTU_INDEX, header, report

from index.build import build_index  # noqa: E402
from index.distributed import EncoderSpec, RayEncoder  # noqa: E402
from index.embedder import make_embedder  # noqa: E402

MB = 1024 * 1024
DEMO = ROOT / "data" / "statements"


def passages(n: int) -> list[str]:
    conn = sqlite3.connect(SOTU_INDEX / "passages.sqlite")
    return [t for (t,) in conn.execute("SELECT text FROM passages ORDER BY id LIMIT ?", (n,))]


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def seed_corpus(folder: Path) -> Path:
    folder.mkdir()
    for path in DEMO.glob("durov-*.txt"):
        shutil.copy(path, folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--small", type=int, default=100, help="texts in the pool-start run")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--actors", default="1,2,3")
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    scratch = Path(tempfile.mkdtemp(prefix="ray-embed-", dir=ROOT / "state"))
    spec = EncoderSpec(backend=args.backend, onnx_cache=str(ROOT / "state" / "onnx"), threads=1)
    texts = passages(args.passages)
    local = spec.load()
    local.encode(texts[:32])
    seconds = timed(lambda: local.encode(texts))
    rows = [{"run": "local, 1 thread", "actors": 0, "passages": len(texts), "seconds": round(seconds, 2),
             "passages_per_s": round(len(texts) / seconds, 1), "marginal_per_s": round(len(texts) / seconds, 1)}]
    print(rows[-1], flush=True)
    builds = []
    corpora = {"seed (durov)": seed_corpus(scratch / "seed"), "demo (data/statements)": DEMO}
    for name, corpus in corpora.items():
        local_build = make_embedder(args.backend, onnx_cache=ROOT / "state" / "onnx", threads=1)
        report_ = build_index(corpus, scratch / f"local-{len(builds)}", local_build, batch_size=0)
        builds.append({"corpus": name, "how": "local, 1 thread", "passages": report_.passages,
                       "seconds": round(report_.seconds, 2)})
        print(builds[-1], flush=True)
    began = time.perf_counter()
    node = {"num_cpus": 1, "object_store_memory": 200 * MB}
    cluster = Cluster(initialize_head=True, connect=True, head_node_args=dict(node))
    for _ in range(2):
        cluster.add_node(**node)
    cluster.wait_for_nodes()
    start_s = time.perf_counter() - began
    print(f"cluster start {start_s:.1f} s", flush=True)
    try:
        for name, corpus in corpora.items():  # the cluster is up; every encode starts its own pool
            encoder = RayEncoder(local, spec, cluster.address, actors=2)
            report_ = build_index(corpus, scratch / f"ray-{len(builds)}", encoder, batch_size=0)
            builds.append({"corpus": name, "how": "--ray, 2 actors (cluster already up)",
                           "passages": report_.passages, "seconds": round(report_.seconds, 2)})
            print(builds[-1], flush=True)
        for actors in [int(a) for a in args.actors.split(",")]:
            encoder = RayEncoder(local, spec, cluster.address, actors=actors)
            small = timed(lambda: encoder.encode(texts[:args.small]))  # pool start + model loads + a little work
            seconds = timed(lambda: encoder.encode(texts))
            rows.append({"run": f"ray, {actors} actor(s)", "actors": actors, "passages": len(texts),
                         "seconds": round(seconds, 2), "passages_per_s": round(len(texts) / seconds, 1),
                         "marginal_per_s": round((len(texts) - args.small) / max(seconds - small, 1e-9), 1),
                         "small_s": round(small, 2)})
            print(rows[-1], flush=True)
        small_local = timed(lambda: local.encode(texts[:args.small]))
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    report("ray_embed", header(f"Ray Data embedding ({args.backend}) on a local 3-node cluster (1 CPU per node)"),
           rows, ["run", "actors", "passages", "seconds", "passages_per_s", "marginal_per_s", "small_s"],
           {"cluster_start_s": round(start_s, 2), "small_local_s": round(small_local, 2), "small": args.small,
            "builds": builds})
    for b in builds:
        print(f"| {b['corpus']} | {b['how']} | {b['passages']} | {b['seconds']} |")
    print(f"cluster start {start_s:.1f} s; {args.small} passages locally {small_local:.2f} s")


if __name__ == "__main__":
    main()
