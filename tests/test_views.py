"""Typed views out of search/ (search/documents.py) and `Searcher.close()`; the API serves the same JSON."""
from __future__ import annotations

import dataclasses

import pytest

from index.build import build_index
from index.manifest import ModelInfo
from search.documents import DocumentView, PassageView, StatsView
from search.errors import NotFound
from search.live import LiveSearcher
from search.searcher import Searcher
from search.settings import load_settings
from search.types import DocumentInfo


@pytest.fixture
def fake_searcher(tmp_path, corpus, fake_encoder):
    build_index(corpus, tmp_path / "index", fake_encoder)
    searcher = Searcher(tmp_path / "index", load_settings({"index": tmp_path / "index"}, environ={}), fake_encoder)
    yield searcher, next(corpus.glob("durov-*.txt")).stem
    searcher.close()


def test_document_and_stats_are_typed(fake_searcher):
    searcher, doc_id = fake_searcher
    view = searcher.document(doc_id)
    assert isinstance(view, DocumentView) and isinstance(view.document, DocumentInfo)
    assert view.document.id == doc_id and view.document.date == "2024-09-06"
    assert all(isinstance(p, PassageView) for p in view.passages)
    assert [p.paragraph for p in view.passages] == list(range(1, 14))
    first = view.passages[0]
    assert view.text[first.start:first.end].strip()[:20] == first.text[:20]
    stats = searcher.stats()
    assert isinstance(stats, StatsView) and isinstance(stats.model, ModelInfo)
    assert (stats.documents, stats.passages, stats.model.backend) == (1, 13, "fake")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.passages = 0  # type: ignore[misc]
    with pytest.raises(NotFound):
        searcher.document("no-such-statement")


def test_api_serves_the_views_as_before(fake_searcher):
    from web import create_app

    searcher, doc_id = fake_searcher
    live = LiveSearcher(searcher.settings, searcher.embedder)
    live.load()
    client = create_app({"TESTING": True, "SETTINGS": searcher.settings, "LIVE_SEARCHER": live}).test_client()
    body = client.get(f"/api/documents/{doc_id}").get_json()
    assert set(body) == {"document", "text", "passages", "index"}
    assert set(body["document"]) == {"id", "title", "speaker", "date", "source", "extra"}
    assert set(body["passages"][0]) == {"id", "paragraph", "start", "end", "context", "text",
                                       "ocr_confidence"}  # null unless read by OCR (docs/formats.md)
    assert body["index"]["passages"] == 13 and len(body["passages"]) == 13
    stats = client.get("/api/stats").get_json()
    assert set(stats) == {"generation", "documents", "passages", "model", "dimension", "index", "built_at", "weak_line"}
    assert stats["model"] == {"name": "fake", "sha256": "fake-encoder-v1", "backend": "fake"}
    live.before_fork()  # the parent's SQLite connections are closed through Searcher.close
    assert live.get().gen.store._conns._opened == []


def test_close_lets_go_of_the_store_and_a_later_query_reopens(fake_searcher):
    searcher, doc_id = fake_searcher
    searcher.document(doc_id)
    assert searcher.gen.store._conns._opened
    searcher.close()
    assert searcher.gen.store._conns._opened == []
    assert searcher.document(doc_id).document.id == doc_id  # a thread that queries afterwards opens a new one
