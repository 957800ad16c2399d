"""Retrieval quality features: fusion methods, the "no strong match" line, near-duplicate collapse,
keyword-aware highlighting. Real model and real FAISS on the seed statement."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.probes import PROBES
from search.errors import StatementSearchError
from search.fusion import Candidates, adaptive, coverage_gate, fuse, minmax, rrf, weighted
from index.passages import sentence_spans
from search.highlight import best_span
from search.settings import load_settings
from search.weak import weak_line
from web.schemas import Hit, SearchResults, dump

DATA = Path(__file__).parent / "data"
SEED_ID = "durov-2024-09-06"


# ---- fusion (pure functions) -------------------------------------------------------------

def test_rrf_rewards_agreement():
    fused = rrf([[(1, 0.9), (2, 0.8)], [(2, 7.0), (3, 5.0)]])
    assert fused[0][0] == 2
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_weighted_divides_bm25_by_its_best():
    fused = dict(weighted([(1, 0.5), (2, 0.4)], [(1, 2.0), (2, 8.0)], 0.5))
    assert fused[1] == pytest.approx(0.5 * 0.5 + 0.5 * 0.25)
    assert fused[2] == pytest.approx(0.5 * 0.4 + 0.5 * 1.0)


def test_minmax_scales_both_sides():
    fused = dict(minmax([(1, 0.5), (2, 0.3)], [(1, 1.0), (2, 3.0)], 0.75))
    assert fused[1] == pytest.approx(0.75)
    assert fused[2] == pytest.approx(0.25)


def test_adaptive_keyword_side_counts_by_share_of_ideal():
    # The same relative BM25 order, but a keyword match far from the ideal barely moves the ranking.
    vec, kw = [(1, 0.6), (2, 0.5)], [(1, 0.0), (2, 1.0)]
    assert adaptive(vec, kw, 0.5, ideal=20.0)[0][0] == 1
    assert adaptive(vec, kw, 0.5, ideal=1.0)[0][0] == 2
    assert weighted(vec, kw, 0.5)[0][0] == 2  # max-normalised: any keyword match looks perfect


def test_coverage_gate_is_linear_between_its_ends():
    assert coverage_gate(0.10, (0.15, 0.25)) == 0.0
    assert coverage_gate(0.20, (0.15, 0.25)) == pytest.approx(0.5)
    assert coverage_gate(0.60, (0.15, 0.25)) == 1.0
    assert coverage_gate(0.0, (0.0, 0.0)) == 1.0  # no gate: always in full
    assert coverage_gate(0.3, (0.3, 0.3)) == 1.0 and coverage_gate(0.29, (0.3, 0.3)) == 0.0


def test_gate_drops_a_weak_keyword_side_and_keeps_a_strong_one():
    vec = [(1, 0.6), (2, 0.5)]
    # Best keyword coverage 0.2 / 1.0 = 0.2: half way through the gate, the keyword side at half weight.
    weak = dict(adaptive(vec, [(1, 0.0), (2, 0.2)], 0.5, ideal=1.0, gate=(0.15, 0.25)))
    assert weak[2] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5 * 0.2)
    # A paraphrase-like question (best coverage 0.12) is ranked by the vectors alone.
    para = adaptive(vec, [(1, 0.0), (2, 0.12)], 0.5, ideal=1.0, gate=(0.15, 0.25))
    assert para[0][0] == 1 and dict(para)[2] == pytest.approx(0.25)
    # A question whose best match holds most of its terms keeps the full keyword weight.
    strong = dict(adaptive(vec, [(1, 0.0), (2, 0.8)], 0.5, ideal=1.0, gate=(0.15, 0.25)))
    assert strong[2] == pytest.approx(0.5 * 0.5 + 0.5 * 0.8)


@pytest.mark.parametrize("method", ["adaptive", "weighted", "minmax"])
def test_fuse_on_arrays_equals_the_reference_functions(method):
    rng = np.random.default_rng(3)
    ids = sorted(rng.choice(10_000, 500, replace=False).tolist())
    cosines = list(zip(ids, rng.uniform(-0.2, 0.9, 500).astype(np.float32).tolist()))
    bm25 = list(zip(ids, np.where(rng.random(500) < 0.4, 0, rng.uniform(0, 30, 500)).tolist()))
    bm25[7] = (bm25[7][0], bm25[9][1])  # a tie on one side
    c = Candidates(cosines[:100], bm25[:100], cosines, bm25, ideal=40.0)
    reference = {"adaptive": lambda: adaptive(cosines, bm25, 0.5, 40.0, (0.15, 0.25)),
                 "weighted": lambda: weighted(cosines, bm25, 0.5), "minmax": lambda: minmax(cosines, bm25, 0.5)}
    assert fuse(method, c, 0.5, (0.15, 0.25)) == reference[method]()


def test_unknown_fusion_is_a_search_error():
    with pytest.raises(StatementSearchError) as err:
        fuse("magic", Candidates([(1, 0.1)], [(1, 1.0)], [(1, 0.1)], [(1, 1.0)]), 0.5)
    assert err.value.code == "bad_setting"


def test_ideal_bm25_bounds_every_score(seed_searcher):
    query = "encryption keys surveillance Russia"
    ideal = seed_searcher.gen.keyword.ideal_score(query)
    scores = seed_searcher.gen.keyword.scores(query)
    assert 0 < scores.max() < ideal


@pytest.mark.parametrize("fusion", ["adaptive", "weighted", "minmax", "rrf"])
def test_every_fusion_finds_the_encryption_paragraph(seed_searcher, fusion):
    searcher = _with(seed_searcher, fusion=fusion)
    hits = searcher.search("Why was Telegram banned in Russia?", k=3, mode="hybrid").hits
    assert any("encryption keys" in h.text for h in hits)


def _with(searcher, **changes):
    """The same loaded searcher under other settings (tests only change ranking settings)."""
    return searcher.with_settings(**changes)


# ---- "no strong match" -------------------------------------------------------------------

IN_SCOPE = [line.strip() for line in (DATA / "in_scope_seed.txt").read_text().splitlines() if line.strip()]
OUT_OF_SCOPE = [line.strip() for line in (DATA / "out_of_scope.txt").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_out_of_scope_questions_are_weak(seed_searcher, mode):
    for question in OUT_OF_SCOPE:
        response = seed_searcher.search(question, k=5, mode=mode)
        assert all(h.weak for h in response.hits), question
        assert not response.strong
        assert all(r["weak"] is True for r in dump(SearchResults.of(response))["results"])


def test_in_scope_questions_have_a_strong_top_hit(seed_searcher):
    assert len(IN_SCOPE) >= 10
    for question in IN_SCOPE:
        for mode in ("hybrid", "vector", "keyword"):
            response = seed_searcher.search(question, k=5, mode=mode)
            assert response.hits and not response.hits[0].weak, (mode, question)
            assert response.strong


def test_weak_line_is_a_setting(seed_searcher):
    question = "Why was Telegram banned in Russia?"
    assert not _with(seed_searcher, weak_below=0.0).search(question, k=3).hits[0].weak
    assert all(h.weak for h in _with(seed_searcher, weak_below=1.01).search(question, k=3).hits)
    assert load_settings(environ={"STATEMENT_SEARCH_WEAK_BELOW": "0.5"}).weak_below == 0.5


def test_weak_line_is_the_probe_quantile_never_below_the_floor():
    manifest = [0.1, 0.2, 0.3, 0.4, 0.5]  # Manifest.probes
    assert weak_line(manifest, 0.30, 0.5) == pytest.approx(0.30)      # median 0.3, floor 0.3
    assert weak_line(manifest, 0.30, 0.75) == pytest.approx(0.40)
    assert weak_line(manifest, 0.45, 0.75) == pytest.approx(0.45)     # the floor wins
    assert weak_line(manifest, 0.30, 0.0) == pytest.approx(0.30)      # quantile 0: floor only
    assert weak_line((), 0.25, 0.9) == pytest.approx(0.25)            # an index without probes


def test_index_measures_its_probes_and_a_single_statement_keeps_the_floor(seed_searcher):
    probes = seed_searcher.manifest.probes
    assert len(PROBES) == len(probes)
    assert max(probes) < 0.30  # nothing in one statement is close to everyday questions
    assert seed_searcher.weak_line == pytest.approx(seed_searcher.settings.weak_below)
    assert seed_searcher.stats().weak_line == pytest.approx(0.30)
    assert not set(PROBES) & set(OUT_OF_SCOPE)  # the held-out questions are not the calibration ones


EVERYDAY = [
    "To bake bread, knead the dough for ten minutes, let it rise for an hour and bake it at 220 degrees.",
    "Feed an adult cat twice a day and keep fresh water in its bowl.",
    "Plant tulip bulbs in autumn, about ten centimetres deep, in soil that drains well.",
    "A tennis serve starts with the ball toss; keep it in front of you and hit at full stretch.",
    "Clean a microwave by heating a bowl of water with lemon for three minutes, then wipe it.",
]


def test_a_broad_corpus_raises_its_line(tmp_path, embedder):
    from index.build import build_index
    from search.searcher import Searcher

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_text((DATA.parent.parent / "data" / "statements" / f"{SEED_ID}.txt").read_text())
    (corpus / "everyday.txt").write_text("Title: Household notes\n\n" + "\n\n".join(EVERYDAY) + "\n")
    build_index(corpus, tmp_path / "index", embedder)
    searcher = Searcher(tmp_path / "index", load_settings(environ={}), embedder)
    # 0.38 here (over 0.40 before passages carried their statement's heading, "Household notes", which
    # moves them a little away from the bare everyday probes): well above the single statement's floor
    assert searcher.weak_line > searcher.settings.weak_below + 0.05
    response = searcher.search("What is the weather like on Mars today?", k=5, mode="vector")
    line = searcher.weak_line
    for hit in response.hits:
        cosine = float(searcher.gen.vectors[hit.id] @ searcher.embed_question("What is the weather like on Mars today?"))
        assert hit.weak == (cosine < line)


# ---- near-duplicates ---------------------------------------------------------------------

REPEATED = ("When Russia asked us to hand over encryption keys for surveillance, we refused and "
            "Telegram was banned for that. We are ready to leave markets that are incompatible with our principles.")


@pytest.fixture(scope="module")
def repost_searcher(tmp_path_factory, embedder):
    """Three statements: the same paragraph re-posted (once with other quotes and spacing) plus unrelated text."""
    from index.build import build_index
    from search.searcher import Searcher

    corpus = tmp_path_factory.mktemp("reposts") / "corpus"
    corpus.mkdir()
    (corpus / "original.txt").write_text(
        f"Speaker: Pavel Durov\nDate: 2024-09-06\n\n{REPEATED}\n\nWe publish daily transparency reports.\n")
    (corpus / "repost.txt").write_text(
        "Speaker: A Channel\nDate: 2024-09-07\n\nA channel re-posted the founder's words today.\n\n"
        + REPEATED.replace("encryption keys", "“encryption keys”").replace(". We", ".  We") + "\n")
    (corpus / "quote.txt").write_text(
        "Speaker: A Newspaper\nDate: 2024-09-08\n\nThe statement was widely quoted by the press.\n\n"
        + REPEATED.upper() + "\n\nThe weather was fine in Paris.\n")
    index = corpus.parent / "index"
    build_index(corpus, index, embedder)
    return Searcher(index, load_settings({"index": index}, environ={}), embedder)


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_repeated_paragraph_appears_once_listing_the_others(repost_searcher, mode):
    response = repost_searcher.search("Why was Telegram banned after the surveillance request?", k=10, mode=mode)
    copies = [h for h in response.hits if "surveillance" in h.text.lower()]
    assert len(copies) == 1
    hit = copies[0]
    others = {d.id for d in hit.duplicates}
    assert others == {"original", "repost", "quote"} - {hit.document.id}
    assert {d["id"] for d in dump(Hit.of(hit))["duplicates"]} == others
    assert all(not h.duplicates for h in response.hits if h is not hit)


def test_collapse_keeps_distinct_paragraphs(repost_searcher):
    response = repost_searcher.search("transparency reports and the weather in Paris", k=10)
    texts = [h.text for h in response.hits]
    assert len(texts) == len(set(texts))
    assert any("transparency" in t for t in texts) and any("weather" in t for t in texts)
    assert repost_searcher.passages == 7 and len(texts) == 5  # 7 passages, 2 of them copies


# ---- keyword-aware highlight -------------------------------------------------------------

def test_highlight_prefers_the_sentence_with_the_rare_keyword(embedder):
    text = ("Our platform cares deeply about the safety of every user. "
            "The Zorblax protocol was retired in March. "
            "We keep improving our tools for everyone.")
    query = "When was Zorblax retired?"
    spans = sentence_spans(text)
    span = best_span(query, embedder.encode([query])[0], text, spans, embedder.encode([text[a:b] for a, b in spans]))
    assert text[span.start:span.end] == "The Zorblax protocol was retired in March."


def test_highlight_on_a_real_hit_is_a_whole_sentence(seed_searcher):
    hit = seed_searcher.search("What happened when Iran asked to block protesters?", k=1).hits[0]
    sentence = hit.text[hit.highlight.start:hit.highlight.end]
    assert "Iran" in sentence and sentence.endswith(".")
    assert 0 <= hit.highlight.start < hit.highlight.end <= len(hit.text)


def test_highlight_single_sentence_is_whole_text(embedder):
    text = "Telegram deletes millions of harmful posts every day."
    span = best_span("harmful posts", embedder.encode(["harmful posts"])[0], text, [], np.zeros((0, 384)))
    assert (span.start, span.end) == (0, len(text))


def test_highlight_is_the_best_sentence_computed_from_scratch(seed_searcher, embedder):
    """The stored sentence vectors give the span a fresh model call would: cosine + keyword share."""
    from search.highlight import KEYWORD_WEIGHT, terms

    checked = 0
    for question in IN_SCOPE[:6]:
        qvec = embedder.encode([question])[0]
        for hit in seed_searcher.search(question, k=5).hits:
            spans = sentence_spans(hit.text)
            if len(spans) < 2:
                continue
            fresh = embedder.encode([f"{hit.context}\n{hit.text[a:b]}" if hit.context else hit.text[a:b]
                                     for a, b in spans])
            q_terms = terms(question)
            scores = [float(fresh[i] @ qvec) + KEYWORD_WEIGHT * len(q_terms & terms(hit.text[a:b])) / len(q_terms)
                      for i, (a, b) in enumerate(spans)]
            assert (hit.highlight.start, hit.highlight.end) == spans[int(np.argmax(scores))], (question, hit.id)
            checked += 1
    assert checked >= 10


def test_paragraph_keys_are_read_once_per_passage(repost_searcher):
    """The collapse normalises a passage's text once per generation: a second question over the same
    passages reads no text from the store, and gives the same collapse."""
    from search.duplicates import ParagraphKeys, collapse_duplicates

    store = repost_searcher.store
    reads: list[int] = []

    class CountingStore:
        def texts(self, ids):
            reads.extend(ids)
            return store.texts(ids)

        def passages(self, ids):
            return store.passages(ids)

    keys = ParagraphKeys(CountingStore())
    ranked = [(pid, 1.0 - pid / 100) for pid in range(repost_searcher.passages)]
    first = collapse_duplicates(CountingStore(), ranked, None, keys)
    assert sorted(reads) == list(range(repost_searcher.passages))
    reads.clear()
    again = collapse_duplicates(CountingStore(), list(reversed(ranked)), None, keys)
    assert reads == []
    assert len(again[0]) == len(first[0]) < len(ranked)  # the three copies fold into one either way
    assert ParagraphKeys(store, size=2).of(list(range(3))) == keys.of(list(range(3)))  # a full table starts again
