"""The OpenAPI 3.1 document of the JSON API, generated from the pydantic models in web/schemas.py.

Limits that are settings (q length, k and offset ranges) are written in from the live settings when the
document is served, so an environment override is what clients see.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from index.build import package_version
from search.settings import Settings

from . import schemas

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {
    "400": _json("Error", "Invalid input: missing, empty or over-long q or quote, bad k/offset/mode/filters/format, "
                          "a phrase of common words only, bad JSON."),
    "401": _json("Error", "API key missing or wrong (only when the server is configured with api_key)."),
    "404": _json("Error", "Unknown route, document or passage."),
    "405": _json("Error", "Method not allowed."),
    "413": _json("Error", "Request body too large."),
    "429": _json("Error", "Too many requests from this client (only when the server has a rate_limit)."),
    "503": _json("Error", "No index is loaded, or the request ran past the server's time budget "
                          "(code time_budget; only when the server has a request_budget)."),
}


def component_schemas(settings: Settings) -> dict[str, Any]:
    """Every model's JSON Schema, with the settings' limits on the search request."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (schemas.SearchRequest, "validation"), (schemas.VerifyRequest, "validation"),
        *[(m, "serialization") for m in schemas.RESPONSE_MODELS]]
    _, top = models_json_schema(models, ref_template=REF)
    defs = top["$defs"]
    fields = defs["SearchRequest"]["properties"]
    fields["q"].update(minLength=1, maxLength=settings.max_query_chars)
    fields["k"] = {"type": "integer", "minimum": 1, "maximum": settings.max_k, "default": settings.default_k,
                   "description": fields["k"].get("description", "")}
    fields["offset"].update(minimum=0, maximum=settings.max_offset)
    defs["VerifyRequest"]["properties"]["quote"].update(minLength=1, maxLength=settings.max_query_chars)
    return defs


DOWNLOADS = {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}
CITATIONS = {"text/plain": {"schema": {"type": "string"}},
             "application/vnd.citationstyles.csl+json": {"schema": {"type": "array", "items": {"type": "object"}}},
             "application/x-bibtex": {"schema": {"type": "string"}}}


def _search_ok() -> dict[str, Any]:
    ok = _json("SearchResponseBody", "Ranked paragraphs, best first (format=json), or this page of results as "
                                     "a CSV or JSON Lines download (format=csv|jsonl, with a filename).")
    ok["content"].update(DOWNLOADS)
    return ok


def _query_parameters(request_schema: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    required = set(request_schema.get("required", []))
    for name, schema in request_schema["properties"].items():
        schema = dict(schema)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                 "description": schema.pop("description", ""), "schema": schema}
        if name in schemas.LIST_FIELDS:
            param.update(style="form", explode=True)
        params.append(param)
    return params


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document; servers is "/" (relative), never a client's Host header."""
    defs = component_schemas(settings)
    search_ok = _search_ok()
    cite_ok = _json("Citation", "The citation as JSON (format=json, the default), plain text, CSL-JSON or BibTeX.")
    cite_ok["content"].update(CITATIONS)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "statement-search", "version": package_version(),
                 "description": "Semantic search over public statements. Every error has the shape "
                                "{\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/search": {
                "get": {"operationId": "searchGet", "summary": "Answer a question",
                        "parameters": _query_parameters(defs["SearchRequest"]),
                        "responses": {"200": search_ok, **ERRORS}},
                "post": {"operationId": "searchPost", "summary": "Answer a question (JSON body)",
                         "requestBody": {"required": True,
                                         "content": {"application/json": {"schema": _ref("SearchRequest")}}},
                         "responses": {"200": search_ok, **ERRORS}},
            },
            "/api/verify": {
                "post": {"operationId": "verify",
                         "summary": "Check a quote: verbatim, altered, paraphrase or not found",
                         "requestBody": {"required": True,
                                         "content": {"application/json": {"schema": _ref("VerifyRequest")}}},
                         "responses": {"200": _json("VerifyResponse", "The verdict, the matches with their word "
                                                                      "diffs, and who said it first."), **ERRORS}},
            },
            "/api/passages/{id}/cite": {
                "get": {"operationId": "cite", "summary": "Cite one paragraph",
                        "parameters": [{"name": "id", "in": "path", "required": True,
                                        "schema": {"type": "integer", "minimum": 0}},
                                       {"name": "format", "in": "query", "required": False,
                                        "schema": {"enum": ["json", "text", "csl-json", "bibtex"], "default": "json"}}],
                        "responses": {"200": cite_ok, **ERRORS}},
            },
            "/api/documents/{id}": {
                "get": {"operationId": "document", "summary": "A statement: metadata, text and passages",
                        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                        "responses": {"200": _json("DocumentBody", "The statement."), **ERRORS}},
            },
            "/api/health": {
                "get": {"operationId": "health", "summary": "Whether an index is loaded, and which generation",
                        "responses": {"200": _json("Health", "An index is loaded."),
                                      "503": _json("Health", "No index is loaded.")}},
            },
            "/api/stats": {
                "get": {"operationId": "stats", "summary": "Counts, model and build time of the loaded index",
                        "responses": {"200": _json("Stats", "Index statistics."), **ERRORS}},
            },
            "/api/openapi.json": {
                "get": {"operationId": "openapi", "summary": "This document",
                        "responses": {"200": {"description": "OpenAPI 3.1 document",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}},
            },
        },
        "components": {"schemas": defs},
    }
