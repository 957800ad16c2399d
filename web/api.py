"""The JSON API: search, documents, health, stats and its own OpenAPI description."""
from __future__ import annotations

from flask import Blueprint, request

from search.errors import SearchError, StatementSearchError

from . import openapi, schemas, security, service
from .errors import public_message
from .extension import live_searcher

bp = Blueprint("api", __name__)


@bp.route("/search", methods=["GET", "POST"])
def search():
    if request.method == "POST":
        if not request.is_json:
            raise SearchError("POST /api/search needs Content-Type: application/json", code="invalid_content_type")
        req = schemas.parse_request(security.decode_json_body(security.read_body()))
    else:
        req = schemas.parse_request(schemas.query_string_values(request.args))
    _, response = service.run_search(req)
    return schemas.dump(schemas.SearchResponseBody.of(response, neighbours=req.context))


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str):
    searcher = live_searcher().get()
    out = searcher.document(doc_id)
    out["index"] = {"generation": searcher.generation, "passages": searcher.passages}
    return schemas.dump(schemas.DocumentBody.model_validate(out))


@bp.get("/health")
def health():
    live = live_searcher()
    try:
        searcher = live.get()
    except StatementSearchError as exc:
        body = schemas.Health(status="unavailable", generation=None, passages=0, loading=live.loading,
                              error=schemas.ErrorDetail(code=exc.code, message=public_message(exc)))
        return schemas.dump(body), 503
    return schemas.dump(schemas.Health(status="ok", generation=searcher.generation, passages=searcher.passages,
                                       loading=live.loading))


@bp.get("/stats")
def stats():
    return schemas.dump(schemas.Stats.model_validate(live_searcher().get().stats()))


@bp.get("/openapi.json")
def openapi_document():
    return openapi.document(live_searcher().settings)
