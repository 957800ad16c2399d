"""Views of stored statements: a row as DocumentInfo, a whole statement with its passages, index stats."""
from __future__ import annotations

from typing import Any

from index.store import extra_of

from .errors import NotFound
from .generation import Generation
from .types import DocumentInfo


def document_info(row, id_key: str = "id") -> DocumentInfo:
    """A statement's identity and metadata from a passages or documents row."""
    return DocumentInfo(id=row[id_key], title=row["title"], speaker=row["speaker"], date=row["date"],
                        source=row["source"], extra=extra_of(row))


def document_view(gen: Generation, doc_id: str) -> dict[str, Any]:
    """A statement's metadata, full text and passages; NotFound for an unknown id."""
    row = gen.store.document(doc_id)
    if row is None:
        raise NotFound(f"no document with id {doc_id!r}", code="document_not_found")
    info = document_info(row)
    return {"document": {"id": info.id, "title": info.title, "speaker": info.speaker, "date": info.date,
                         "source": info.source, "extra": info.extra}, "text": row["text"],
            "passages": [{"id": p["id"], "paragraph": p["ordinal"], "start": p["start"], "end": p["end"],
                          "context": p["context"], "text": p["text"]} for p in gen.store.document_passages(doc_id)]}


def stats_view(gen: Generation, weak_line: float) -> dict[str, Any]:
    """Counts, model, index type and build time of a generation, and its "no strong match" line."""
    m = gen.manifest
    return {"generation": m.generation, "documents": m.counts.documents, "passages": m.counts.passages,
            "model": {"name": m.model.name, "sha256": m.model.sha256, "backend": m.model.backend},
            "dimension": m.dimension, "index": m.index, "built_at": m.built_at, "weak_line": round(weak_line, 4)}
