"""Typed records shared by the indexer, the search library and the front ends."""
from __future__ import annotations

from dataclasses import dataclass, field
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
class Filters:
    """Restrictions applied inside the ranking (both halves), never after it."""

    speakers: tuple[str, ...] = ()   # exact speaker names (any of)
    after: str | None = None         # YYYY-MM-DD inclusive
    before: str | None = None        # YYYY-MM-DD inclusive
    sources: tuple[str, ...] = ()    # substrings of the source (any of)
    languages: tuple[str, ...] = ()  # passage languages, ISO 639-1 codes or und (any of)
    checked: bool | None = None      # only passages with (True) or without (False) a published fact-check

    def __bool__(self) -> bool:
        return bool(self.speakers or self.after or self.before or self.sources or self.languages
                    or self.checked is not None)



@dataclass(frozen=True)
class Facet:
    value: str
    count: int


@dataclass(frozen=True)
class FactCheck:
    """A published fact-check (schema.org ClaimReview) of a claim, as kept beside the index."""

    id: int
    claim: str                      # claimReviewed
    author: str                     # the organisation that published the review
    url: str                        # the review's address
    date: str | None = None         # datePublished (YYYY-MM-DD)
    rating: str | None = None       # reviewRating.alternateName, else ratingValue (of bestRating)
    claimant: str | None = None     # itemReviewed.author.name: who made the claim
    claim_date: str | None = None   # itemReviewed.datePublished
    rating_value: str | None = None
    best_rating: str | None = None
    worst_rating: str | None = None

    @property
    def label(self) -> str:
        """What a hit shows: checked by X on DATE: RATING."""
        return (f"checked by {self.author}" + (f" on {self.date}" if self.date else "")
                + (f": {self.rating}" if self.rating else ""))


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
    weak: bool = False  # below the calibrated "no strong match" line
    duplicates: tuple[DocumentInfo, ...] = ()  # other statements that carry the same paragraph
    matches: tuple[Span, ...] = ()  # keyword and phrase matches in `text` (search.phrases.keyword_spans)
    ocr_confidence: float | None = None  # read by OCR from a scan: Tesseract's mean word confidence (0-100)
    language: str = "und"  # the passage's language (ISO 639-1 or und)
    keyword_only: bool = False  # ranked by its keywords alone: the sentence model reads English only
    fact_checks: tuple[FactCheck, ...] = ()  # published fact-checks linked to this passage (search/factchecks.py)



@dataclass(frozen=True)
class SearchResponse:
    query: str
    hits: tuple[SearchHit, ...]
    took_ms: float
    generation: str
    passages: int
    k: int
    offset: int
    mode: str = "hybrid"
    filters: Filters = Filters()
    sort: str = "relevance"
    facets: dict[str, tuple[Facet, ...]] = field(default_factory=dict)  # "speaker", "year"
    undated_excluded: int = 0  # statements left out because a date filter needs a date they lack
    # strong matches over the facets' depth as (year, speaker or None, count), for the timeline
    timeline: tuple[tuple[str, str | None, int], ...] = ()

    @property
    def strong(self) -> bool:
        return any(not h.weak for h in self.hits)
