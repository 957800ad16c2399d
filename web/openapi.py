"""The OpenAPI 3.1 document of the JSON API, generated from the pydantic models in web/schemas.py.

Limits that are settings (q length, k and offset ranges) are written in from the live settings when the
document is served, so an environment override is what clients see.
"""
from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from index.build import package_version
from search.settings import Settings

from . import schemas

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {
    "400": _json("Error", "Invalid input: missing, empty or over-long q, bad k/offset/mode/filters, bad JSON."),
    "401": _json("Error", "API key missing or wrong (only when the server is configured with api_key)."),
    "404": _json("Error", "Unknown route or document."),
    "405": _json("Error", "Method not allowed."),
    "413": _json("Error", "Request body too large."),
    "429": _json("Error", "Too many requests from this client (only when the server has a rate_limit)."),
    "503": _json("Error", "No index is loaded."),
}


def component_schemas(settings: Settings) -> dict[str, Any]:
    """Every model's JSON Schema, with the settings' limits on the search request."""
    models = [(schemas.SearchRequest, "validation")] + [(m, "serialization") for m in schemas.RESPONSE_MODELS]
    _, top = models_json_schema(models, ref_template=REF)
    defs = top["$defs"]
    fields = defs["SearchRequest"]["properties"]
    fields["q"].update(minLength=1, maxLength=settings.max_query_chars)
    fields["k"] = {"type": "integer", "minimum": 1, "maximum": settings.max_k, "default": settings.default_k,
                   "description": fields["k"].get("description", "")}
    fields["offset"].update(minimum=0, maximum=settings.max_offset)
    return defs


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
    search_ok = _json("SearchResponseBody", "Ranked paragraphs, best first.")
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
