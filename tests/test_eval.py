"""The BEIR evaluation path on a tiny folder made here, with the real model."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import SHARED_SCIFACT, needs_shared

from search.errors import SearchError
from search.evaluate import evaluate, fold, load_dataset, prepare_index, statement_text
from search.settings import load_settings
from web.cli import main

FILLER = ("The committee reviewed the annual budget, staffing levels and the schedule of routine "
          "maintenance for the regional offices, and agreed to revisit the matter next spring. ")
DOCS = [
    {"_id": "d1", "title": "Honeybee navigation", "text": "Bees use the position of the sun to find their way back to the hive."},
    {"_id": "d2", "title": "Glacier retreat", "text": "Alpine glaciers have lost a large share of their ice mass since 1900."},
    {"_id": "d3", "title": "Volcanic soils", "text": "Ash from eruptions makes the surrounding farmland unusually fertile."},
    # long: the answer sits far past the first passage, so it must be found by its best passage
    {"_id": "d4", "title": "Annual report", "text": FILLER * 14 + "Octopuses can change the colour of their skin in a fraction of a second."},
    {"_id": "d5", "title": "Tidal energy in the Bay of Fundy", "text": "Turbines are anchored on the sea floor."},
    {"_id": "d6", "title": "", "text": "Coffee plants grow best in shaded highland plantations."},
]
QUERIES = [
    {"_id": "q1", "text": "How do honeybees navigate home?"},
    {"_id": "q2", "text": "How fast can an octopus change colour?"},
    {"_id": "q3", "text": "Where is tidal power generated in Canada?"},  # matched through the title
    {"_id": "q4", "text": "Why is land near volcanoes good for crops?"},
    {"_id": "q9", "text": "an unjudged query"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td4\t1\nq3\td5\t1\nq4\td3\t1\n"


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beir") / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (folder / "qrels" / "test.tsv").write_text(QRELS)
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq4\td3\t1\n")
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("eval-cache")


def test_load_dataset_keeps_judged_queries(beir):
    data = load_dataset(beir, "test")
    assert set(data.queries) == {"q1", "q2", "q3", "q4"}
    assert data.qrels["q2"] == {"d4": 1}
    assert set(load_dataset(beir, "train").queries) == {"q4"}


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_evaluate_finds_every_answer(beir, cache, embedder, mode):
    result = evaluate(beir, load_settings(environ={}), split="test", mode=mode, cache=cache, embedder=embedder)
    assert result["queries"] == 4 and result["mode"] == mode
    # keyword search cannot match "volcanoes ... crops" to "volcanic ... farmland"; the others can
    assert result["recall@100"] == (0.75 if mode == "keyword" else 1.0)
    if mode != "keyword":
        assert result["ndcg@10"] == pytest.approx(1.0)
        assert result["mrr@10"] == pytest.approx(1.0)
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p95"]


def test_index_goes_through_build_and_is_cached(beir, cache, embedder):
    from search.searcher import Searcher

    index = prepare_index(beir, embedder, cache)
    generation = index.resolve()
    assert prepare_index(beir, embedder, cache).resolve() == generation  # no rebuild
    searcher = Searcher(index, load_settings(environ={}), embedder)
    assert searcher.manifest.counts.documents == len(DOCS)
    assert searcher.passages > len(DOCS)  # the long document was split
    long_doc = searcher.document("d4")
    assert len(long_doc.passages) > 1
    assert all(p.context == "Annual report:" for p in long_doc.passages)  # the title in every passage


def test_first_passage_only_misses_what_truncation_misses(beir, cache, embedder):
    # d4's answer is past its first passage: a document scored by its first passage alone (the
    # published one-vector-per-document setups) loses it; the best-passage path does not.
    settings = load_settings(environ={})
    first = evaluate(beir, settings, split="test", mode="vector", cache=cache, embedder=embedder, passages="first")
    best = evaluate(beir, settings, split="test", mode="vector", cache=cache, embedder=embedder)
    assert first["passages"] == "first" and first["queries"] == 4
    assert first["mrr@10"] < best["mrr@10"] == pytest.approx(1.0)
    with pytest.raises(SearchError, match="passages must be"):
        evaluate(beir, settings, split="test", mode="vector", cache=cache, embedder=embedder, passages="some")


def test_title_is_a_lead_in():
    assert statement_text("A title.", "Body text.") == "A title:\n\nBody text."
    assert statement_text("", "Body text.") == "Body text."


def test_fold_scores_a_document_by_its_best_passage():
    doc_of = ["a", "a", "b", "c"]
    assert fold([(1, 0.9), (2, 0.8), (0, 0.7), (3, 0.1)], doc_of, depth=2) == {"a": 0.9, "b": 0.8}


def test_cli_eval_json(beir, cache):
    result = CliRunner().invoke(main, ["eval", "--dataset", str(beir), "--split", "test", "--mode", "vector",
                                       "--cache", str(cache), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50", "latency_ms_p95", "queries"):
        assert key in out
    assert out["queries"] == 4 and out["ndcg@10"] == pytest.approx(1.0)


def test_cli_eval_text(beir, cache):
    result = CliRunner().invoke(main, ["eval", "--dataset", str(beir), "--split", "train", "--cache", str(cache)])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.stdout and "p95" in result.stdout


def test_cli_eval_bad_folder(tmp_path):
    result = CliRunner().invoke(main, ["eval", "--dataset", str(tmp_path)])
    assert result.exit_code != 0
    assert "not a BEIR folder" in result.output and "Traceback" not in result.output


def test_bad_split_and_bad_qrels(beir, tmp_path):
    with pytest.raises(SearchError):
        load_dataset(beir, "validation")
    bad = tmp_path / "bad"
    (bad / "qrels").mkdir(parents=True)
    (bad / "corpus.jsonl").write_text("")
    (bad / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    (bad / "qrels" / "test.tsv").write_text("q1\td1\tnot-a-number\n")
    with pytest.raises(SearchError, match="not a number"):
        load_dataset(bad, "test")


SCIFACT = SHARED_SCIFACT


@pytest.mark.slow
@needs_shared(SCIFACT / "corpus.jsonl")
# The targets with the defaults (docs/quality.md): keyword >= 0.67, hybrid >= 0.73, and the
# vector pipeline within 0.01 of the published 0.645 when documents are scored as the published
# setup sees them (first passage only); the production best-passage path scores above it (0.663).
@pytest.mark.parametrize("mode,passages,low,high", [
    ("vector", "first", 0.635, 0.655), ("vector", "all", 0.645, 0.68),
    ("keyword", "all", 0.67, 1.0), ("hybrid", "all", 0.73, 1.0)])
def test_scifact_test_split_targets(embedder, mode, passages, low, high):
    """The real SciFact test split (minutes the first time: the index is built into state/eval)."""
    result = evaluate(SCIFACT, load_settings(environ={}), split="test", mode=mode, embedder=embedder,
                      passages=passages)
    assert result["queries"] == 300
    assert low <= result["ndcg@10"] <= high
