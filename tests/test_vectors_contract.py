"""One contract, every vector index: NumPy (the reference), exact FAISS flat, and the approximate ones."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from index.vectors import EXACT_SUBSET_MAX, FaissIndex, NumpyIndex, VectorIndex, choose_index_type, load_vector_index

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
KINDS = ["numpy", "flat", "hnsw", "ivf", "ivfpq"]
APPROXIMATE = ["hnsw", "ivf", "ivfpq"]
PARAMS = {"ivfpq": {"m": 8}}  # 4-dimensional sub-vectors for these 32-dimensional test vectors


def make(kind: str, vectors=VECTORS, ids=IDS):
    if kind == "numpy":
        return NumpyIndex(vectors, ids)
    index = FaissIndex.build(vectors, ids, kind, PARAMS.get(kind))
    index.exact_subset_max = 1000  # so the wide-subset tests below go through the IDSelector
    return index


@pytest.fixture(scope="module", params=KINDS)
def index(request):
    return make(request.param)


def recall(got, want, k=10) -> float:
    return np.mean([len({i for i, _ in g[:k]} & {i for i, _ in w[:k]}) / k for g, w in zip(got, want)])


def test_len_and_dimension(index):
    assert len(index) == N and index.dimension == DIM


def test_every_implementation_is_the_contract(index):
    assert isinstance(index, VectorIndex)


def test_rows_are_the_stored_vectors_of_the_ids_asked(index):
    ids = IDS[[5, 0, 2999, 17]]
    rows = index.rows(ids)
    assert rows.dtype == np.float32 and rows.shape == (4, DIM)
    assert np.allclose(rows, VECTORS[[5, 0, 2999, 17]], atol=1e-6)  # exact vectors, even for ivfpq
    assert index.matrix.shape == (N, DIM)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf", "ivfpq"])
def test_the_loader_returns_the_contract(tmp_path, kind):
    built = FaissIndex.build(VECTORS, None, kind, PARAMS.get(kind))
    built.save(tmp_path)
    np.save(tmp_path / "vectors.npy", VECTORS)
    loaded = load_vector_index(tmp_path, json.loads(json.dumps(built.spec())), exact_subset_max=10)
    assert isinstance(loaded, VectorIndex) and len(loaded) == N
    assert [i for i, _ in loaded.search(QUERIES[:1], 5)[0]] == [i for i, _ in built.search(QUERIES[:1], 5)[0]]


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


@pytest.mark.parametrize("subset", [None, IDS[::97], IDS[IDS % 2 == 1], IDS[[3, 30, 300]], np.array([], np.int64)])
def test_top_is_search_for_one_query_as_arrays(index, subset):
    for q in QUERIES[:5]:
        ids, scores = index.top(q, 10, subset)
        assert ids.dtype == np.int64 and scores.dtype == np.float32 and len(ids) == len(scores)
        assert list(zip(ids.tolist(), scores.astype(np.float64).tolist())) == index.search(q, 10, subset)[0]


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


@pytest.mark.parametrize("kind", ["flat", *APPROXIMATE])
def test_save_and_memory_mapped_load_give_the_same_answers(tmp_path, kind):
    """A generation stores vectors.npy (row = passage id) beside the index; the spec is all load needs."""
    built = FaissIndex.build(VECTORS, None, kind, PARAMS.get(kind))
    built.save(tmp_path)
    np.save(tmp_path / "vectors.npy", VECTORS)
    spec = json.loads(json.dumps(built.spec()))  # as the manifest stores it
    assert set(spec) == {"type", "factory", "params", "file"} and spec["type"] == kind
    loaded = FaissIndex.load(tmp_path, spec, exact_subset_max=500)
    built.exact_subset_max = 500
    assert len(loaded) == N and loaded.kind == kind and loaded.factory == built.factory
    # Exact vectors are read from the mapped file, never copied: flat and HNSW through the vectors
    # index.faiss already stores (one copy in memory, not two), the compressed types from vectors.npy.
    if kind in ("flat", "hnsw"):
        assert not loaded.matrix.flags.owndata and not loaded.matrix.flags.writeable
        assert np.array_equal(loaded.matrix, VECTORS) and not isinstance(loaded.matrix, np.memmap)
    else:
        assert isinstance(loaded.matrix, np.memmap)
    narrow, wide = np.arange(0, N, 30), np.arange(0, N, 2)  # 100 ids: exact; 1500: through the selector
    for subset in (None, narrow, wide):
        got, want = loaded.search(QUERIES, 5, subset=subset), built.search(QUERIES, 5, subset=subset)
        assert [[i for i, _ in h] for h in got] == [[i for i, _ in h] for h in want]
        assert np.allclose([[s for _, s in h] for h in got], [[s for _, s in h] for h in want], atol=1e-6)


def test_factory_strings_are_faiss_factory_strings():
    """The manifest records the real faiss.index_factory string, and building from it gives the same type."""
    for kind in ["flat", *APPROXIMATE]:
        built = FaissIndex.build(VECTORS, None, kind, PARAMS.get(kind))
        again = faiss.index_factory(DIM, built.spec()["factory"], faiss.METRIC_INNER_PRODUCT)
        assert type(again) is type(built.index), kind
    assert FaissIndex.build(VECTORS, None, "hnsw").factory == "IDMap2,HNSW32,Flat"
    assert FaissIndex.build(VECTORS, None, "flat").factory == "IDMap2,Flat"


def test_vectors_file_must_match_the_index(tmp_path):
    built = FaissIndex.build(VECTORS, None, "flat")
    built.save(tmp_path)
    np.save(tmp_path / "vectors.npy", VECTORS[:10])
    with pytest.raises(ValueError, match="vectors.npy"):
        FaissIndex.load(tmp_path, built.spec())


def test_ivfpq_is_compressed_and_rescored_exactly():
    index = FaissIndex.build(VECTORS, IDS, "ivfpq", {"m": 8})
    codes = faiss.extract_index_ivf(index.index).code_size
    assert codes == 8 * index.params["nbits"] // 8 < 4 * DIM  # bytes per vector in the lists, not 128
    for pid, score in index.search(QUERIES[:3], 10)[0]:  # scores are true cosines, not PQ estimates
        assert score == pytest.approx(float(VECTORS[(pid - 7) // 3] @ QUERIES[0]), abs=1e-6)


def test_ivfpq_with_an_opq_rotation_keeps_the_contract():
    index = FaissIndex.build(VECTORS, IDS, "ivfpq", {"m": 8, "opq": True})
    assert index.factory.startswith("OPQ8,IVF") and isinstance(index.index, faiss.IndexPreTransform)
    assert recall(index.search(QUERIES, 10), REFERENCE.search(QUERIES, 10)) >= 0.95
    index.exact_subset_max = 0  # the IDSelector reaches the IVF inside the rotation
    subset = IDS[IDS % 2 == 1]
    assert all({i for i, _ in h} <= set(subset.tolist()) for h in index.search(QUERIES, 10, subset=subset))


def test_incremental_add_needs_no_retraining_and_tracks_drift():
    half = N // 2
    index = FaissIndex.build(VECTORS[:half], IDS[:half], "ivfpq", PARAMS["ivfpq"])
    quantizer = faiss.extract_index_ivf(index.index).quantizer
    centres = quantizer.reconstruct_n(0, quantizer.ntotal)
    index.add(VECTORS[half:], IDS[half:])
    assert len(index) == N
    assert np.array_equal(quantizer.reconstruct_n(0, quantizer.ntotal), centres)
    assert recall(index.search(QUERIES, 10), REFERENCE.search(QUERIES, 10)) >= 0.95
    assert 0.8 < index.drift < 1.25 and not index.needs_retrain  # same distribution: no drift
    far = clustered(500, 9) @ np.linalg.qr(np.random.default_rng(3).normal(size=(DIM, DIM)))[0]
    index.add(far.astype(np.float32), np.arange(500) + 10**6)  # vectors from elsewhere: drift
    assert index.needs_retrain and index.spec()["params"]["drift"] > 1.25


def test_a_trained_index_is_reused_without_retraining():
    first = FaissIndex.build(VECTORS[:2000], None, "ivfpq", PARAMS["ivfpq"])
    second = FaissIndex.build(VECTORS, None, "ivfpq", trained=first)
    assert second.factory == first.factory and len(second) == N and len(first) == 2000
    assert second.params["trained_on"] == first.params["trained_on"] and second.params["added"] == N


def test_empty_index_returns_no_hits():
    for kind in ["flat", "hnsw", "ivf", "ivfpq"]:
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
    assert choose_index_type("auto", 5_000_000, 200_000, 4_000_000) == "ivfpq"
    assert choose_index_type("auto", 3_000_000, 200_000, 4_000_000) == "hnsw"
    with pytest.raises(ValueError, match="index_type"):
        choose_index_type("bogus", 10, 10)


def test_auto_picks_each_type_at_the_measured_sizes():
    """The defaults (settings and library agree): flat to 100k, hnsw to 5M, ivfpq above (docs/scale.md)."""
    from search.settings import load_settings

    settings = load_settings(environ={})
    assert settings.compressed_threshold == 5_000_000 and settings.ann_threshold == 100_000
    pick = {n: choose_index_type(settings.index_type, n, settings.ann_threshold, settings.compressed_threshold)
            for n in (20_000, 100_000, 100_001, 1_000_000, 5_000_000, 5_000_001, 100_000_000)}
    assert pick == {20_000: "flat", 100_000: "flat", 100_001: "hnsw", 1_000_000: "hnsw", 5_000_000: "hnsw",
                    5_000_001: "ivfpq", 100_000_000: "ivfpq"}
    assert choose_index_type("auto", 100_000_000, 100_000) == "ivfpq"  # the library default is the same
    assert choose_index_type("auto", 100_000_000, 100_000, 0) == "hnsw"  # 0 turns ivfpq off


def test_exact_subset_threshold_is_sane():
    assert EXACT_SUBSET_MAX >= 1000


def test_stored_vectors_only_when_rows_are_passage_ids(tmp_path):
    """The in-index view is used only where row i of the index is passage i; otherwise vectors.npy."""
    from index.vectors import stored_vectors

    def mapped(index):
        faiss.write_index(index, str(tmp_path / "x.faiss"))
        return faiss.read_index(str(tmp_path / "x.faiss"), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)

    in_order = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    in_order.add_with_ids(VECTORS[:50], np.arange(50, dtype=np.int64))
    view = stored_vectors(mapped(in_order))
    assert view is not None and np.array_equal(view, VECTORS[:50])
    shuffled = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    shuffled.add_with_ids(VECTORS[:50], np.arange(50, dtype=np.int64)[::-1].copy())
    assert stored_vectors(mapped(shuffled)) is None
    assert stored_vectors(mapped(faiss.IndexFlatIP(DIM))) is None  # no id map: not a generation's index
