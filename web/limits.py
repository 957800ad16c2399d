"""Limits a public deployment needs, each a setting, off by default: per-client rate limits, an API key
for the JSON API, a CORS allow-list, and a request id on every response (also in the access log).

- `rate_limit` (e.g. "60/minute;1000/hour"): flask-limiter, keyed by the client address, on every route
  but /api/health and static files; over it → 429 JSON error with Retry-After. Counters live in
  `rate_limit_storage`: memory:// (default) counts per worker process, so with N workers a client gets
  up to N times the limit; a shared store (redis://host:6379) makes it exact. Behind a proxy every
  request comes from the proxy's address: set `proxy_hops` to the number of proxies (werkzeug's
  ProxyFix then takes the client address from X-Forwarded-For), or limit at the proxy.
  flask-limiter rather than a hand-made counter: fixed and moving windows, shared storage backends and
  the standard X-RateLimit / Retry-After headers are done and maintained.

- `api_key`: when set, every /api/ route except /api/health and /api/openapi.json needs the header
  `X-API-Key: <key>` (or `Authorization: Bearer <key>`); a missing or wrong key → 401 JSON error.
  The comparison is constant-time. The HTML page stays public.
- `cors_origins`: a comma-separated allow-list; an API response to a listed Origin gets
  `Access-Control-Allow-Origin: <origin>` (a preflight OPTIONS from it is answered with 204, before the
  API key is asked for, with the allowed methods GET, POST, the allowed request headers Content-Type,
  X-API-Key, Authorization, and Max-Age 600). Empty: no CORS headers, so browsers on other origins cannot
  read the API. The headers are flask-cors's rather than hand-written: origin matching, `Vary: Origin`
  and the preflight's header rules (only the requested headers that are allowed are echoed) follow the
  Fetch standard as that maintained library implements it.
- Request ids: `X-Request-ID` from the client when it is a short token, else a new random one; returned
  on every response and logged with method, path, status and milliseconds by the `statement_search.access`
  logger (the server sends it to stderr).
"""
from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from typing import Any

from flask import Flask, Response, g, request

from search.errors import SettingError
from search.settings import Settings

from .errors import error_response, wants_json

access_log = logging.getLogger("statement_search.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UPLOAD_ENDPOINTS = ("api.batch_submit", "batch_pages.submit")  # limited by settings.batch_rate_limit


def allowed_origins(settings: Settings) -> set[str]:
    return {o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()}


def init_app(app: Flask, settings: Settings, open_paths: tuple[str, ...] = ()) -> None:
    """Request ids, CORS, the API key (except on `open_paths`, the route table's public ones) and rate limits."""
    origins = allowed_origins(settings)
    if settings.proxy_hops:
        # werkzeug's ProxyFix, not a hand parser: it trusts only the last `proxy_hops` entries, which the
        # proxies themselves appended, so a client cannot name its own address by sending the header.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented way to wrap its WSGI app
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    init_rate_limit(app, settings)
    init_cors(app, origins)

    @app.before_request
    def start() -> Response | tuple | None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        g.started = time.perf_counter()
        if request.method == "OPTIONS" and wants_json() and request.headers.get("Origin") in origins:
            return Response(status=204)
        if settings.api_key and wants_json() and request.path not in open_paths:
            if not _key_matches(settings.api_key):
                return error_response(401, "unauthorized", "this API needs a key: send X-API-Key: <key>")
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        request_id = getattr(g, "request_id", None) or secrets.token_hex(8)
        response.headers["X-Request-ID"] = request_id
        if wants_json() and request.headers.get("Origin") in origins:
            response.vary.add("Origin")  # flask-cors leaves it out when one origin is listed; it still varies
        took = (time.perf_counter() - g.started) * 1000 if "started" in g else 0.0
        access_log.info("%s %s %s %d %.1fms", request_id, request.method, request.path, response.status_code, took)
        return response


CORS_METHODS = ("GET", "POST")
CORS_HEADERS = ("Content-Type", "X-API-Key", "Authorization")


def init_cors(app: Flask, origins: set[str]) -> None:
    """flask-cors on the JSON API for the listed origins (nothing at all when the list is empty)."""
    if not origins:
        return
    from flask_cors import CORS

    CORS(app, resources={r"/api/*": {"origins": sorted(origins)}}, methods=list(CORS_METHODS),
         allow_headers=list(CORS_HEADERS), max_age=600, vary_header=True, send_wildcard=False)


def _key_matches(expected: str) -> bool:
    given = request.headers.get("X-API-Key", "")
    auth = request.headers.get("Authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode(), expected.encode())


def _checked(name: str, value: str) -> str:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise SettingError(f"setting {name} must look like '60/minute;1000/hour', got {value!r} ({exc})") from None
    return value


def init_rate_limit(app: Flask, settings: Settings):
    """A flask-limiter Limiter for settings.rate_limit on `app` and settings.batch_rate_limit on the batch
    uploads (a batch costs a thousand searches), or None when both are empty. Call after the routes exist."""
    if not settings.rate_limit.strip() and not settings.batch_rate_limit.strip():
        return None
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    defaults: list[Any] = [_checked("rate_limit", settings.rate_limit)] if settings.rate_limit.strip() else []
    limiter = Limiter(get_remote_address, app=app, default_limits=defaults,
                      storage_uri=settings.rate_limit_storage, headers_enabled=True,
                      default_limits_exempt_when=lambda: request.path == "/api/health"
                      or request.path.startswith("/static/"))
    if settings.batch_rate_limit.strip():
        batch_limit = _checked("batch_rate_limit", settings.batch_rate_limit)
        for endpoint in UPLOAD_ENDPOINTS:
            if endpoint in app.view_functions:
                # per client address and per route, on top of the default limits
                limited: Any = limiter.limit(batch_limit, methods=["POST"])(app.view_functions[endpoint])
                app.view_functions[endpoint] = limited
    return limiter
