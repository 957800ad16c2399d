"""The JSON API: search, documents, health, stats and its own OpenAPI description.

Every route is one entry of ROUTES (web/routes.py): the decorator over a view registers its Flask rule
and writes its OpenAPI operation, so adding a route here is the whole change.
"""
from __future__ import annotations

import json

from flask import Response, request
from pydantic import BaseModel

from search import export
from search.citation import FORMATS as CITE_FORMATS
from search.claimreview import claim_review
from search.errors import SearchError, StatementSearchError

from . import openapi, schemas, security, service
from .errors import public_message
from .extension import live_searcher
from .openapi import ANY_OBJECT, CITATIONS, CLAIM_REVIEW, DOWNLOADS
from .routes import Reply, RouteTable

ROUTES = RouteTable(prefix="/api")


def _json_body(route: str):
    """The decoded JSON body of a POST (bounded depth, strict UTF-8: web/security.py)."""
    if not request.is_json:
        raise SearchError(f"POST {route} needs Content-Type: application/json", code="invalid_content_type")
    return security.decode_json_body(security.read_body())


def reply(model: BaseModel) -> Response:
    """A response model as the JSON answer (what returning `schemas.dump(model)` sends, written in one pass)."""
    return Response(schemas.dump_json(model) + "\n", mimetype="application/json")


def download(body: str, media_type: str, filename: str) -> Response:
    """A text body as an attachment with a filename."""
    return Response(body, mimetype=None, content_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


SEARCH_OK = {"200": Reply("Ranked paragraphs, best first (format=json), or this page of results as a CSV or JSON "
                          "Lines download (format=csv|jsonl, with a filename).", schemas.SearchResponseBody,
                          DOWNLOADS)}


@ROUTES.get("/search", "searchGet", "Answer a question", query=schemas.SearchRequest, responses=SEARCH_OK)
@ROUTES.post("/search", "searchPost", "Answer a question (JSON body)", body=schemas.SearchRequest,
             responses=SEARCH_OK)
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
    return reply(schemas.SearchResponseBody.of(response, neighbours=req.context))


@ROUTES.post("/verify", "verify", "Check a quote: verbatim, altered, paraphrase or not found",
             body=schemas.VerifyRequest,
             responses={"200": Reply("The verdict, the matches with their word diffs, and who said it first "
                                     "(format=json), or the verdict as schema.org ClaimReview JSON-LD "
                                     "(format=claimreview).", schemas.VerifyResponse, CLAIM_REVIEW)})
def verify():
    req = schemas.parse_verify(_json_body("/api/verify"))
    searcher, result = service.run_verify(req)
    if req.format == "claimreview":
        body = claim_review(result, searcher.generation)
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/ld+json")
    return reply(schemas.VerifyResponse.of(result, searcher.generation, searcher.passages))


CITE_MEDIA = {"text": "text/plain; charset=utf-8", "csl-json": "application/vnd.citationstyles.csl+json",
              "bibtex": "application/x-bibtex; charset=utf-8"}
CITE_EXTENSIONS = {"text": "txt", "csl-json": "json", "bibtex": "bib"}


@ROUTES.get("/passages/<int:id>/cite", "cite", "Cite one paragraph",
            parameters=({"name": "format", "in": "query", "required": False,
                         "schema": {"enum": ["json", *CITE_FORMATS], "default": "json"}},),
            responses={"200": Reply("The citation as JSON (format=json, the default), plain text, CSL-JSON or "
                                    "BibTeX.", schemas.Citation, CITATIONS)})
def cite(id: int):  # noqa: A002 (the OpenAPI parameter's name)
    passage_id = id
    fmt = request.args.get("format", "json")
    if fmt != "json" and fmt not in CITE_FORMATS:
        raise SearchError(f"format must be one of json, {', '.join(CITE_FORMATS)}, got {fmt!r}",
                          code="invalid_format")
    c = service.citation(passage_id)
    if fmt == "json":
        return schemas.dump(schemas.Citation.model_validate(c))
    body = c.render(fmt)
    return Response(body, content_type=CITE_MEDIA[fmt],
                    headers={"Content-Disposition":
                             f'inline; filename="passage-{passage_id}.{CITE_EXTENSIONS[fmt]}"'})


@ROUTES.get("/documents/<path:id>", "document", "A statement: metadata, text and passages",
            responses={"200": Reply("The statement.", schemas.DocumentBody)})
def document(id: str):  # noqa: A002 (the OpenAPI parameter's name)
    doc_id = id
    searcher = live_searcher().get()
    view = searcher.document(doc_id)
    body = {"document": view.document, "text": view.text, "passages": view.passages,
            "index": {"generation": searcher.generation, "passages": searcher.passages}}
    return schemas.dump(schemas.DocumentBody.model_validate(body, from_attributes=True))


@ROUTES.get("/health", "health", "Whether an index is loaded, and which generation", errors=False, public=True,
            responses={"200": Reply("An index is loaded.", schemas.Health),
                       "503": Reply("No index is loaded.", schemas.Health)})
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


@ROUTES.get("/stats", "stats", "Counts, model and build time of the loaded index",
            responses={"200": Reply("Index statistics.", schemas.Stats)})
def stats():
    return schemas.dump(schemas.Stats.model_validate(live_searcher().get().stats(), from_attributes=True))


@ROUTES.get("/openapi.json", "openapi", "This document", errors=False, public=True,
            responses={"200": Reply("OpenAPI 3.1 document", media=ANY_OBJECT)})
def openapi_document():
    return openapi.document(live_searcher().settings, ROUTES)
