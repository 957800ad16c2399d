"""Resident and shared memory of 1 and 2 worker processes that load the largest benchmark index.

    flock /tmp/cpu.lock .venv/bin/python bench/memory.py [--size 1000000] [--kinds flat,hnsw]

Each worker loads state/bench/ann-<size>-<kind>/index.faiss (made by bench/ann.py) the way the
searcher does (memory-mapped, read-only) or fully read (--no-mmap comparison rows), answers 50 real
questions to touch the pages a query needs, then waits; the parent reads /proc/<pid>/smaps_rollup.
Rss counts shared file pages in every process; Pss splits them between the processes sharing them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import BENCH_STATE, header, report


def rollup(pid: int) -> dict[str, float]:
    out = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return out


def worker(folder: str, kind: str, mmap: bool) -> None:
    import numpy as np

    from index.vectors import FaissIndex

    import faiss

    faiss.omp_set_num_threads(1)
    index = FaissIndex.load(Path(folder), json.loads((Path(folder) / "spec.json").read_text()), mmap=mmap)
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(50, index.dimension)).astype(np.float32)
    index.search(queries / np.linalg.norm(queries, axis=1, keepdims=True), 10)
    print("ready", flush=True)
    sys.stdin.readline()


def measure(folder: Path, kind: str, workers: int, mmap: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(folder), kind, "1" if mmap else "0"]
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise SystemExit(f"worker {p.pid} failed")
        time.sleep(0.5)
        stats = [rollup(p.pid) for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
            p.wait()
    total = lambda key: round(sum(s.get(key, 0) for s in stats))  # noqa: E731
    return {"index": kind, "load": "mmap read-only" if mmap else "read into memory", "workers": workers,
            "rss_mb_each": round(stats[0]["Rss"]), "rss_mb_total": total("Rss"), "pss_mb_total": total("Pss"),
            "shared_mb_each": round(stats[0].get("Shared_Clean", 0) + stats[0].get("Shared_Dirty", 0)),
            "anonymous_mb_each": round(stats[0].get("Anonymous", 0)),
            "file_size_mb": round((folder / "index.faiss").stat().st_size / 2**20)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--kinds", default="flat,hnsw")
    args = ap.parse_args()
    rows = []
    for kind in args.kinds.split(","):
        folder = BENCH_STATE / f"ann-{args.size}-{kind}"
        if not (folder / "index.faiss").is_file():
            raise SystemExit(f"{folder} is missing: run bench/ann.py first")
        for mmap in (True, False):
            for workers in (1, 2):
                rows.append(measure(folder, kind, workers, mmap))
                print(rows[-1], flush=True)
    report("memory", header(f"Worker memory with the {args.size:,}-vector index"), rows,
           ["index", "load", "workers", "file_size_mb", "rss_mb_each", "shared_mb_each", "anonymous_mb_each",
            "rss_mb_total", "pss_mb_total"])


if __name__ == "__main__":
    main()
