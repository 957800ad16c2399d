import numpy as np
import pytest

from index.manifest import read_manifest
from index.vectors import FaissIndex, NumpyIndex
from search.errors import SearchError
from search.filters import make_filters
from conftest import ENCRYPTION_PARAGRAPH


def test_telegram_russia_question_finds_encryption_keys_paragraph(seed_searcher):
    response = seed_searcher.search("Why was Telegram banned in Russia?", k=5)
    top = response.hits[0]
    assert ENCRYPTION_PARAGRAPH in top.text
    sentence = top.text[top.highlight.start:top.highlight.end]
    assert "Telegram was banned for that" in sentence
    assert isinstance(top.score, float)
    assert top.document.source == "DuRove's Channel" and top.document.date == "2024-09-06"
    assert top.of == 13 and 1 <= top.paragraph <= 13


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_noise_lines_are_never_passages(seed_searcher, mode):
    for question in ["5ngh2y9nmCr3liXQh62dR3fNDkUfJ4KCNnzirYBJ.jpeg", "Source: DuRove's Channel", "jpeg image"]:
        for hit in seed_searcher.search(question, k=100, mode=mode).hits:
            assert ".jpeg" not in hit.text and not hit.text.startswith("Source:")


def test_hits_are_typed_and_never_padded(seed_searcher):
    response = seed_searcher.search("privacy and security", k=100, mode="vector")
    assert len(response.hits) == 13  # fewer passages than k: no -1 padding
    ids = [h.id for h in response.hits]
    assert len(set(ids)) == 13 and min(ids) >= 0
    for h in response.hits:
        assert 0 <= h.highlight.start < h.highlight.end <= len(h.text)
    scores = [h.score for h in response.hits]
    assert scores == sorted(scores, reverse=True)


def test_paging_is_consistent(seed_searcher):
    full = [h.id for h in seed_searcher.search("telegram users", k=6).hits]
    page2 = [h.id for h in seed_searcher.search("telegram users", k=3, offset=3).hits]
    assert page2 == full[3:6]


def test_neighbours_on_request(seed_searcher):
    hit = seed_searcher.search("encryption keys", k=1, neighbours=True).hits[0]
    assert {n.paragraph for n in hit.neighbours} == {hit.paragraph - 1, hit.paragraph + 1}
    assert seed_searcher.search("encryption keys", k=1).hits[0].neighbours == ()


@pytest.mark.parametrize("query,k,offset,code", [
    ("", 10, 0, "invalid_query"), ("   \n", 10, 0, "invalid_query"), ("x" * 1001, 10, 0, "query_too_long"),
    ("ok", 0, 0, "invalid_k"), ("ok", 101, 0, "invalid_k"), ("ok", "ten", 0, "invalid_k"),
    ("ok", 10, -1, "invalid_offset"), (None, 10, 0, "invalid_query"),
])
def test_bad_requests_raise_one_error_type(seed_searcher, query, k, offset, code):
    with pytest.raises(SearchError) as err:
        seed_searcher.search(query, k=k, offset=offset)
    assert err.value.code == code and err.value.message


def test_bad_mode_and_sort(seed_searcher):
    with pytest.raises(SearchError, match="mode"):
        seed_searcher.search("x", mode="magic")
    with pytest.raises(SearchError, match="sort"):
        seed_searcher.search("x", sort="alphabetical")


def test_faiss_equals_brute_force_numpy(seed_index, seed_searcher, embedder):
    vectors = np.load(seed_index / "vectors.npy")
    faiss_index = FaissIndex.load(seed_index, read_manifest(seed_index).index)
    reference = NumpyIndex(vectors)
    queries = embedder.encode(["encryption keys", "police in Paris", "growing pains", "moderation hotline"])
    for k in (1, 5, 13, 50):
        got, want = faiss_index.search(queries, k), reference.search(queries, k)
        for g, w in zip(got, want):
            assert [i for i, _ in g] == [i for i, _ in w]
            assert np.allclose([s for _, s in g], [s for _, s in w], atol=1e-5)
    subset = np.array([2, 5, 7])
    assert {i for i, _ in faiss_index.search(queries[:1], 10, subset)[0]} == {2, 5, 7}


def test_date_filter_excludes_everything_outside_range(seed_searcher):
    response = seed_searcher.search("telegram", k=5, filters=make_filters(before="2000-01-01"))
    assert response.hits == ()
    response = seed_searcher.search("telegram", k=5, filters=make_filters(after="2024-09-01", before="2024-09-30"))
    assert len(response.hits) == 5
