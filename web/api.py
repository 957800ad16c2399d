"""The JSON API: search, documents, health, stats and its own OpenAPI description."""
from __future__ import annotations

from flask import Blueprint, Response, request

from search import export
from search.citation import FORMATS as CITE_FORMATS
from search.errors import SearchError, StatementSearchError

from . import openapi, schemas, security, service
from .errors import public_message
from .extension import live_searcher

bp = Blueprint("api", __name__)


def _json_body(route: str):
    """The decoded JSON body of a POST (bounded depth, strict UTF-8: web/security.py)."""
    if not request.is_json:
        raise SearchError(f"POST {route} needs Content-Type: application/json", code="invalid_content_type")
    return security.decode_json_body(security.read_body())


def download(body: str, media_type: str, filename: str) -> Response:
    """A text body as an attachment with a filename."""
    return Response(body, mimetype=None, content_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/search", methods=["GET", "POST"])
def search():
    if request.method == "POST":
        req = schemas.parse_request(_json_body("/api/search"))
    else:
        req = schemas.parse_request(schemas.query_string_values(request.args))
    _, response = service.run_search(req)
    if req.format != "json":
        rows = export.rows_of(response.hits, response.offset)
        return download(export.render(rows, req.format), export.MEDIA_TYPES[req.format],
                        f"statement-search-results.{req.format}")
    return schemas.dump(schemas.SearchResponseBody.of(response, neighbours=req.context))


@bp.post("/verify")
def verify():
    searcher, result = service.run_verify(schemas.parse_verify(_json_body("/api/verify")))
    return schemas.dump(schemas.VerifyResponse.of(result, searcher.generation, searcher.passages))


CITE_MEDIA = {"text": "text/plain; charset=utf-8", "csl-json": "application/vnd.citationstyles.csl+json",
              "bibtex": "application/x-bibtex; charset=utf-8"}
CITE_EXTENSIONS = {"text": "txt", "csl-json": "json", "bibtex": "bib"}


@bp.get("/passages/<int:passage_id>/cite")
def cite(passage_id: int):
    fmt = request.args.get("format", "json")
    if fmt != "json" and fmt not in CITE_FORMATS:
        raise SearchError(f"format must be one of json, {', '.join(CITE_FORMATS)}, got {fmt!r}",
                          code="invalid_format")
    c = service.citation(passage_id)
    if fmt == "json":
        return schemas.dump(schemas.Citation.from_library(c))
    body = c.render(fmt)
    return Response(body, content_type=CITE_MEDIA[fmt],
                    headers={"Content-Disposition":
                             f'inline; filename="passage-{passage_id}.{CITE_EXTENSIONS[fmt]}"'})


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str):
    searcher = live_searcher().get()
    view = searcher.document(doc_id)
    body = {"document": view.document, "text": view.text, "passages": view.passages,
            "index": {"generation": searcher.generation, "passages": searcher.passages}}
    return schemas.dump(schemas.DocumentBody.model_validate(body, from_attributes=True))


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
    return schemas.dump(schemas.Stats.model_validate(live_searcher().get().stats(), from_attributes=True))


@bp.get("/openapi.json")
def openapi_document():
    return openapi.document(live_searcher().settings)
