"""Views of stored statements, typed: a row as DocumentInfo, a whole statement with its passages
(`DocumentView`), a generation's stats (`StatsView`). Front ends read them by attribute (the web
schemas validate them with `from_attributes`); no SQLite row or loose dict leaves this package."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from index.manifest import ModelInfo
from index.store import extra_of

from .errors import NotFound
from .generation import Generation
from .types import DocumentInfo


def document_info(row, id_key: str = "id") -> DocumentInfo:
    """A statement's identity and metadata from a passages or documents row."""
    return DocumentInfo(id=row[id_key], title=row["title"], speaker=row["speaker"], date=row["date"],
                        source=row["source"], extra=extra_of(row))


@dataclass(frozen=True)
class PassageView:
    """One passage of a statement as the document view shows it."""

    id: int          # passage id (search hits and citations name it)
    paragraph: int   # 1-based position among the statement's passages
    start: int       # offsets in the statement's text
    end: int
    context: str     # the heading or lead-in carried above it ("" when none)
    text: str
    ocr_confidence: float | None = None  # read by OCR from a scan: Tesseract's mean word confidence (0-100)


@dataclass(frozen=True)
class DocumentView:
    """A statement: its metadata, full text and passages in order."""

    document: DocumentInfo
    text: str
    passages: tuple[PassageView, ...]


@dataclass(frozen=True)
class StatsView:
    """Counts, model, index type and build time of a generation, and its "no strong match" line."""

    generation: str
    documents: int
    passages: int
    model: ModelInfo
    dimension: int
    index: dict[str, Any]
    built_at: str
    weak_line: float


def document_view(gen: Generation, doc_id: str) -> DocumentView:
    """A statement's metadata, full text and passages; NotFound for an unknown id."""
    row = gen.store.document(doc_id)
    if row is None:
        raise NotFound(f"no document with id {doc_id!r}", code="document_not_found")
    passages = tuple(PassageView(id=p["id"], paragraph=p["ordinal"], start=p["start"], end=p["end"],
                                 context=p["context"], text=p["text"], ocr_confidence=p["ocr"])
                     for p in gen.store.document_passages(doc_id))
    return DocumentView(document=document_info(row), text=row["text"], passages=passages)


def stats_view(gen: Generation, weak_line: float) -> StatsView:
    """Counts, model, index type and build time of a generation, and its "no strong match" line."""
    m = gen.manifest
    return StatsView(generation=m.generation, documents=m.counts.documents, passages=m.counts.passages,
                     model=m.model, dimension=m.dimension, index=m.index, built_at=m.built_at,
                     weak_line=round(weak_line, 4))
