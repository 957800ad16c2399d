"""The JSON API: search, documents, health, stats and its own OpenAPI description."""
from __future__ import annotations

from flask import Blueprint, request
from werkzeug.exceptions import BadRequest

from search.errors import SearchError

from . import openapi, service

bp = Blueprint("api", __name__)


@bp.route("/search", methods=["GET", "POST"])
def search():
    if request.method == "POST":
        if not request.is_json:
            raise SearchError("POST /api/search needs Content-Type: application/json", code="invalid_content_type")
        try:
            body = request.get_json()
        except BadRequest:
            raise SearchError("the request body is not valid JSON", code="invalid_json") from None
        req = service.from_json(body)
    else:
        req = service.from_args(request.args)
    searcher, response = service.run_search(req)
    return service.response_json(searcher, response, neighbours=req.context)


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str):
    searcher = service.live_searcher().get()
    out = searcher.document(doc_id)
    out["index"] = {"generation": searcher.generation, "passages": searcher.passages}
    return out


@bp.get("/health")
def health():
    live = service.live_searcher()
    try:
        searcher = live.get()
    except SearchError as exc:
        return {"status": "unavailable", "generation": None, "passages": 0, "loading": live.loading,
                "error": {"code": exc.code, "message": exc.message}}, 503
    return {"status": "ok", "generation": searcher.generation, "passages": searcher.passages,
            "loading": live.loading}


@bp.get("/stats")
def stats():
    return service.live_searcher().get().stats()


@bp.get("/openapi.json")
def openapi_document():
    return openapi.document(request.host_url.rstrip("/"))
