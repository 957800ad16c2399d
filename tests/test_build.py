import json
import shutil

import numpy as np
import pytest

from index import layout
from index.build import VECTORS_FILE, build_index
from index.update import add_statements
from index.integrity import file_table
from index.keyword import KeywordIndex
from index.layout import DB_FILE
from index.manifest import ModelInfo, read_manifest
from index.passages import sentence_spans
from index.sentences import SentenceTable
from index.store import PassageStore
from index.probes import PROBES
from search.errors import CorpusError, IndexUnavailable
from search.searcher import Searcher
from search.settings import load_settings


def statement(folder, name, text):
    (folder / name).write_text(text)


def test_manifest_records_model_and_counts(seed_index, embedder):
    m = read_manifest(seed_index)
    assert m.model == ModelInfo(name="all-MiniLM-L6-v2", sha256=embedder.sha256, backend="torch")
    assert m.dimension == 384 and m.normalized is True
    assert m.counts.documents == 1 and m.counts.passages == 13
    assert len(m.corpus["fingerprint"]) == 64
    vectors = np.load(seed_index / VECTORS_FILE)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_manifest_for_another_model_is_refused(tmp_path, seed_index, embedder):
    copy = tmp_path / "copy"
    shutil.copytree(seed_index.resolve(), copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["model"] = {"name": "other-model", "sha256": "0" * 64}
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexUnavailable, match="rebuild-index") as err:
        Searcher(copy, load_settings({"index": copy}, environ={}), embedder)
    assert err.value.code == "model_mismatch"


def test_tampered_default_weights_are_refused(monkeypatch):
    from index import embedder as emb

    emb.resolve_model.cache_clear()
    monkeypatch.setattr(emb, "DEFAULT_MODEL_SHA256", "f" * 64)
    try:
        with pytest.raises(IndexUnavailable, match="expected f"):
            emb.resolve_model(emb.DEFAULT_MODEL)
    finally:
        emb.resolve_model.cache_clear()


def test_unchanged_passages_are_not_re_embedded(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    first = build_index(corpus, index, fake_encoder)
    assert first.embedded == first.passages == 13
    first_vectors = np.load(layout.current_generation(index) / VECTORS_FILE)
    statement(corpus, "new.txt", "Speaker: Someone\n\nA brand new paragraph about satellites.\n\n"
                                 "And a second new paragraph about rockets.\n")
    second = build_index(corpus, index, fake_encoder)
    assert (second.embedded, second.reused, second.passages) == (2, 13, 15)
    # the two new passages, then the off-topic probes that set the weak line (every build)
    assert fake_encoder.calls[-2:] == [2, len(PROBES)]
    # reused vectors are the stored vectors, carried over unchanged
    new_vectors = np.load(layout.current_generation(index) / VECTORS_FILE)
    assert np.array_equal(new_vectors[:13], first_vectors)
    assert read_manifest(index).counts.embedded == 2


class Boom(RuntimeError):
    pass


def test_build_that_fails_midway_leaves_previous_index(tmp_path, corpus, fake_encoder, monkeypatch):
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    before = read_manifest(index).generation
    statement(corpus, "more.txt", "Yet another paragraph that needs embedding now.\n")

    def explode(texts, **kw):
        leftover = list(tmp_path.glob(".index.tmp-*"))
        assert leftover, "the build writes into a temporary sibling"
        raise Boom("killed midway")

    monkeypatch.setattr(fake_encoder, "encode", explode)
    with pytest.raises(Boom):
        build_index(corpus, index, fake_encoder)
    assert read_manifest(index).generation == before
    assert not list(tmp_path.glob(".index.tmp-*"))
    # a crash that could not clean up (kill -9) is cleaned by the next build
    (tmp_path / ".index.tmp-deadbeef").mkdir()
    monkeypatch.undo()
    report = build_index(corpus, index, fake_encoder)
    assert report.passages == 14
    assert not list(tmp_path.glob(".index.tmp-*"))
    assert len(list(tmp_path.glob(".index.gen-*"))) <= 2


def test_empty_corpus_is_an_error_and_index_untouched(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    before = read_manifest(index).generation
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("\n\n")
    with pytest.raises(CorpusError, match="no statements"):
        build_index(empty, index, fake_encoder)
    with pytest.raises(CorpusError, match="does not exist"):
        build_index(tmp_path / "missing", index, fake_encoder)
    assert read_manifest(index).generation == before


def test_readers_of_old_generation_survive_a_swap(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    settings = load_settings({"index": index}, environ={})
    old = Searcher(index, settings, fake_encoder)
    statement(corpus, "extra.txt", "Completely new statement about lighthouses and the sea.\n")
    build_index(corpus, index, fake_encoder)
    new = Searcher(index, settings, fake_encoder)
    assert new.generation != old.generation
    assert old.search("telegram", k=3, mode="vector").hits  # the old generation still answers
    assert new.search("lighthouses sea", k=1, mode="keyword").hits[0].document.id == "extra"


def test_sentence_vectors_are_written_and_reused(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    gen, m = layout.current_generation(index), read_manifest(index)
    table = SentenceTable.load(gen, m.counts.passages)
    assert m.sentences["count"] == len(table) > m.counts.passages  # the seed's passages hold several sentences
    assert (m.sentences["embedded"], m.sentences["reused"], m.sentences["dtype"]) == (len(table), 0, "float32")
    rows = PassageStore(gen / DB_FILE).passages(list(range(m.counts.passages)))
    checked = 0
    for pid, row in rows.items():
        spans, vectors = table.of(pid)
        assert (len(spans) >= 2) == (len(sentence_spans(row["text"])) >= 2)
        for (a, b), vector in zip(spans, vectors):  # each row is its sentence, embedded with the context
            text = f"{row['context']}\n{row['text'][a:b]}" if row["context"] else row["text"][a:b]
            assert np.allclose(vector, fake_encoder.encode([text])[0], atol=2e-3)
            checked += 1
    assert checked == len(table)

    statement(corpus, "new.txt", "Speaker: Someone\n\nA first sentence about satellites. A second one about rockets.\n")
    fake_encoder.calls.clear()
    build_index(corpus, index, fake_encoder)
    again = read_manifest(index)
    assert (again.sentences["embedded"], again.sentences["reused"]) == (2, len(table))
    assert fake_encoder.calls == [1, 2, len(PROBES)]  # one passage, its two sentences, the probes
    new_table = SentenceTable.load(layout.current_generation(index), again.counts.passages)
    assert np.array_equal(np.asarray(new_table.vectors[:len(table)]), np.asarray(table.vectors))


def test_a_generation_with_float16_sentences_is_still_served_and_reused(tmp_path, corpus, fake_encoder):
    """Earlier builds stored sentence vectors as float16: such a generation answers with the same best
    sentences, and the next build reuses its rows (as float32)."""
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    settings = load_settings({"index": index}, environ={})
    before = Searcher(index, settings, fake_encoder).search("encryption keys for the authorities", k=5, mode="vector")
    gen = layout.current_generation(index)
    np.save(gen / "sentences.npy", np.load(gen / "sentences.npy").astype(np.float16))
    data = json.loads((gen / "manifest.json").read_text())
    data["sentences"]["dtype"] = "float16"
    data["files"] = file_table(gen)
    (gen / "manifest.json").write_text(json.dumps(data))
    after = Searcher(index, settings, fake_encoder).search("encryption keys for the authorities", k=5, mode="vector")
    assert [h.id for h in after.hits] == [h.id for h in before.hits]
    assert [h.highlight for h in after.hits] == [h.highlight for h in before.hits]
    statement(corpus, "live.txt", "Speaker: Someone\n\nA sentence about lighthouses. One about the sea.\n")
    add_statements([corpus / "live.txt"], index, fake_encoder)  # a live addition keeps the file's float16 rows
    m = read_manifest(index)
    assert m.sentences["dtype"] == "float16" and np.load(layout.current_generation(index) / "sentences.npy").dtype == np.float16
    hit = Searcher(index, settings, fake_encoder).search("lighthouses sea", k=1, mode="keyword").hits[0]
    assert hit.document.id == "live"
    statement(corpus, "new.txt", "Speaker: Someone\n\nA first sentence about satellites. A second one about rockets.\n")
    fake_encoder.calls.clear()
    build_index(corpus, index, fake_encoder)
    m = read_manifest(index)
    assert (m.sentences["embedded"], m.sentences["dtype"]) == (2, "float32")


def test_an_index_from_before_sentence_vectors_is_refused_then_rebuilt_cheaply(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    gen = layout.current_generation(index)
    data = json.loads((gen / "manifest.json").read_text())  # make it a format-1 generation
    data["format_version"] = 1
    for key in ("sentences", "encoder"):
        data.pop(key)
    (gen / "manifest.json").write_text(json.dumps(data))
    (gen / "sentences.npy").unlink()
    (gen / "sentence_spans.npy").unlink()
    with pytest.raises(IndexUnavailable, match="rebuild-index") as err:
        Searcher(index, load_settings({"index": index}, environ={}), fake_encoder)
    assert err.value.code == "index_format" and "reuses its passage vectors" in err.value.message
    report = build_index(corpus, index, fake_encoder)
    assert report.embedded == 0 and report.reused == report.passages  # passage vectors carried over
    assert read_manifest(index).sentences["embedded"] > 0
    assert Searcher(index, load_settings({"index": index}, environ={}), fake_encoder).search("telegram", k=1).hits


def test_statement_heading_is_embedded_and_keyword_indexed_the_same_way(tmp_path, corpus, fake_encoder):
    """Every passage (not its sentences) is indexed under its statement's speaker and title; the SQLite view of that text
    (what a live update's BM25 rebuild reads) equals what the build embedded and BM25 indexed."""
    statement(corpus, "budget.txt", "Title: Budget Speech\nSpeaker: Jane Q. Example\n\n"
                                    "We will mend the roads and the bridges this year.\n\n"
                                    "Taxes stay where they are. Nothing else changes.\n")
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    gen = layout.current_generation(index)
    store = PassageStore(gen / "passages.sqlite")
    ids = store.passage_ids_of(["budget"])
    texts = dict(store.keyword_texts())
    assert texts[ids[0]] == "Jane Q. Example, Budget Speech\nWe will mend the roads and the bridges this year."
    keyword = KeywordIndex.load(gen)
    assert {pid for pid, _ in keyword.search("Example", 5)} == set(ids)  # the name is in no passage's text
    embedded = fake_encoder.encode([texts[i] for i in ids])
    assert np.allclose(np.load(gen / VECTORS_FILE)[ids], embedded, atol=1e-6)
    spans, vectors = SentenceTable.load(gen, read_manifest(index).counts.passages).of(ids[1])
    assert len(spans) == 2  # sentences are embedded without it: the quote check compares bare quotes with them
    assert np.allclose(vectors[0], fake_encoder.encode(["Taxes stay where they are."])[0], atol=1e-6)
