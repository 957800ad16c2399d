"""The JSON API's route table: one entry per (path, method) registers the Flask route and describes its
OpenAPI operation, so a route cannot be served undocumented nor documented unserved (tests/test_web.py
checks both ways against the app's URL map).

Adding a route is one decorator over its view in web/api.py, for example

    @ROUTES.post("/things/<int:id>", "thingUpdate", "Change a thing", body=schemas.ThingRequest,
                 responses={"200": Reply("The changed thing.", schemas.Thing)})
    def thing_update(id: int): ...

The Flask rule is the source of the OpenAPI path (`<int:id>` becomes `{id}`, with its path parameter);
the request and response models named here are the document's component schemas (web/openapi.py).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint
from pydantic import BaseModel

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # the order of operations within a path
_VARIABLE = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")
# What werkzeug's converters accept, as JSON Schema (int takes no sign by default).
CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "default": {"type": "string"}, "string": {"type": "string"}, "path": {"type": "string"},
    "int": {"type": "integer", "minimum": 0}, "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}


@dataclass(frozen=True)
class Reply:
    """One documented response: a JSON body of `model` (or none), plus other media types it may send."""

    description: str
    model: type[BaseModel] | None = None
    media: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # media type -> OpenAPI media object


@dataclass(frozen=True)
class Endpoint:
    """One (path, method) of the API: the view that answers it and what the OpenAPI document says of it."""

    rule: str                     # Flask rule under the table's prefix, e.g. "/passages/<int:id>/cite"
    method: str                   # GET, POST, ...
    view: Callable[..., Any]
    operation_id: str
    summary: str
    responses: Mapping[str, Reply]
    query: type[BaseModel] | None = None      # its fields are the query parameters
    body: type[BaseModel] | None = None       # the JSON request body
    upload: Mapping[str, dict[str, Any]] | None = None  # or a file: media type -> OpenAPI media object
    parameters: tuple[dict[str, Any], ...] = ()  # other query parameters, as OpenAPI parameter objects
    errors: bool = True           # also document the usual error replies (web/openapi.ERRORS)
    public: bool = False          # open without the API key (settings.api_key; web/limits.py)

    @property
    def path(self) -> str:
        """The OpenAPI path under the prefix: `<int:id>` -> `{id}`."""
        return _VARIABLE.sub(lambda m: "{" + m["name"] + "}", self.rule)

    def path_parameters(self) -> list[dict[str, Any]]:
        """The rule's variables as OpenAPI path parameters, typed by their converters."""
        return [{"name": m["name"], "in": "path", "required": True,
                 "schema": dict(CONVERTER_SCHEMAS[m["converter"] or "default"])}
                for m in _VARIABLE.finditer(self.rule)]


class RouteTable:
    """The API's endpoints, in the order they are declared; `blueprint()` registers them with Flask."""

    def __init__(self, prefix: str = "/api") -> None:
        self.prefix = prefix
        self.endpoints: list[Endpoint] = []

    def route(self, rule: str, method: str, operation_id: str, summary: str, **doc: Any) -> Callable:
        """A decorator adding the view as the answer to `method` on `rule` (see Endpoint for `doc`)."""
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")

        def add(view: Callable[..., Any]) -> Callable[..., Any]:
            taken = [e for e in self.endpoints if (e.rule, e.method) == (rule, method)
                     or e.operation_id == operation_id]
            if taken:
                raise ValueError(f"{method} {rule} ({operation_id}) is already in the route table")
            self.endpoints.append(Endpoint(rule, method, view, operation_id, summary, **doc))
            return view
        return add

    def get(self, rule: str, operation_id: str, summary: str, **doc: Any) -> Callable:
        return self.route(rule, "GET", operation_id, summary, **doc)

    def post(self, rule: str, operation_id: str, summary: str, **doc: Any) -> Callable:
        return self.route(rule, "POST", operation_id, summary, **doc)

    def blueprint(self, name: str, import_name: str) -> Blueprint:
        """A blueprint with one Flask rule per (rule, view), its methods those of the table's entries; the
        endpoint name is the view's name (url_for("api.search"))."""
        bp = Blueprint(name, import_name)
        grouped: dict[tuple[str, Callable[..., Any]], list[str]] = {}
        for e in self.endpoints:
            grouped.setdefault((e.rule, e.view), []).append(e.method)
        for (rule, view), methods in grouped.items():
            bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=methods)
        return bp

    def paths(self) -> dict[str, list[Endpoint]]:
        """Endpoints by full OpenAPI path (prefix included), paths in declaration order, methods in METHODS order."""
        out: dict[str, list[Endpoint]] = {}
        for e in self.endpoints:
            out.setdefault(self.prefix + e.path, []).append(e)
        return {path: sorted(ops, key=lambda e: METHODS.index(e.method)) for path, ops in out.items()}

    def public_paths(self) -> tuple[str, ...]:
        """Full Flask paths open without the API key (only rules without variables can be public)."""
        return tuple(self.prefix + e.rule for e in self.endpoints if e.public)

    def models(self) -> tuple[list[type[BaseModel]], list[type[BaseModel]]]:
        """(request models, response models) the endpoints name, each once, in declaration order."""
        requests: dict[type[BaseModel], None] = {}
        responses: dict[type[BaseModel], None] = {}
        for e in self.endpoints:
            for model in (e.query, e.body):
                if model is not None:
                    requests[model] = None
            for reply in e.responses.values():
                if reply.model is not None:
                    responses[reply.model] = None
        return list(requests), list(responses)
