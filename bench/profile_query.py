"""Where a search request's time goes: cProfile over distinct questions through `GET /api/search`.

    flock /tmp/cpu.lock .venv/bin/python bench/profile_query.py [--index state/sotu-index] [--questions 200]
        [--embedding cold|repeat] [--top 15] [--sort tottime|cumulative]

One thread (as a serving worker runs), hybrid, k=10, the questions of bench/query.py. "cold" empties
the question cache first, so the question's embedding is in the profile; "repeat" asks each question
once unprofiled, then profiles asking again (the ranking and the page alone). The seconds are for all
questions together and inflated by the profiler: compare shares, and time with bench/query.py.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from _common import SOTU_INDEX, header
from query import question_set

from search.live import LiveSearcher, set_threads
from search.searcher import Searcher
from search.settings import load_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=str(SOTU_INDEX))
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--embedding", choices=("cold", "repeat"), default="cold")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    ap.add_argument("--mode", default="hybrid")
    args = ap.parse_args()
    set_threads(1)
    from web import create_app

    settings = load_settings({"index": args.index, "threads": 1, "reload_interval": -1})
    searcher = Searcher.load(settings)
    live = LiveSearcher(settings, embedder=searcher.embedder)
    live._install(searcher)
    client = create_app({"SETTINGS": settings, "LIVE_SEARCHER": live, "TESTING": True}).test_client()
    questions = question_set(args.questions)

    def ask_all() -> None:
        for q in questions:
            r = client.get("/api/search", query_string={"q": q, "k": 10, "mode": args.mode})
            assert r.status_code == 200, r.get_json()

    for q in ("warm-up: thread pools, page cache", "a second warm-up question"):
        client.get("/api/search", query_string={"q": q})
    if args.embedding == "repeat":
        ask_all()
    else:
        searcher.cache = type(searcher.cache)()
    profile = cProfile.Profile()
    began = time.perf_counter()
    profile.enable()
    ask_all()
    profile.disable()
    took = time.perf_counter() - began
    out = io.StringIO()
    pstats.Stats(profile, stream=out).strip_dirs().sort_stats(args.sort).print_stats(args.top)
    meta = header(f"Profile of GET /api/search ({args.mode}, {args.embedding}, {len(questions)} questions)")
    print(f"### {meta['benchmark']}\n\n{meta['date']} · {meta['cpu']}\n")
    print(f"{took:.2f} s under the profiler, {took / len(questions) * 1000:.1f} ms per question\n")
    print(out.getvalue())


if __name__ == "__main__":
    main()
