"""Query latency p50/p95/p99 through the library and end to end through the JSON API.

    flock /tmp/cpu.lock .venv/bin/python bench/query.py [--sizes 20000,200000,1000000] [--backend torch]

20k: the real SOTU index (state/sotu-index). 200k and 1M: the same index with its vector index
swapped for state/bench/ann-<size>-<type> (made by bench/ann.py): SOTU vectors plus generated
vectors, where generated row i is a noisy copy of passage i mod 20k and is answered as that passage.
The passage store, sentence vectors, BM25 side and highlighting stay at SOTU size, so hybrid rows at
200k/1M understate the keyword half; the vector rows are the honest scale test. At 200k/1M the big index
is asked for as many rows as a real one would be and its answer is padded to that many distinct passages
(CopiesIndex), and `recall_at_10` is the share of the top 10 served with exact search over the same
vectors (state/bench/ann-<size>-flat) that the approximate index's top 10 holds. Each question is asked
once cold (its embedding computed: the only model call of a query) per configuration; "repeat" rows ask
again (the question cache hits). The question encoder is the one the index was built with.
One thread per process, as a serving worker runs. `cpu_p50_ms` is the median CPU time of the
request's thread (time.thread_time): on a machine shared with other jobs it moves far less than the
wall-clock figures. Filters: none, one century, one speaker, and
1861-1865 (Lincoln's four
addresses, 1.8% of passages).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np
from _common import BENCH_STATE, QUESTIONS, SOTU_INDEX, header, real_questions, report

from index.vectors import FaissIndex  # noqa: E402
from search.filters import make_filters  # noqa: E402
from search.live import set_threads  # noqa: E402
from search.settings import load_settings  # noqa: E402

# Filter name -> API parameters, with the share of the 20,396 SOTU passages each keeps (measured
# with sqlite3 on state/sotu-index): 1861-1865 1.8%, the 19th century 41.5% (broad), Abraham
# Lincoln 1.5% (narrow: one speaker, the filter users ask for most).
FILTERS = {
    "none": {},
    "1861-1865": {"after": "1861-01-01", "before": "1865-12-31"},
    "19th century": {"after": "1800-01-01", "before": "1899-12-31"},
    "speaker Abraham Lincoln": {"speaker": "Abraham Lincoln"},
}


class CopiesIndex:
    """A bigger vector index whose row i stands for passage i mod `passages` (the contract, ids mapped).

    It asks the big index for k rows, as a real index of that size is asked. The copies of one passage
    collapse to one id (the big index's top 1,000 rows hold only ~90 distinct passages at 1M), so the
    answer is padded to k distinct passages with the passages *least* like the question (scored exactly
    on `small`, the real index, and kept per question and subset, so the padding is computed once, before
    the timed runs): the ranking after the vector search then handles as many candidates as with a real
    1M-passage index, and the padding never brings back a top passage the big index missed, so recall
    through this index is the big index's own. `distinct` keeps how many passages the big index gave.
    """

    def __init__(self, big: FaissIndex, small: FaissIndex, pad: bool = True):
        self.big, self.small, self.pad = big, small, pad
        self.passages, self.dimension = len(small), big.dimension
        self.distinct: list[int] = []
        self._tails: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.big)

    def search(self, queries, k, subset=None):
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        wide = None
        if subset is not None:  # the filter's passages and all their copies
            copies = -(-len(self.big) // self.passages)
            wide = (np.asarray(subset, np.int64)[None, :] + self.passages * np.arange(copies)[:, None]).ravel()
            wide = wide[wide < len(self.big)]
        out = []
        for q, hits in zip(queries, self.big.search(queries, k, wide)):
            ids = np.fromiter((i for i, _ in hits), np.int64, len(hits)) % self.passages
            first = np.sort(np.unique(ids, return_index=True)[1])  # each passage at its best copy
            row = [hits[j] for j in first.tolist()]
            row = list(zip(ids[first].tolist(), (s for _, s in row)))
            self.distinct.append(len(row))
            if self.pad and len(row) < k:
                row += self._padding(q, k - len(row), ids[first], subset)
            out.append(row[:k])
        return out

    def top(self, query, k, subset=None):
        row = self.search(query, k, subset)[0]
        return (np.fromiter((i for i, _ in row), np.int64, len(row)),
                np.fromiter((s for _, s in row), np.float32, len(row)))

    def _padding(self, q: np.ndarray, n: int, seen: np.ndarray, subset) -> list[tuple[int, float]]:
        """The `n` passages (within `subset`) least like `q` that are not in `seen`, best of them first."""
        key = (q.tobytes(), None if subset is None else np.asarray(subset, np.int64).tobytes())
        if key not in self._tails:
            ids = np.arange(self.passages) if subset is None else np.unique(np.asarray(subset, np.int64))
            scores = self.small.rows(ids) @ q
            order = np.argsort(scores, kind="stable")  # least similar first
            self._tails[key] = (ids[order], scores[order])
        ids, scores = self._tails[key]
        ids, scores = ids[: n + len(seen)], scores[: n + len(seen)]
        keep = ~np.isin(ids, seen)
        return list(zip(ids[keep][:n].tolist(), scores[keep][:n].tolist()))[::-1]


def percentiles(times: list[float]) -> dict:
    t = np.asarray(times)
    return {"p50_ms": round(float(np.percentile(t, 50)), 1), "p95_ms": round(float(np.percentile(t, 95)), 1),
            "p99_ms": round(float(np.percentile(t, 99)), 1), "queries": len(t)}


def question_set(n: int) -> list[str]:
    """`n` distinct questions: SOTU ones, the paraphrase set, then SciFact claims (off-topic filler)."""
    pool = list(dict.fromkeys(real_questions()))
    scifact = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "queries.jsonl"
    if len(pool) < n and scifact.is_file():
        import json

        pool += [json.loads(line)["text"] for line in scifact.read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(pool))[:n]


def set_ef(index: FaissIndex, ef: int) -> None:
    """Search an HNSW index with efSearch `ef` (also the base a filter's wider walk is scaled from)."""
    index.params["efSearch"] = ef
    faiss.downcast_index(index.index.index).hnsw.efSearch = ef


def served(searcher, questions: list[str], mode: str, filters) -> list[list[int]]:
    """The passage ids of the top 10 each question gets (the same hits the API serves)."""
    return [[h.id for h in searcher.search(q, k=10, mode=mode, filters=filters).hits] for q in questions]


def served_recall(got: list[list[int]], want: list[list[int]]) -> float:
    """Mean share of the exact top 10 that the served top 10 holds."""
    return float(np.mean([len(set(g) & set(w)) / max(1, len(w)) for g, w in zip(got, want)]))


def profile_api(client, searcher, questions: list[str], mode: str, params_filter: dict, top: int) -> None:
    """cProfile over the cold API requests of one configuration: the `top` functions by own time."""
    import cProfile
    import io
    import pstats

    searcher.cache = type(searcher.cache)()
    profile = cProfile.Profile()
    profile.enable()
    for q in questions:
        client.get("/api/search", query_string={"q": q, "k": 10, "mode": mode, **params_filter})
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    print(out.getvalue(), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,200000,1000000")
    ap.add_argument("--index", type=Path, default=SOTU_INDEX, help="the 20k SOTU index (its encoder embeds questions)")
    ap.add_argument("--index-type", default="hnsw", help="vector index at 200k/1M: flat or hnsw")
    ap.add_argument("--questions", type=int, default=len(QUESTIONS),
                    help="how many distinct questions: the SOTU questions, then the paraphrase set, "
                         "then SciFact claims as filler")
    ap.add_argument("--modes", default="vector,hybrid", help="comma-separated modes to time")
    ap.add_argument("--filters", default=",".join(FILTERS), help="comma-separated filter names to time")
    ap.add_argument("--ef", default="", help="HNSW efSearch values to time at 200k/1M (default: the index's own)")
    ap.add_argument("--no-recall", dest="recall", action="store_false",
                    help="skip recall_at_10 (the served top 10 against exact search over the same vectors, "
                         "state/bench/ann-<size>-flat)")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="after each configuration, profile the cold API requests (cProfile) and print the "
                         "TOP functions by own time")
    args = ap.parse_args()
    set_threads(1)  # FAISS, BLAS (and torch if loaded) on one thread, as a serving worker runs

    from search.live import LiveSearcher
    from search.searcher import Searcher
    from web import create_app

    settings = load_settings({"index": args.index, "threads": 1, "reload_interval": -1})
    searcher = Searcher.load(settings)
    real = len(searcher.gen.vector_index)
    exact = searcher.gen.vector_index
    questions = question_set(args.questions)
    live = LiveSearcher(settings, embedder=searcher.embedder)
    live._install(searcher)
    client = create_app({"SETTINGS": settings, "LIVE_SEARCHER": live, "TESTING": True}).test_client()

    for q in ("warm-up: thread pools, page cache", "a second warm-up question"):
        searcher.search(q, k=10)
        client.get("/api/search", query_string={"q": q})
    rows = []
    for size in map(int, args.sizes.split(",")):
        big = reference = None
        if size <= real:
            searcher.gen.vector_index, kind, label = exact, "flat", real
        else:
            kind = args.index_type
            folder = BENCH_STATE / f"ann-{size}-{kind}"
            if not (folder / "index.faiss").is_file():
                print(f"skipping {size}: {folder} is missing (run bench/ann.py)")
                continue
            big = FaissIndex.load(folder, json.loads((folder / "spec.json").read_text()), exact_subset_max=0)
            label = len(big)
            flat = BENCH_STATE / f"ann-{size}-flat"
            if args.recall and kind != "flat" and (flat / "index.faiss").is_file():
                reference = FaissIndex.load(flat, json.loads((flat / "spec.json").read_text()), exact_subset_max=0)
        efs = [int(e) for e in args.ef.split(",")] if big is not None and big.kind == "hnsw" and args.ef else [None]
        for mode in args.modes.split(","):
            for name in args.filters.split(","):
                params_filter = FILTERS[name]
                filters = make_filters(**params_filter) if params_filter else None
                want = None
                if reference is not None:  # the served top 10 with exact search over the same vectors
                    searcher.gen.vector_index = CopiesIndex(reference, exact)
                    want = served(searcher, questions, mode, filters)
                for ef in efs:
                    extra = {}
                    if big is not None:
                        if ef is not None:
                            set_ef(big, ef)
                        copies = CopiesIndex(big, exact)
                        searcher.gen.vector_index = copies
                        extra["efSearch"] = big.params.get("efSearch", "-")
                        got = served(searcher, questions, mode, filters)  # also fills the padding, untimed
                        if want is not None:
                            extra["recall_at_10"] = round(served_recall(got, want), 4)
                        extra["distinct"] = int(np.median(copies.distinct))
                    for path in ("library", "api"):
                        for attempt in ("cold", "repeat"):
                            if attempt == "cold":  # forget the question embeddings: measure them too
                                searcher.cache = type(searcher.cache)()
                            times, cpu = [], []
                            for q in questions:
                                began, began_cpu = time.perf_counter(), time.thread_time()
                                if path == "library":
                                    searcher.search(q, k=10, mode=mode, filters=filters)
                                else:
                                    params = {"q": q, "k": 10, "mode": mode, **params_filter}
                                    r = client.get("/api/search", query_string=params)
                                    assert r.status_code == 200, r.get_json()
                                times.append((time.perf_counter() - began) * 1000)
                                cpu.append((time.thread_time() - began_cpu) * 1000)
                            rows.append({"vectors": label, "index": kind, "mode": mode,
                                         "filter": name, "path": path,
                                         "embedding": attempt, **extra, **percentiles(times),
                                         "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 1)})
                            print(rows[-1], flush=True)
                    if args.profile:
                        profile_api(client, searcher, questions, mode, params_filter, args.profile)
    backend = searcher.embedder.backend
    report("query", header(f"Query latency (k=10, {backend} question encoder, 1 thread)"), rows,
           ["vectors", "index", "efSearch", "mode", "filter", "path", "embedding", "recall_at_10", "distinct",
            "p50_ms", "p95_ms", "p99_ms", "cpu_p50_ms", "queries"],
           {"backend": backend, "index": str(args.index)})


if __name__ == "__main__":
    main()
