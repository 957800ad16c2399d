"""One error shape: {"error": {"code", "message"}} for the API, a friendly page for the site."""
from __future__ import annotations

import logging
import re

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from search.errors import SearchError

log = logging.getLogger(__name__)


def _code(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, code: str, message: str):
    if wants_json():
        return {"error": {"code": code, "message": message}}, status
    return render_template("error.html", status=status, code=code, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(SearchError)
    def search_error(exc: SearchError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            404: "no such page" if not wants_json() else f"no API route {request.path}",
            405: f"{request.method} is not allowed here",
            413: f"the request body is larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }
        status = exc.code or 500
        response = error_response(status, _code(exc.name), messages.get(status, exc.description or exc.name))
        if status == 405 and getattr(exc, "valid_methods", None):
            body, code = response
            return body, code, {"Allow": ", ".join(exc.valid_methods)}
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
