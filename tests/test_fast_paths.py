"""The faster paths give what the slower ones gave: fusion from the ranker's arrays, verify's shallow
ranking against two full searches, and the skipped alignments of a quote check."""
from __future__ import annotations

import dataclasses

import hypothesis

import pytest

from search.fusion import fuse
from search.quotes import align, quote_tokens, tokens, words
from search.verify import VerifyLines, could_match, is_altered, search_text, shallow_hits

QUESTIONS = ["privacy and encryption of messages", "What did they say about the budget?",
             "freedom of speech", "zzz unrelated words qqq"]


@pytest.mark.parametrize("method", ["adaptive", "weighted", "minmax", "rrf"])
def test_fusion_from_arrays_equals_fusion_from_tuples(seed_searcher, method):
    ranker = seed_searcher.ranker
    for question in QUESTIONS:
        c = ranker.candidates(question, seed_searcher.embed_question(question), 1000)
        assert c.arrays is not None and len(c.arrays[0]) == len(c.cosines)
        plain = dataclasses.replace(c, arrays=None)
        assert fuse(method, c, 0.6, (0.2, 0.3)) == fuse(method, plain, 0.6, (0.2, 0.3))
        assert [pid for pid, _ in c.cosines] == sorted({pid for pid, _ in [*c.vector, *c.keyword]})


@pytest.mark.parametrize("mode", ["vector", "keyword"])
def test_shallow_hits_are_the_hits_of_a_search(seed_searcher, mode):
    for quote in ["We remove millions of harmful posts and channels every day.", *QUESTIONS]:
        text = search_text(quote)
        hits = seed_searcher.search(text, k=30, mode=mode, phrases=False).hits
        shallow = shallow_hits(seed_searcher, text, seed_searcher.embed_question(text), mode, 30, None)
        assert shallow == [(h.id, h.score) for h in hits]


def test_could_match_never_skips_a_verbatim_or_altered_alignment(seed_searcher):
    """Every passage of the seed index against quotes of each kind: a skipped alignment was neither."""
    lines = VerifyLines()
    rows = seed_searcher.store.passages(list(range(seed_searcher.passages)))
    texts = [row["text"] for row in rows.values()]
    quotes = [texts[0][:120], texts[1].replace(" the ", " a ")[:150], "privacy is not for sale",
              "We are not in this to make money, and never were.", "one two"]
    skipped = 0
    for quote in quotes:
        toks = quote_tokens(quote)
        for text in texts:
            passage = tokens(text)
            assert words(text) == [t.word for t in passage]
            a = align(quote, toks, text, passage)
            if not could_match(toks, set(words(text)), lines):
                skipped += 1
                assert not a.verbatim and not is_altered(a, len(toks), lines)
    assert skipped  # the check does skip work


def test_encoder_stamp_spares_the_hash_but_a_changed_file_is_refused(tmp_path, monkeypatch):
    import os
    import shutil

    from index import onnx_backend
    from index.embedder import file_sha256

    path = tmp_path / "model.onnx"
    path.write_bytes(b"graph" * 1000)
    sha = file_sha256(path)
    st = path.stat()
    stamp = {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    hashed = []
    monkeypatch.setattr(onnx_backend, "file_sha256", lambda p: hashed.append(p) or file_sha256(p))
    assert onnx_backend.encoder_matches(path, sha, stamp) and hashed == []  # the stamp: no hash
    assert onnx_backend.encoder_matches(path, sha, {}) and len(hashed) == 1  # an older manifest: hashed
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(path, copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert onnx_backend.encoder_matches(copy, sha, stamp)  # same bytes, another mtime: hashed, accepted
    path.write_bytes(b"GRAPH" * 1000)  # rewritten in place, same size
    assert not onnx_backend.encoder_matches(path, sha, stamp)
    path.write_bytes(b"graph" * 999)  # truncated: refused by its size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not onnx_backend.encoder_matches(path, sha, stamp)


def test_row_dots_equal_numpy_products():
    import numpy as np

    from index.dots import row_dots

    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((300, 16)).astype(np.float32)
    vector = rng.standard_normal(16).astype(np.float32)
    rows = rng.integers(0, 300, 1000)
    assert np.allclose(row_dots(matrix, rows, vector), matrix[rows] @ vector, atol=1e-5)
    half = matrix.astype(np.float16)  # an older generation's sentence vectors: NumPy's path, same values
    assert np.allclose(row_dots(half, rows, vector), half[rows].astype(np.float32) @ vector, atol=1e-5)
    assert row_dots(matrix, np.array([], dtype=np.int64), vector).shape == (0,)
    for bad in ([300], [-1]):
        with pytest.raises(IndexError):
            row_dots(matrix, np.array(bad), vector)


def test_facets_and_timeline_count_what_counting_passage_by_passage_counts(seed_searcher):
    """The per-statement counting of facets and the timeline against the plain per-passage count."""
    from collections import Counter

    import numpy as np

    table = seed_searcher.table
    rng = np.random.default_rng(11)
    for size in (0, 1, 7, seed_searcher.passages):
        ids = rng.choice(seed_searcher.passages, size, replace=False).tolist()
        docs = [table.passage_doc[p] for p in ids]
        expected = {"speaker": Counter(table.speaker_label[d] for d in docs if table.speaker_label[d]),
                    "year": Counter(table.date[d][:4] for d in docs if table.date[d]),
                    "language": Counter(table.language[p] for p in ids)}
        got = table.facets(iter(ids), size=1000)
        assert {name: {f.value: f.count for f in facets} for name, facets in got.items()} == expected
        timeline = Counter((table.date[d][:4], table.speaker_label[d]) for d in docs if table.date[d])
        assert {(y, s): n for y, s, n in table.year_speakers(ids)} == timeline
        assert table.vector_readable(ids).tolist() == [table.language[p] in ("en", "und") for p in ids]
    assert table.vector_readable([10**9, -5]).tolist() == [True, True]  # outside the table: readable


@pytest.mark.parametrize("languages", [None, ("en",), ("en", "ru", "uk"), ("en", "fr")])
def test_batched_word_analysis_equals_one_word_at_a_time(languages):
    """The plan analyses a question's words in one call per language: the same terms as word by word."""
    from index import analysis

    questions = ["Why was the app banned in Russia?", "Дуров заявил о блокировке Телеграма в России",
                 "Що сказав Зеленський про свободу", "la politique des banques nationales", "the of and",
                 "Telegram і Дуров: заборона in Iran", "x"]
    for question in questions:
        words = analysis.TOKEN.findall(question)
        if languages is None:
            assert analysis.analyse(words) == [analysis.analyse([w])[0] for w in words]
            continue
        chosen = analysis.question_languages(question, languages)
        assert analysis.analyse_words(words, chosen) == [analysis.analyse_question(w, chosen) for w in words]


def test_passage_rows_carry_their_statements_passage_count(seed_index):
    """PassageStore.passages reads `n` from a per-store cache of documents.passages, not the join: each row's n
    is the column's value, asked cold, warm, and for a mix of statements."""
    import sqlite3

    from index.layout import DB_FILE
    from index.store import PassageStore

    want = dict(sqlite3.connect(seed_index / DB_FILE).execute("SELECT id, passages FROM documents").fetchall())
    store = PassageStore(seed_index / DB_FILE)
    try:
        ids = [r[0] for r in store.conn.execute("SELECT id FROM passages ORDER BY id")]
        for part in (ids[:1], ids[::3], ids, ids[-2:]):
            rows = store.passages(part)
            assert sorted(rows) == sorted(part)
            assert all(row["n"] == want[row["doc_id"]] and row["id"] == pid for pid, row in rows.items())
        assert store.document_sizes(["no such statement", *want]) == want
    finally:
        store.close()


def test_pairs_lookup_finds_each_score_by_id_and_says_which_are_missing():
    import numpy as np

    from search.fusion import Pairs

    rng = np.random.default_rng(3)
    ids = rng.choice(10_000, 500, replace=False)
    scores = rng.standard_normal(500)
    table = Pairs(ids, scores).by_id()
    assert np.all(np.diff(table.ids) > 0) and dict(table) == dict(zip(ids.tolist(), scores.tolist()))
    asked = np.concatenate([ids[::3], [10_001, -1, 0, 10**9]])
    got, found = table.lookup(asked)
    expected = dict(zip(ids.tolist(), scores.tolist()))
    assert found.tolist() == [a in expected for a in asked.tolist()]
    assert got[found].tolist() == [expected[a] for a in asked[found].tolist()]
    empty, none = Pairs(np.zeros(0, dtype=np.int64), np.zeros(0)).lookup(asked)
    assert not none.any() and len(empty) == len(asked)
    assert Pairs.of([(5, 0.5), (2, 0.25)]).by_id() == [(2, 0.25), (5, 0.5)]


@pytest.mark.parametrize("need", [None, 1, 3, 10])
def test_collapsed_head_and_the_untouched_rest_are_the_collapsed_ranking(seed_searcher, need):
    from search.duplicates import collapse_duplicates, collapse_head
    from search.fusion import Pairs

    for question in QUESTIONS:
        ranked, _ = seed_searcher.ranker.rank_with_cosines(question, seed_searcher.embed_question(question), 1000,
                                                          "hybrid")
        assert isinstance(ranked, Pairs)
        kept, copies, limit = collapse_head(seed_searcher.store, ranked, need, seed_searcher.paragraphs)
        whole, whole_copies = collapse_duplicates(seed_searcher.store, list(ranked), need, seed_searcher.paragraphs)
        assert kept + list(ranked)[limit:] == whole and copies == whole_copies
        assert limit == len(ranked) if need is None else (len(kept) >= need or limit == len(ranked))


def test_weak_flags_read_known_scores_and_compute_the_rest(seed_searcher):
    import numpy as np

    from search.fusion import Pairs

    question = "privacy and encryption of messages"
    qvec = seed_searcher.embed_question(question)
    ids = np.arange(seed_searcher.passages, dtype=np.int64)
    cosines = seed_searcher.ranker.cosines(ids, qvec).astype(np.float64)
    expected = (cosines < seed_searcher.weak_line).tolist()
    assert 0 < sum(expected) < len(expected)  # both kinds, or the test says nothing
    half = Pairs(ids[::2], cosines[::2])  # known for every other passage: the rest are computed
    for known in (None, half, Pairs(ids, cosines)):
        assert seed_searcher.weak_flags(qvec, ids[::-1], known).tolist() == expected[::-1]


def test_facets_and_timeline_by_statement_codes_equal_the_counters_they_replaced():
    """Counted by bincount over statement codes: the same counts and order as Counters over statements,
    with unlabelled, empty-labelled and undated statements, and a removed passage (no statement)."""
    from collections import Counter

    import numpy as np

    from search.filters import DocumentTable

    class Store:
        docs = [("a", "Lincoln", "1861-03-04", None), ("b", None, "1861-12-03", None), ("c", "", "1861-05-01", None),
                ("d", "Grant", "", None), ("e", "Lincoln", "1862-12-01", None), ("f", None, "1862-01-01", None)]

        def document_metadata(self):
            return self.docs

        def passage_documents(self):
            return [(pid, self.docs[pid % 6][0]) for pid in range(40) if pid != 17]

        def passage_languages(self):
            return [(pid, "en") for pid in range(40)]

    table = DocumentTable(Store())
    assert table.passage_doc[17] == -1
    rng = np.random.default_rng(2)
    for size in (0, 1, 5, 39):
        ids = rng.choice([p for p in range(40) if p != 17], size, replace=False).tolist() + [17]
        docs = [table.passage_doc[p] for p in ids if table.passage_doc[p] >= 0]
        pairs: Counter = Counter()
        for doc in sorted(docs):  # the statements in order, as np.unique gave them
            if table.date[doc]:
                pairs[(table.date[doc][:4], table.speaker_label[doc])] += 1
        expected = tuple((y, s, n) for (y, s), n in sorted(pairs.items(), key=lambda x: (x[0][0], x[0][1] or "")))
        assert table.year_speakers(ids) == expected
        speakers = Counter(table.speaker_label[d] for d in docs if table.speaker_label[d])
        facets = table.facets(ids)
        assert [(f.value, f.count) for f in facets["speaker"]] == sorted(speakers.items(), key=lambda x: (-x[1], x[0]))


_NOT_WORD_KEY = __import__("re").compile(r"[\W_]+")


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(hypothesis.strategies.text(alphabet=hypothesis.strategies.characters(max_codepoint=127))
                  | hypothesis.strategies.text())
def test_paragraph_key_fast_path_equals_the_unicode_regex(text):
    from search.duplicates import paragraph_key

    assert paragraph_key(text) == _NOT_WORD_KEY.sub(" ", text.lower()).strip()


@pytest.mark.parametrize("text", ["", "  ", "A_b", "Don't—stop!", "\t\x00Tab\x7f\x0bEND\n", "État 1861", "ÀB_c d",
                                  "Mr. President,\n\nthe \"Union\" is 100% strong."])
def test_paragraph_key_on_edges(text):
    from search.duplicates import paragraph_key

    assert paragraph_key(text) == _NOT_WORD_KEY.sub(" ", text.lower()).strip()


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(hypothesis.strategies.text(alphabet=hypothesis.strategies.characters(max_codepoint=127))
                  | hypothesis.strategies.text())
def test_scripts_fast_path_counts_as_naming_each_letter(text):
    import unicodedata

    from index.language import scripts

    slow: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            key = name.split(" ", 1)[0].lower() if name else "other"
            slow[key] = slow.get(key, 0) + 1
    assert scripts(text) == slow
    assert scripts("Why was the app banned in Russia? 2018") == {"latin": 26}
