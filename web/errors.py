"""One error shape: {"error": {"code", "message"}} for the API, a friendly page for the site.

The library raises domain errors with a code (index/errors.py, search/errors.py); this module alone
decides their HTTP status, and `exit_code` their command-line exit status.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from search.errors import (
    Conflict,
    IndexUnavailable,
    NotFound,
    NotReady,
    StatementSearchError,
    TimeBudgetExceeded,
    TooLarge,
)

log = logging.getLogger(__name__)


def http_status(exc: StatementSearchError) -> int:
    """503 when no usable index is there or the request ran past its time budget, 404 for an unknown id,
    413 for an upload over its limits, 409 for a name already taken (a saved search) or results asked for
    before they exist, 400 for anything the client asked wrong."""
    if isinstance(exc, (IndexUnavailable, TimeBudgetExceeded)):
        return 503
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, (Conflict, NotReady)):
        return 409
    return 400


def exit_code(exc: StatementSearchError) -> int:
    """3 when the index is missing, unreadable or built for another model (or the time budget ran out);
    2 for bad input."""
    return 3 if isinstance(exc, (IndexUnavailable, TimeBudgetExceeded)) else 2


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:[^\s/'\"()`,;]+/)*([^\s/'\"()`,;]+)")


def public_message(exc: StatementSearchError) -> str:
    """The message without absolute paths of the server's filesystem (only their last part is kept):
    HTTP clients learn what is wrong, not where the index lives. The command line shows full paths."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1), exc.message)


def _code(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, code: str, message: str):
    if wants_json():
        return {"error": {"code": code, "message": message}}, status
    return render_template("error.html", status=status, code=code, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(StatementSearchError)
    def domain_error(exc: StatementSearchError):
        return error_response(http_status(exc), exc.code, public_message(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            404: "no such page" if not wants_json() else f"no API route {request.path}",
            405: f"{request.method} is not allowed here",
            413: f"the request body is larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
            429: f"too many requests: the limit is {exc.description}; retry later",
        }
        status = exc.code or 500
        response = error_response(status, _code(exc.name), messages.get(status, exc.description or exc.name))
        valid_methods = getattr(exc, "valid_methods", None)  # werkzeug's MethodNotAllowed
        if status == 405 and valid_methods:
            body, code = response
            return body, code, {"Allow": ", ".join(valid_methods)}
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
