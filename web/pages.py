"""HTML pages: the search box with results, and a statement's full text with the hit paragraph anchored."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from markupsafe import Markup, escape

from search.errors import StatementSearchError

from . import schemas, service
from .errors import http_status, public_message
from .extension import live_searcher
from .timeline import render_timeline, series_of

bp = Blueprint("pages", __name__)

# what the page's links keep
PAGE_KEYS = ("q", "k", "mode", "speaker", "after", "before", "source", "language", "exact", "sort", "checked")


@bp.app_template_global()
def marked(text: str, highlight: Any, matches: Any = ()) -> Markup:
    """The passage escaped, the answering sentence in <mark> and the keyword matches in <b class="kw">
    (inside or outside the sentence; a match crossing the sentence's edge is split there)."""
    n = len(text)
    a, b = (highlight.start, highlight.end) if highlight is not None else (0, 0)
    if not 0 <= a < b <= n:
        a = b = 0
    cuts = {0, n, a, b}
    kw: list[tuple[int, int]] = []
    for m in matches or ():
        if 0 <= m.start < m.end <= n:
            kw.append((m.start, m.end))
            cuts.update((m.start, m.end))
    edges = sorted(cuts)
    out, open_mark = [], False
    for lo, hi in zip(edges, edges[1:]):
        in_mark = a <= lo < b
        if in_mark and not open_mark:
            out.append("<mark>")
        elif open_mark and not in_mark:
            out.append("</mark>")
        open_mark = in_mark
        piece = escape(text[lo:hi])
        out.append(f'<b class="kw">{piece}</b>' if any(s <= lo and hi <= e for s, e in kw) else str(piece))
    if open_mark:
        out.append("</mark>")
    return Markup("".join(out))


def _current() -> dict[str, Any]:
    """The page's own query parameters (no offset), lists kept as lists."""
    return schemas.query_string_values(request.args, fields=PAGE_KEYS)


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
    values = schemas.query_string_values(request.args, fields=schemas.FIELDS)
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
    chips += [("language", v) for v in getattr(req, "language", None) or []]
    chips += [(key, getattr(req, key)) for key in ("after", "before") if getattr(req, key)]
    if req.checked in ("yes", "no"):
        chips.append(("checked", req.checked))
    next_url = prev_url = timeline = None
    downloads: list[tuple[str, str]] = []
    if response is not None:
        timeline = render_timeline(series_of(response),
                                   lambda year: page_url(after=str(year), before=str(year), offset=None))
        base = {**_current(), **({"offset": response.offset} if response.offset else {})}
        downloads = [(label, url_for("api.search", **base, format=fmt))
                     for label, fmt in (("CSV", "csv"), ("JSON Lines", "jsonl"))]
        step = response.k
        if response.offset > 0:
            prev_url = page_url(offset=max(0, response.offset - step) or None)
        if len(response.hits) == step and response.offset + step <= searcher.settings.max_offset:
            next_url = page_url(offset=response.offset + step)
    return render_template("index.html", req=req, response=response, error=error, chips=chips,
                           next_url=next_url, prev_url=prev_url, page_url=page_url, timeline=timeline,
                           downloads=downloads, settings=live_searcher().settings,
                           public_message=public_message), status


@bp.get("/verify")
def verify_page():
    """Check a quote: the form, and with ?quote=... the verdict, the matches and their word diffs."""
    values = schemas.query_string_values(request.args, fields=schemas.VERIFY_FIELDS, keep_blank="quote")
    req = schemas.VerifyRequest.model_construct(**{"quote": None, "speaker": [], "source": [], "language": [],
                                                   "after": None,
                                                   "before": None, **values})
    result = searcher = error = None
    status = 200
    if "quote" in values:
        try:
            req = schemas.parse_verify(values)
            searcher, result = service.run_verify(req)
        except StatementSearchError as exc:
            error, status = exc, http_status(exc)
    return render_template("verify.html", req=req, result=result, error=error,
                           generation=searcher.generation if searcher else None,
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
