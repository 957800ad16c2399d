"""Browser security headers on every response, and request bodies that cannot hurt the parser.

The page has no inline scripts or styles, so the Content-Security-Policy can be strict: only this
origin's stylesheet and one script (static/cite.js, which fetches a citation from this origin and copies
it), forms posting back here, no framing (clickjacking), no plugins. The same headers go
on JSON, HTML, static files and errors alike (`after_request` runs for all of them).
"""
from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from search.errors import SearchError

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                           "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
MAX_JSON_DEPTH = 32  # a search request is two levels deep; refuse before the decoder recurses


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (a linear scan, no recursion)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def read_body() -> bytes:
    """The request body; SearchError (400) when the client's body cannot be read: a malformed chunked
    encoding, a body shorter than its Content-Length (the server's read timeout), a dropped connection."""
    try:
        return request.get_data(cache=True)
    except HTTPException:  # 413 and friends keep their status
        raise
    except Exception as exc:  # gunicorn's ParseException subclasses, OSError/TimeoutError, ClientDisconnected
        raise SearchError(f"the request body could not be read ({type(exc).__name__})",
                          code="invalid_body") from None


def decode_json_body(raw: bytes) -> Any:
    """A request body as JSON: SearchError (400) for bad UTF-8, bad JSON or nesting deeper than MAX_JSON_DEPTH."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SearchError("the request body is not valid UTF-8", code="invalid_json") from None
    if json_depth_exceeds(text):
        raise SearchError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise SearchError("the request body is not valid JSON", code="invalid_json") from None

