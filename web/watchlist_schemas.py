"""Request and response models of the saved-search API (/api/watchlists): they parse, shape and document
(web/openapi.py) the same objects, beside the search's models in web/schemas.py."""
from __future__ import annotations

import time
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from search.request import check_text
from search.settings import Mode
from search.watchlists import Match, SavedSearch

from .schemas import AppliedFilters, FilterFields, _parse


class WatchlistCreate(FilterFields):
    """Save a search (POST /api/watchlists). Unknown fields are refused; a secret needs a webhook."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"additionalProperties": False,
                                                                 "dependentRequired": {"secret": ["webhook"]}})

    name: str = Field(description="Unique name: 1-64 letters, digits, '.', '_' or '-' (used in URLs).",
                      pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    q: str = Field(description="The question, with \"phrases\" and -exclusions as in a search.")
    mode: Mode | None = Field(None, description="Retrieval mode (default: the server's).")
    # str, not str | None: leaving a field out is how to say "none" (an explicit null is refused), so the
    # published schema can state that a secret needs a webhook (dependentRequired)
    webhook: str = Field(  # type: ignore[assignment]  # absent means None, see above
        None, description="POST each new match here (http or https; docs/factcheck.md for the address policy and "
                          "the signature).")
    secret: str = Field(  # type: ignore[assignment]  # absent means None, as for webhook
        None, min_length=16, max_length=256,
        description="HMAC-SHA256 key of the webhook's signature; default: a random one, returned once in the answer.")

    @field_validator("q", "name", "webhook", "secret", mode="after")
    @classmethod
    def _unicode(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            check_text(info.field_name, value, code="invalid_query" if info.field_name == "q" else None)
        return value


def parse_create(values: Any) -> WatchlistCreate:
    def special(field: str, kind: str):
        if field == "q" and kind == "missing":
            return "q is missing: send {\"name\": \"...\", \"q\": \"the question\"}", "missing_query"
        if field == "name" and kind in ("missing", "string_pattern_mismatch", "string_type"):
            return ("name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                    "invalid_name")
        if field == "secret":
            return "secret must be a string of 16 to 256 characters", "invalid_secret"
        if field == "webhook":
            return "webhook must be an http(s) URL", "invalid_webhook"
        return None

    return _parse(WatchlistCreate, values, '{"name": "...", "q": "..."}', special)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class WatchlistLinks(BaseModel):
    self: str
    feed: str = Field(description="Atom feed of its matches.")
    page: str = Field(description="The page that shows its new matches.")


class Watchlist(BaseModel):
    """A saved search with its counts."""

    name: str
    q: str
    mode: Mode
    filters: AppliedFilters
    webhook: str | None = Field(description="Where new matches are POSTed, if anywhere.")
    matches: int = Field(ge=0, description="Matches recorded since it was saved.")
    new: int = Field(ge=0, description="Matches the page has not shown yet.")
    undelivered: int = Field(ge=0, description="Webhook calls still in the outbox.")
    created_at: str
    created_generation: str | None
    links: WatchlistLinks
    secret: str | None = Field(None, description="Only in the answer to the POST that created it.")

    @classmethod
    def of(cls, s: SavedSearch, links: WatchlistLinks) -> Watchlist:
        extra = {"secret": s.secret} if s.secret else {}
        return cls(name=s.name, q=s.question, mode=cast(Mode, s.mode), filters=AppliedFilters(**s.filter_values()),
                   webhook=s.webhook_url, matches=s.matches, new=s.new, undelivered=s.undelivered,
                   created_at=_iso(s.created_at), created_generation=s.created_generation, links=links, **extra)


class WatchlistList(BaseModel):
    watchlists: list[Watchlist]


class MatchDocument(BaseModel):
    id: str
    speaker: str | None
    title: str | None
    date: str | None
    source: str | None


class WatchlistMatch(BaseModel):
    """A passage new in some generation that is a strong match of the saved search."""

    id: str = Field(description="Stable id (the feed entry's and the webhook body's).")
    text: str
    document: MatchDocument
    paragraph: int = Field(ge=1)
    of: int = Field(ge=1)
    score: float = Field(description="Vector score the \"strong match\" line was compared with.")
    generation: str = Field(description="The generation in which it was new.")
    found_at: str
    new: bool = Field(description="Not yet shown on the page.")

    @classmethod
    def from_match(cls, m: Match) -> WatchlistMatch:
        return cls(id=m.uid, text=m.text, document=MatchDocument(id=m.doc_id, speaker=m.speaker, title=m.title,
                                                                 date=m.date, source=m.source),
                   paragraph=m.paragraph, of=m.of, score=round(float(m.score), 4), generation=m.generation,
                   found_at=_iso(m.found_at), new=m.new)


class WatchlistDetail(Watchlist):
    """A saved search and its newest matches (newest first)."""

    recent: list[WatchlistMatch]


MODELS = (WatchlistList, WatchlistDetail)
