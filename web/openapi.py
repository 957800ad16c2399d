"""The OpenAPI 3.1 document of the JSON API: its paths from the route table (web/routes.py, the same
entries that register the Flask routes), its schemas from the pydantic models those entries name
(web/schemas.py).

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
from .routes import Endpoint, Reply, RouteTable

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
    "409": _json("Error", "Not ready yet: the results of a batch job that is still running."),
    "413": _json("Error", "Request body too large, or an upload over its size or row limits."),
    "429": _json("Error", "Too many requests from this client (only when the server has a rate_limit)."),
    "503": _json("Error", "No index is loaded, or the request ran past the server's time budget "
                          "(code time_budget; only when the server has a request_budget)."),
}
# Other media types some replies send (Reply.media).
MediaTypes = dict[str, dict[str, Any]]
DOWNLOADS: MediaTypes = {"text/csv": {"schema": {"type": "string"}},
                         "application/x-ndjson": {"schema": {"type": "string"}}}
CITATIONS: MediaTypes = {"text/plain": {"schema": {"type": "string"}},
             "application/vnd.citationstyles.csl+json": {"schema": {"type": "array", "items": {"type": "object"}}},
             "application/x-bibtex": {"schema": {"type": "string"}}}
ANY_OBJECT: MediaTypes = {"application/json": {"schema": {"type": "object"}}}
CLAIM_REVIEW: MediaTypes = {"application/ld+json": {"schema": {"type": "object", "required": ["@context", "@type"]}}}


def component_schemas(settings: Settings, routes: RouteTable) -> dict[str, Any]:
    """The JSON Schema of every model the routes name (and Error), with the settings' limits on the requests."""
    requests, responses = routes.models()
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in requests]
    models += [(m, "serialization") for m in responses + [schemas.Error] if m not in requests]
    _, top = models_json_schema(models, ref_template=REF)
    defs = top["$defs"]
    if "SearchRequest" in defs:
        fields = defs["SearchRequest"]["properties"]
        # pattern: at least one non-space character (a blank q is refused as empty, 400 invalid_query)
        fields["q"].update(minLength=1, maxLength=settings.max_query_chars, pattern=r"\S")
        fields["k"] = {"type": "integer", "minimum": 1, "maximum": settings.max_k, "default": settings.default_k,
                       "description": fields["k"].get("description", "")}
        fields["offset"].update(minimum=0, maximum=settings.max_offset)
    if "VerifyRequest" in defs:
        defs["VerifyRequest"]["properties"]["quote"].update(minLength=1, maxLength=settings.max_query_chars)
    if "WatchlistCreate" in defs:
        defs["WatchlistCreate"]["properties"]["q"].update(minLength=1, maxLength=settings.max_query_chars,
                                                          pattern=r"\S")
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


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    content = {"application/json": {"schema": _ref(reply.model.__name__)}} if reply.model else {}
    content.update(reply.media)
    if content:
        out["content"] = content
    return out


def operation(e: Endpoint, defs: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI operation object of one route-table entry."""
    op: dict[str, Any] = {"operationId": e.operation_id, "summary": e.summary}
    parameters = e.path_parameters()
    if e.query is not None:
        parameters += _query_parameters(defs[e.query.__name__])
    parameters += [dict(p) for p in e.parameters]
    if parameters:
        op["parameters"] = parameters
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(e.body.__name__)}}}
    elif e.upload is not None:
        op["requestBody"] = {"required": True, "content": dict(e.upload)}
    op["responses"] = {status: _reply(r) for status, r in e.responses.items()}
    if e.errors:
        op["responses"].update({s: r for s, r in ERRORS.items() if s not in op["responses"]})
    return op


def document(settings: Settings, routes: RouteTable) -> dict[str, Any]:
    """The OpenAPI document of `routes`; servers is "/" (relative), never a client's Host header."""
    defs = component_schemas(settings, routes)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "statement-search", "version": package_version(),
                 "description": "Semantic search over public statements. Every error has the shape "
                                "{\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": "/"}],
        "paths": {path: {e.method.lower(): operation(e, defs) for e in ops}
                  for path, ops in routes.paths().items()},
        "components": {"schemas": defs},
    }
