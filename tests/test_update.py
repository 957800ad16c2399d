"""Live additions and removals (index/update.py): a new generation from the live one, real model + FAISS."""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import wait_until

from index import layout
from index.build import build_index
from index.errors import CorpusError, IndexUnavailable
from index.integrity import verify_files
from index.manifest import read_manifest
from index.update import add_statements, remove_statements
from search.errors import NotFound
from search.filters import make_filters
from search.searcher import Searcher
from search.settings import load_settings

NEW_TEXT = ("Title: Lighthouse log\nSpeaker: Keeper Anwen\nDate: 2024-05-01\n\n"
            "On Vell Island the lighthouse keeper counted 417 puffins at dawn.\n\n"
            "The fog horn was repaired by the harbour master. It sounded twice at noon.\n")
QUESTION = "how many puffins did the lighthouse keeper count?"


class Counting:
    """The real embedder, counting the texts it embeds."""

    def __init__(self, inner):
        self.inner, self.texts = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, texts, *args, **kwargs):
        self.texts += len(texts)
        return self.inner.encode(texts, *args, **kwargs)


def searcher(index: Path, embedder) -> Searcher:
    return Searcher(index, load_settings({"index": index}, environ={}), embedder)


def durov_id(corpus: Path) -> str:
    return next(corpus.glob("durov-*.txt")).stem


OTHER_TEXT = ("Title: Harbour notice\nSpeaker: Harbour Master Ines\nDate: 2023-02-11\n\n"
              "The ferry to the mainland leaves at seven every morning except on public holidays.\n")


@pytest.fixture(params=["flat", "hnsw", "ivf"])
def built(request, tmp_path, corpus, embedder):
    index = tmp_path / "index"
    (corpus / "harbour.txt").write_text(OTHER_TEXT)
    build_index(corpus, index, embedder, index_type=request.param)
    return corpus, index


def test_add_then_search_document_and_integrity(built, embedder):
    corpus, index = built
    before = layout.current_generation(index)
    old_vectors = np.load(before / layout.VECTORS_FILE)
    old_sentences = np.load(before / "sentences.npy")
    new = corpus / "logs" / "lighthouse.txt"
    new.parent.mkdir()
    new.write_text(NEW_TEXT)
    counting = Counting(embedder)
    report = add_statements([new], index, counting)

    assert report.published and report.added == ("logs/lighthouse",) and report.passages_added == 2
    assert report.keyword_index.startswith("updated (2 new passages analysed)")
    live = layout.current_generation(index)
    manifest = read_manifest(live)
    kind = manifest.index["type"]
    # the vector index grew by the added passages, not rebuilt; unchanged rows are bit-identical
    faiss_index = faiss.read_index(str(live / "index.faiss"))
    assert faiss_index.ntotal == len(old_vectors) + 2
    assert report.vector_index.startswith(f"added 2 to {kind}")
    vectors = np.load(live / layout.VECTORS_FILE)
    assert np.array_equal(vectors[:len(old_vectors)], old_vectors)
    assert np.array_equal(np.load(live / "sentences.npy")[:len(old_sentences)], old_sentences)
    # only the new passages and sentences were embedded (plus the 48 probe questions)
    assert report.embedded == 2 and counting.texts == 2 + report.sentences_embedded + 48
    assert manifest.counts.passages == len(vectors) and manifest.counts.documents == report.documents
    verify_files(live, manifest.files, hash_limit=1 << 40)  # every file's sha256, big ones included

    s = searcher(index, embedder)
    hit = s.search(QUESTION, k=1).hits[0]
    assert hit.document.id == "logs/lighthouse" and "417 puffins" in hit.text
    assert "417 puffins" in hit.text[hit.highlight.start:hit.highlight.end]
    assert s.document("logs/lighthouse").text.lstrip().startswith("On Vell Island")
    assert any(f.value == "Keeper Anwen" for f in s.search(QUESTION, k=5).facets["speaker"])

    # a full rebuild of the same folder gives the same ids and embeds nothing: the two paths agree
    full = build_index(corpus, index, embedder, index_type=kind)
    assert full.embedded == 0 and full.documents == report.documents
    assert searcher(index, embedder).search(QUESTION, k=1).hits[0].document.id == "logs/lighthouse"


def test_remove_is_gone_from_every_view(built, embedder):
    corpus, index = built
    doc = durov_id(corpus)
    before = searcher(index, embedder)
    question = "encryption keys privacy"
    assert any(h.document.id == doc for h in before.search(question, k=10).hits)
    removed_ids = {p.id for p in before.document(doc).passages}

    report = remove_statements([doc], index, embedder)
    assert report.removed == (doc,) and report.tombstones == len(removed_ids) and report.embedded == 0
    live = layout.current_generation(index)
    manifest = read_manifest(live)
    assert manifest.index["tombstones"]["count"] == len(removed_ids)
    assert manifest.counts.passages == before.passages - len(removed_ids)
    assert manifest.counts.documents == before.manifest.counts.documents - 1
    verify_files(live, manifest.files, hash_limit=1 << 40)

    s = searcher(index, embedder)
    for mode in ("hybrid", "vector", "keyword"):
        for filters in (None, make_filters(after="1900")):
            hits = s.search(question, k=50, mode=mode, filters=filters).hits
            assert not {h.id for h in hits} & removed_ids
            assert all(h.document.id != doc for h in hits)
    # the raw vector index never returns a tombstone, even when asked for every id
    every = s.gen.vector_index.search(s.embed_question(question), len(s.gen.vectors))[0]
    assert not {i for i, _ in every} & removed_ids
    assert not {i for i, _ in s.gen.vector_index.search(s.embed_question(question), 5,
                                                        np.asarray(sorted(removed_ids)))[0]}
    assert all(f.value != "Pavel Durov" for f in s.search(question, k=50).facets["speaker"])
    with pytest.raises(NotFound):
        s.document(doc)


def test_add_existing_id_replaces(tmp_path, corpus, embedder):
    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    doc = durov_id(corpus)
    path = corpus / f"{doc}.txt"
    path.write_text(NEW_TEXT)
    documents = read_manifest(layout.current_generation(index)).counts.documents
    report = add_statements([path], index, embedder)
    assert report.replaced == (doc,) and report.added == ()
    s = searcher(index, embedder)
    assert s.manifest.counts.documents == documents
    assert s.document(doc).text.lstrip().startswith("On Vell Island")
    assert all("encryption" not in h.text for h in s.search("encryption keys", k=20, mode="keyword").hits)


def test_failed_updates_leave_the_live_generation(tmp_path, corpus, embedder):
    index = tmp_path / "index"
    with pytest.raises(IndexUnavailable) as missing:
        remove_statements(["x"], index, embedder)
    assert missing.value.code == "index_missing"
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CorpusError) as not_link:
        remove_statements(["x"], plain, embedder)
    assert not_link.value.code == "index_not_link"
    build_index(corpus, index, embedder)
    live = layout.current_generation(index)
    binary = tmp_path / "broken.txt"
    binary.write_bytes(b"\x00\x01\x02 not text")
    with pytest.raises(CorpusError) as unreadable:
        add_statements([binary], index, embedder)
    assert unreadable.value.code == "nothing_readable" and "broken.txt" in unreadable.value.message
    with pytest.raises(CorpusError) as unknown:
        remove_statements(["no-such-statement"], index, embedder)
    assert unknown.value.code == "document_not_found"
    assert layout.current_generation(index) == live
    assert not list(index.parent.glob(".index.tmp-*"))
    # one readable file among bad ones: indexed, the bad one reported by name
    good = tmp_path / "lighthouse.txt"
    good.write_text(NEW_TEXT)
    report = add_statements([binary, good], index, embedder)
    assert report.added == ("lighthouse",) and [p for p, _ in report.skipped] == [str(binary)]


def test_cli_add_remove(tmp_path, corpus, embedder):
    from web.cli import main

    index = tmp_path / "index"
    build_index(corpus, index, embedder, )
    new = tmp_path / "lighthouse.txt"
    new.write_text(NEW_TEXT)
    runner = CliRunner()
    env = {"STATEMENT_SEARCH_EMBEDDING_BACKEND": "torch"}
    result = runner.invoke(main, ["add", str(new), "--index", str(index)], env=env)
    assert result.exit_code == 0, result.output
    assert "added 1 statement" in result.output
    result = runner.invoke(main, ["remove", "lighthouse", "--index", str(index)], env=env)
    assert result.exit_code == 0 and "removed 1 statement" in result.output
    result = runner.invoke(main, ["remove", "lighthouse", "--index", str(index)], env=env)
    assert result.exit_code == 2 and "no statement with id 'lighthouse'" in result.output
    result = runner.invoke(main, ["add", str(tmp_path / "missing.txt"), "--index", str(index)], env=env)
    assert result.exit_code == 2 and "missing.txt does not exist" in result.output
    assert "Add statement files" in runner.invoke(main, ["add", "--help"]).output


def test_watch_publishes_a_generation_for_a_dropped_file(tmp_path, corpus, embedder):
    from index.watch import watch_corpus

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    first = layout.current_generation(index)
    stop = threading.Event()
    reports = []
    thread = threading.Thread(target=watch_corpus, args=(corpus, index, embedder),
                              kwargs={"debounce_ms": 200, "stop": stop, "on_batch": reports.append}, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # the watcher is set up (watchfiles gives no signal when it is)
        (corpus / "lighthouse.txt").write_text(NEW_TEXT)
        wait_until(lambda: reports, 60, "the watcher to publish the dropped file", interval=0.2)
        assert reports and reports[0].added == ("lighthouse",)
        assert layout.current_generation(index) != first
        (corpus / "lighthouse.txt").unlink()
        wait_until(lambda: len(reports) >= 2, 60, "the watcher to publish the deleted file", interval=0.2)
        assert len(reports) == 2 and reports[1].removed == ("lighthouse",)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    s = searcher(index, embedder)
    with pytest.raises(NotFound):
        s.document("lighthouse")


@pytest.mark.server
def test_running_server_answers_from_an_added_statement(tmp_path, corpus, embedder):
    from test_serve import fetch, running_server, search_url

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    new = tmp_path / "lighthouse.txt"
    new.write_text(NEW_TEXT)
    with running_server(index, workers=1, reload_interval="0.2") as base:
        status, body = fetch(search_url(base, QUESTION, k=1))
        assert status == 200 and body["results"][0]["document"]["id"] != "lighthouse"
        generation = add_statements([new], index, embedder).generation

        def added_is_served() -> bool:
            _, body = fetch(search_url(base, QUESTION, k=1))
            return body["index"]["generation"] == generation and body["results"][0]["document"]["id"] == "lighthouse"

        found = wait_until(added_is_served, 60, "the server to answer from the added statement", interval=0.2)
        assert found
        remove_statements(["lighthouse"], index, embedder)

        def removed_is_gone() -> bool:
            _, body = fetch(search_url(base, QUESTION, k=5))
            return all(r["document"]["id"] != "lighthouse" for r in body["results"])

        gone = wait_until(removed_is_gone, 60, "the removed statement to leave the server's answers", interval=0.2)
        assert gone
        status, _ = fetch(base + "api/documents/lighthouse")
        assert status == 404


def test_keyword_update_scores_as_a_rebuild():
    """BM25 updated in place (new passages appended, some emptied) scores as a build over the same texts."""
    from index.keyword import KeywordIndex

    texts = [f"The harbour {w} of ship number {i} counted {i % 7} puffins and {w} gulls" for i, w in
             enumerate(["keeper", "master", "pilot", "ferry", "tariff", "navy", "wool", "grain"] * 5)]
    base = KeywordIndex.build(texts[:30])
    updated = base.updated(texts[30:] + ["an entirely new word: lighthouse"], removed=[2, 11]).updated([], [5])
    expected = list(texts) + ["an entirely new word: lighthouse"]
    for i in (2, 11, 5):
        expected[i] = ""
    rebuilt = KeywordIndex.build(expected)
    assert updated.size == rebuilt.size == 41 and np.array_equal(updated.lengths, rebuilt.lengths)
    for question in ("harbour keeper", "tariff on wool", "lighthouse", "ship number 11", "pilot gulls"):
        a, b = updated.scores(question), rebuilt.scores(question)
        assert np.allclose(a, b, rtol=1e-5, atol=1e-6), question
        assert updated.ideal_score(question) == pytest.approx(rebuilt.ideal_score(question))
    assert updated.scores("ship number 11")[11] == 0 and updated.search("lighthouse", 3)[0][0] == 40


def test_watch_maps_a_sidecar_to_the_file_it_describes(tmp_path):
    from index.watch import statement_targets

    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.html").write_text("y")
    (tmp_path / "a.txt.meta.json").write_text("{}")
    (tmp_path / "metadata.csv").write_text("file,speaker\n")
    assert statement_targets(tmp_path / "a.txt") == [tmp_path / "a.txt"]
    assert statement_targets(tmp_path / "a.txt.meta.json") == [tmp_path / "a.txt"]
    assert statement_targets(tmp_path / "gone.txt.meta.json") == []
    assert statement_targets(tmp_path / "metadata.csv") == [tmp_path / "a.txt", tmp_path / "b.html"]
