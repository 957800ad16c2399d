"""The one search function behind both the page and the API, and request parsing for both."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from flask import current_app

from search.errors import SearchError
from search.filters import make_filters, names

FIELDS = ("q", "k", "offset", "mode", "context", "speaker", "after", "before", "source", "sort")
LIST_FIELDS = ("speaker", "source")


@dataclass(frozen=True)
class SearchRequest:
    """Raw request values (still unvalidated: the library validates them)."""

    q: Any = None
    k: Any = None
    offset: Any = 0
    mode: Any = None
    context: bool = False
    speaker: tuple[str, ...] = ()
    after: Any = None
    before: Any = None
    source: tuple[str, ...] = ()
    sort: Any = None


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.lower() in {"", "0", "false", "no", "off"}:
        return False
    raise SearchError(f"{name} must be true or false, got {value!r}", code=f"invalid_{name}")


def _blank(value: Any) -> Any:
    return None if value == "" else value


def from_args(args: Any, strict: bool = True) -> SearchRequest:
    """A SearchRequest from a query string (a werkzeug MultiDict); `strict` refuses unknown names."""
    unknown = sorted(set(args) - set(FIELDS))
    if strict and unknown:
        raise SearchError(f"unknown parameter {unknown[0]!r}; known: {', '.join(FIELDS)}", code="unknown_parameter")
    return SearchRequest(
        q=args.get("q"), k=_blank(args.get("k")), offset=_blank(args.get("offset")) or 0,
        mode=_blank(args.get("mode")), context=_flag("context", args.get("context")),
        speaker=names("speaker", args.getlist("speaker")), after=_blank(args.get("after")),
        before=_blank(args.get("before")), source=names("source", args.getlist("source")),
        sort=_blank(args.get("sort")))


def from_json(body: Any) -> SearchRequest:
    """A SearchRequest from a decoded JSON body (an object with known fields only)."""
    if not isinstance(body, Mapping):
        raise SearchError("the JSON body must be an object such as {\"q\": \"...\"}", code="invalid_json")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise SearchError(f"unknown field {unknown[0]!r}; known: {', '.join(FIELDS)}", code="unknown_parameter")
    return SearchRequest(
        q=body.get("q"), k=body.get("k"), offset=body.get("offset", 0), mode=body.get("mode"),
        context=_flag("context", body.get("context", False)), speaker=names("speaker", body.get("speaker")),
        after=body.get("after"), before=body.get("before"), source=names("source", body.get("source")),
        sort=body.get("sort"))


def live_searcher() -> Any:
    from . import EXTENSION

    return current_app.extensions[EXTENSION]


def run_search(req: SearchRequest, neighbours: bool | None = None) -> tuple[Any, Any]:
    """(searcher, SearchResponse) for one request, both from one index generation."""
    if req.q is None:
        raise SearchError("q is missing: ask a question with ?q=... or {\"q\": \"...\"}", code="missing_query")
    searcher = live_searcher().get()  # one generation for the whole request
    filters = make_filters(speaker=list(req.speaker) or None, after=req.after,
                           before=req.before, source=list(req.source) or None)
    response = searcher.search(req.q, k=req.k, offset=req.offset,
                               neighbours=req.context if neighbours is None else neighbours,
                               mode=req.mode, filters=filters, sort=req.sort or "relevance")
    return searcher, response


def response_json(searcher: Any, response: Any, neighbours: bool) -> dict[str, Any]:
    """The API's search body: the CLI's `query --json` object plus paging and the index generation."""
    out = response.to_dict(neighbours=neighbours)
    out["k"] = response.k
    out["offset"] = response.offset
    out["strong"] = response.strong
    out["index"] = {"generation": response.generation, "passages": response.passages}
    return out
