"""FAISS's OpenMP limit reaches the threads that search (index/threads.py): libgomp keeps the limit per thread,
so a request thread started after `set_threads(1)` used to search with one OpenMP thread per core, and the
extra one spun (40 % of a serving worker's CPU under bench/load.py)."""
from __future__ import annotations

import os
import threading

import faiss
import numpy as np
import pytest

from index import threads as faiss_threads
from index.dots import row_dots
from index.vectors import FaissIndex
from search.live import set_threads


@pytest.fixture
def one_thread():
    before = faiss.omp_get_max_threads()
    set_threads(1)
    yield
    faiss_threads.limit(before)


def in_new_thread(job) -> tuple[int, int]:
    """(OpenMP threads of a fresh thread before `job`, after it)."""
    seen: list[tuple[int, int]] = []

    def run() -> None:
        before = faiss.omp_get_max_threads()
        job()
        seen.append((before, faiss.omp_get_max_threads()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert seen, "the thread did not finish"
    return seen[0]


def test_libgomp_keeps_the_limit_per_thread():
    """Why `apply` exists: a new thread does not inherit the main thread's omp_set_num_threads."""
    if (os.cpu_count() or 1) < 2 or os.environ.get("OMP_NUM_THREADS"):
        pytest.skip("needs two cores and no OMP_NUM_THREADS to show the per-thread default")
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        assert in_new_thread(lambda: None)[0] > 1
    finally:
        faiss.omp_set_num_threads(before)


def test_a_later_thread_searches_under_the_process_limit(one_thread):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissIndex.build(vectors, None, "flat", None)
    assert in_new_thread(lambda: index.search(vectors[0], 5))[1] == 1
    assert in_new_thread(lambda: row_dots(vectors, np.arange(10), vectors[0]))[1] == 1
