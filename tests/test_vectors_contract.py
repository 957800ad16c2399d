"""One contract, every vector index: NumPy (the reference), exact FAISS flat, and the approximate ones."""
from __future__ import annotations

import numpy as np
import pytest

from index.vectors import EXACT_SUBSET, FaissIndex, NumpyIndex, choose_index_type
from index.errors import SettingError

DIM = 32
N = 3000


def clustered(n: int, seed: int) -> np.ndarray:
    """Unit vectors around 40 centres, so neighbours are meaningful (as with text embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIM))
    x = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


VECTORS = clustered(N, 0)
IDS = np.arange(N, dtype=np.int64) * 3 + 7  # ids that are not row numbers
QUERIES = clustered(50, 1)
REFERENCE = NumpyIndex(VECTORS, IDS)
KINDS = ["numpy", "flat", "hnsw", "ivf"]


def make(kind: str, vectors=VECTORS, ids=IDS):
    if kind == "numpy":
        return NumpyIndex(vectors, ids)
    return FaissIndex.build(vectors, ids, kind)


@pytest.fixture(scope="module", params=KINDS)
def index(request):
    return make(request.param)


def recall(got, want, k=10) -> float:
    return np.mean([len({i for i, _ in g[:k]} & {i for i, _ in w[:k]}) / k for g, w in zip(got, want)])


def test_len_and_dimension(index):
    assert len(index) == N and index.dimension == DIM


def test_hits_are_known_ids_best_first_with_cosine_scores(index):
    known = set(IDS.tolist())
    for hits in index.search(QUERIES, 10):
        assert len(hits) == 10
        assert {i for i, _ in hits} <= known
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0001 <= s <= 1.0001 for s in scores)


def test_scores_are_inner_products(index):
    hits = index.search(QUERIES[:1], 5)[0]
    for pid, score in hits:
        assert score == pytest.approx(float(VECTORS[(pid - 7) // 3] @ QUERIES[0]), abs=1e-5)


def test_agrees_with_reference(index):
    got, want = index.search(QUERIES, 10), REFERENCE.search(QUERIES, 10)
    if isinstance(index, NumpyIndex) or index.kind == "flat":
        assert [[i for i, _ in h] for h in got] == [[i for i, _ in h] for h in want]
    else:
        assert recall(got, want) >= 0.95


def test_a_vector_finds_itself(index):
    hits = index.search(VECTORS[:20], 1)
    assert [h[0][0] for h in hits] == IDS[:20].tolist()


def test_k_larger_than_the_index_returns_every_vector_once():
    small = clustered(15, 2)
    for kind in KINDS:
        hits = make(kind, small, np.arange(15)).search(small[:2], 50)
        for h in hits:
            assert sorted(i for i, _ in h) == list(range(15)), kind


def test_narrow_subset_is_exact(index):
    subset = IDS[::97]  # 31 ids
    got = index.search(QUERIES, 10, subset=subset)
    want = REFERENCE.search(QUERIES, 10, subset=subset)
    assert [[i for i, _ in h] for h in got] == [[i for i, _ in h] for h in want]


def test_subset_smaller_than_k_and_empty_subset(index):
    subset = IDS[[3, 30, 300]]
    hits = index.search(QUERIES[:2], 10, subset=subset)
    assert all(sorted(i for i, _ in h) == sorted(subset.tolist()) for h in hits)
    assert index.search(QUERIES[:2], 10, subset=np.array([], dtype=np.int64)) == [[], []]


def test_wide_subset_keeps_only_subset_ids(index):
    subset = IDS[IDS % 2 == 1]
    got = index.search(QUERIES, 10, subset=subset)
    assert all({i for i, _ in h} <= set(subset.tolist()) for h in got)
    assert recall(got, REFERENCE.search(QUERIES, 10, subset=subset)) >= 0.95


def test_wrong_dimension_is_a_clear_error(index):
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.zeros((1, DIM + 1), dtype=np.float32), 5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_save_and_memory_mapped_load_give_the_same_answers(tmp_path, kind):
    built = make(kind)
    built.save(tmp_path)
    loaded = FaissIndex.load(tmp_path, kind=kind, params=built.params)
    assert len(loaded) == N and loaded.kind == kind and loaded.params == built.params
    assert loaded.search(QUERIES, 10) == built.search(QUERIES, 10)
    assert loaded.search(QUERIES, 5, subset=IDS[:100]) == built.search(QUERIES, 5, subset=IDS[:100])


def test_empty_index_returns_no_hits():
    for kind in ["flat", "hnsw"]:
        empty = FaissIndex.build(np.zeros((0, DIM), np.float32), np.zeros(0, np.int64), kind)
        assert len(empty) == 0 and empty.search(QUERIES[:2], 5) == [[], []]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="index type"):
        FaissIndex.build(VECTORS, IDS, "annoy")


def test_choose_index_type():
    assert choose_index_type("auto", 1000, 200_000) == "flat"
    assert choose_index_type("auto", 300_000, 200_000) == "hnsw"
    assert choose_index_type("auto", 100_000, 100_000) == "flat"
    assert choose_index_type("ivf", 10, 200_000) == "ivf"
    with pytest.raises(SettingError):
        choose_index_type("bogus", 10, 10)


def test_exact_subset_threshold_is_sane():
    assert EXACT_SUBSET >= 1000
