"""HTML pages: the search box with results, and a statement's full text with the hit paragraph anchored."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from search.errors import StatementSearchError

from . import schemas, service
from .errors import http_status, public_message
from .extension import live_searcher

bp = Blueprint("pages", __name__)

PAGE_KEYS = ("q", "k", "mode", "speaker", "after", "before", "source", "sort")


def _current() -> dict[str, Any]:
    """The page's own query parameters (no offset), lists kept as lists."""
    out: dict[str, Any] = {}
    for key in PAGE_KEYS:
        values = [v for v in request.args.getlist(key) if v != ""]
        if values:
            out[key] = values if key in schemas.LIST_FIELDS else values[0]
    return out


def page_url(drop: tuple[tuple[str, str | None], ...] = (), **changes: Any) -> str:
    """This page's URL with `changes` applied (None removes a key) and `drop` (key, value) pairs removed."""
    params = _current()
    for key, value in drop:
        if key in params:
            if isinstance(params[key], list) and value is not None:
                params[key] = [v for v in params[key] if v != value]
            else:
                params.pop(key)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        elif key in schemas.LIST_FIELDS:
            added = [value] if isinstance(value, str) else list(value)
            params[key] = list(dict.fromkeys([*params.get(key, []), *added]))
        else:
            params[key] = value
    return url_for("pages.index", **{k: v for k, v in params.items() if v not in ([], "")})


@bp.get("/")
def index():
    values = schemas.query_string_values(request.args, strict=False)
    # The form shows what was asked even when it is invalid, so build it without validation first.
    req = schemas.SearchRequest.model_construct(**{"q": None, **values})
    searcher = response = error = None
    status = 200
    if isinstance(req.q, str) and req.q.strip():
        try:
            req = schemas.parse_request(values)
            searcher, response = service.run_search(req, neighbours=True)
        except StatementSearchError as exc:
            error, status = exc, http_status(exc)
    chips = [("speaker", v) for v in req.speaker] + [("source", v) for v in req.source]
    chips += [(key, getattr(req, key)) for key in ("after", "before") if getattr(req, key)]
    next_url = prev_url = None
    if response is not None:
        step = response.k
        if response.offset > 0:
            prev_url = page_url(offset=max(0, response.offset - step) or None)
        if len(response.hits) == step and response.offset + step <= searcher.settings.max_offset:
            next_url = page_url(offset=response.offset + step)
    return render_template("index.html", req=req, response=response, error=error, chips=chips,
                           next_url=next_url, prev_url=prev_url, page_url=page_url,
                           settings=live_searcher().settings, public_message=public_message), status


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str):
    searcher = live_searcher().get()
    doc = searcher.document(doc_id)
    hit = request.args.get("hit", type=int)
    span = None
    hl = request.args.get("hl", "")
    if "-" in hl:
        a, _, b = hl.partition("-")
        if a.isdigit() and b.isdigit() and int(a) < int(b):
            span = (int(a), int(b))
    return render_template("document.html", doc=doc, hit=hit, span=span, q=request.args.get("q", ""),
                           generation=searcher.generation)
