"""FAISS's OpenMP thread limit, applied in every thread that searches, not only the one that set it.

libgomp keeps the thread count (`omp_set_num_threads`) per calling thread: a thread started later, such
as a gunicorn request thread, begins with the process default (one per core), not with what the main
thread set. Each request thread of a `serve` worker therefore ran FAISS's parallel regions (the flat
top-1,000 scan, the candidates' row dots) on two OpenMP threads, and the second spun on its core between
regions: under bench/load.py (2 workers × 16 clients) it was 40 % of a worker's CPU. `limit` records
the process's limit; `apply` (called at the start of each FAISS call on the query path) sets it in the
calling thread once.
"""
from __future__ import annotations

import threading

import faiss

_limit = 0  # 0: FAISS's own default (one thread per core)
_applied = threading.local()


def limit(threads: int) -> None:
    """Limit FAISS to `threads` OpenMP threads in this thread now, and in every other thread at its next
    FAISS call on the query path (`apply`)."""
    global _limit
    _limit = threads
    faiss.omp_set_num_threads(threads)
    _applied.threads = threads


def apply() -> None:
    """Set the process's limit in the calling thread, if it has not been set there yet."""
    if _limit and getattr(_applied, "threads", 0) != _limit:
        faiss.omp_set_num_threads(_limit)
        _applied.threads = _limit
