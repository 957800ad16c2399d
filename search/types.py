"""Typed records shared by the indexer, the search library and the front ends."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DocumentInfo:
    """A statement's identity and metadata (title, speaker, date, source, anything else)."""

    id: str
    title: str | None = None
    speaker: str | None = None
    date: str | None = None  # YYYY-MM-DD
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "speaker": self.speaker,
                "date": self.date, "source": self.source}


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Neighbour:
    id: int
    paragraph: int
    text: str


@dataclass(frozen=True)
class SearchHit:
    """One ranked passage; `highlight` is the best sentence's span inside `text`."""

    id: int
    score: float
    text: str
    context: str
    highlight: Span
    document: DocumentInfo
    paragraph: int  # 1-based position of the passage in its statement
    of: int         # number of passages in the statement
    start: int      # character offsets of the passage in the statement text
    end: int
    neighbours: tuple[Neighbour, ...] = ()

    def to_dict(self, neighbours: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "score": float(self.score),
            "text": self.text,
            "highlight": {"start": self.highlight.start, "end": self.highlight.end},
            "document": self.document.to_dict(),
            "position": {"paragraph": self.paragraph, "of": self.of},
        }
        if self.context:
            out["context"] = self.context
        if neighbours:
            out["neighbours"] = [asdict(n) for n in self.neighbours]
        return out


@dataclass(frozen=True)
class SearchResponse:
    query: str
    hits: tuple[SearchHit, ...]
    took_ms: float
    generation: str
    passages: int
    k: int
    offset: int

    def to_dict(self, neighbours: bool = False) -> dict[str, Any]:
        return {
            "query": self.query,
            "results": [h.to_dict(neighbours) for h in self.hits],
            "took_ms": round(self.took_ms, 2),
        }
