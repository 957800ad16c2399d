"""The OpenAPI 3.1 description of the JSON API (its schemas are JSON Schema 2020-12, tested against real responses)."""
from __future__ import annotations

from typing import Any

from search.settings import Settings

_S = Settings()
NULLABLE_STRING = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Invalid input: missing, empty or over-long q, bad k/offset/mode/filters, bad JSON."),
    "404": _json(_ref("Error"), "Unknown route or document."),
    "405": _json(_ref("Error"), "Method not allowed."),
    "413": _json(_ref("Error"), "Request body too large."),
    "503": _json(_ref("Error"), "No index is loaded."),
}

SEARCH_FIELDS: dict[str, dict[str, Any]] = {
    "q": {"type": "string", "minLength": 1, "maxLength": _S.max_query_chars, "description": "The question."},
    "k": {"type": "integer", "minimum": 1, "maximum": _S.max_k, "default": _S.default_k,
          "description": "Number of results."},
    "offset": {"type": "integer", "minimum": 0, "maximum": _S.max_offset, "default": 0,
               "description": "Results to skip (paging)."},
    "mode": {"type": "string", "enum": ["hybrid", "vector", "keyword"], "description": "Retrieval mode."},
    "context": {"type": "boolean", "default": False, "description": "Include neighbouring paragraphs."},
    "speaker": {"type": "array", "items": {"type": "string"},
                "description": "Only these speakers (exact names, any of)."},
    "after": {"type": "string", "description": "Only statements dated on or after (YYYY, YYYY-MM or YYYY-MM-DD)."},
    "before": {"type": "string", "description": "Only statements dated on or before (YYYY, YYYY-MM or YYYY-MM-DD)."},
    "source": {"type": "array", "items": {"type": "string"},
               "description": "Only sources containing one of these texts."},
    "sort": {"type": "string", "enum": ["relevance", "newest", "oldest", "date"], "default": "relevance",
             "description": "Order of the relevant results; date = newest first."},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {"type": "object", "required": ["code", "message"], "additionalProperties": False,
                                 "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
    },
    "DocumentInfo": {
        "type": "object", "required": ["id", "title", "speaker", "date", "source"],
        "properties": {"id": {"type": "string"}, "title": NULLABLE_STRING, "speaker": NULLABLE_STRING,
                       "date": NULLABLE_STRING, "source": NULLABLE_STRING},
    },
    "Span": {"type": "object", "required": ["start", "end"],
             "properties": {"start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0}}},
    "Neighbour": {"type": "object", "required": ["id", "paragraph", "text"],
                  "properties": {"id": {"type": "integer"}, "paragraph": {"type": "integer"},
                                 "text": {"type": "string"}}},
    "Hit": {
        "type": "object", "required": ["id", "score", "text", "highlight", "document", "position", "weak"],
        "properties": {
            "id": {"type": "integer", "minimum": 0},
            "score": {"type": "number"},
            "text": {"type": "string"},
            "highlight": _ref("Span"),
            "document": _ref("DocumentInfo"),
            "position": {"type": "object", "required": ["paragraph", "of"],
                         "properties": {"paragraph": {"type": "integer", "minimum": 1},
                                        "of": {"type": "integer", "minimum": 1}}},
            "weak": {"type": "boolean", "description": "Below the calibrated \"no strong match\" line."},
            "duplicates": {"type": "array", "items": _ref("DocumentInfo"),
                           "description": "Other statements that carry the same paragraph."},
            "context": {"type": "string", "description": "Headings above the paragraph."},
            "neighbours": {"type": "array", "items": _ref("Neighbour")},
        },
    },
    "Facet": {"type": "object", "required": ["value", "count"],
              "properties": {"value": {"type": "string"}, "count": {"type": "integer", "minimum": 0}}},
    "IndexRef": {"type": "object", "required": ["generation", "passages"],
                 "properties": {"generation": {"type": "string"}, "passages": {"type": "integer", "minimum": 0}}},
    "SearchRequest": {
        "type": "object", "required": ["q"], "additionalProperties": False,
        "properties": {**SEARCH_FIELDS,
                       "speaker": {"type": ["string", "array"], "items": {"type": "string"}},
                       "source": {"type": ["string", "array"], "items": {"type": "string"}}},
    },
    "SearchResponse": {
        "type": "object",
        "required": ["query", "results", "took_ms", "mode", "sort", "k", "offset", "strong", "index"],
        "properties": {
            "query": {"type": "string"},
            "results": {"type": "array", "items": _ref("Hit")},
            "took_ms": {"type": "number", "minimum": 0},
            "mode": {"type": "string", "enum": ["hybrid", "vector", "keyword"]},
            "sort": {"type": "string"},
            "k": {"type": "integer"},
            "offset": {"type": "integer"},
            "strong": {"type": "boolean", "description": "Whether any result is above the \"no strong match\" line."},
            "index": _ref("IndexRef"),
            "filters": {"type": "object", "properties": {
                "speaker": {"type": "array", "items": {"type": "string"}}, "after": NULLABLE_STRING,
                "before": NULLABLE_STRING, "source": {"type": "array", "items": {"type": "string"}}}},
            "undated_excluded": {"type": "integer", "minimum": 0,
                                 "description": "Statements left out by a date filter because they have no date."},
            "facets": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("Facet")},
                       "description": "Counts by speaker and year over all strong matches."},
        },
    },
    "Document": {
        "type": "object", "required": ["document", "text", "passages", "index"],
        "properties": {
            "document": {"allOf": [_ref("DocumentInfo")],
                         "properties": {"extra": {"type": "object"}}},
            "text": {"type": "string"},
            "passages": {"type": "array", "items": {
                "type": "object", "required": ["id", "paragraph", "start", "end", "text"],
                "properties": {"id": {"type": "integer"}, "paragraph": {"type": "integer", "minimum": 1},
                               "start": {"type": "integer"}, "end": {"type": "integer"},
                               "context": {"type": "string"}, "text": {"type": "string"}}}},
            "index": _ref("IndexRef"),
        },
    },
    "Health": {
        "type": "object", "required": ["status", "generation", "passages", "loading"],
        "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]},
                       "generation": NULLABLE_STRING, "passages": {"type": "integer"},
                       "loading": {"type": "boolean", "description": "A newer generation is being loaded."},
                       "error": {"$ref": "#/components/schemas/Error/properties/error"}},
    },
    "Stats": {
        "type": "object",
        "required": ["generation", "documents", "passages", "model", "dimension", "built_at", "weak_line"],
        "properties": {"generation": {"type": "string"}, "documents": {"type": "integer"},
                       "passages": {"type": "integer"}, "model": {"type": ["object", "string"]},
                       "dimension": {"type": "integer"}, "index": {"type": ["object", "string", "null"]},
                       "built_at": {"type": "string"},
                       "weak_line": {"type": "number", "description": "Cosine below which hits are weak "
                                     "(\"no strong match\") for this index."}},
    },
}


def _query_parameters() -> list[dict[str, Any]]:
    params = []
    for name, schema in SEARCH_FIELDS.items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name == "q",
                                 "description": schema.get("description", ""),
                                 "schema": {k: v for k, v in schema.items() if k != "description"}}
        if schema["type"] == "array":
            param.update(style="form", explode=True)
        params.append(param)
    return params


def document(server: str = "") -> dict[str, Any]:
    """The OpenAPI document, with `server` as the base URL."""
    from index.build import package_version

    search_ok = _json(_ref("SearchResponse"), "Ranked paragraphs, best first.")
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "statement-search", "version": package_version(),
                 "description": "Semantic search over public statements. Every error has the shape "
                                "{\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": server or "/"}],
        "paths": {
            "/api/search": {
                "get": {"operationId": "searchGet", "summary": "Answer a question",
                        "parameters": _query_parameters(),
                        "responses": {"200": search_ok, **ERRORS}},
                "post": {"operationId": "searchPost", "summary": "Answer a question (JSON body)",
                         "requestBody": {"required": True,
                                         "content": {"application/json": {"schema": _ref("SearchRequest")}}},
                         "responses": {"200": search_ok, **ERRORS}},
            },
            "/api/documents/{id}": {
                "get": {"operationId": "document", "summary": "A statement: metadata, text and passages",
                        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                        "responses": {"200": _json(_ref("Document"), "The statement."), **ERRORS}},
            },
            "/api/health": {
                "get": {"operationId": "health", "summary": "Whether an index is loaded, and which generation",
                        "responses": {"200": _json(_ref("Health"), "An index is loaded."),
                                      "503": _json(_ref("Health"), "No index is loaded.")}},
            },
            "/api/stats": {
                "get": {"operationId": "stats", "summary": "Counts, model and build time of the loaded index",
                        "responses": {"200": _json(_ref("Stats"), "Index statistics."), **ERRORS}},
            },
            "/api/openapi.json": {
                "get": {"operationId": "openapi", "summary": "This document",
                        "responses": {"200": {"description": "OpenAPI 3.1 document",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}},
            },
        },
        "components": {"schemas": SCHEMAS},
    }
