"""`/metrics` in Prometheus text format (prometheus_client), correct under several gunicorn workers.

Under `serve`, PROMETHEUS_MULTIPROC_DIR is set before the workers fork (a fresh temporary folder unless
the operator gives one): each worker writes its samples to files there and a scrape of any worker adds
them up (prometheus_client's multiprocess mode; gunicorn's child_exit marks dead workers). Without it
(tests, `flask run`) the process's own registry is served. prometheus_client is imported only in
`init_app`, after the environment is set, because it chooses its storage when first imported.

Series: statement_search_requests_total{route,method,status}, statement_search_request_seconds{route}
(histogram), statement_search_searches_total{mode}, statement_search_errors_total{code},
statement_search_index_passages and statement_search_index_reloads_total.
"""
from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request

ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("statement_search_requests_total", "HTTP requests", ["route", "method", "status"])
        self.latency = Histogram("statement_search_request_seconds", "Request latency", ["route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.searches = Counter("statement_search_searches_total", "Searches answered", ["mode"])
        self.errors = Counter("statement_search_errors_total", "Error responses by code", ["code"])
        self.passages = Gauge("statement_search_index_passages", "Passages in the served index generation",
                              multiprocess_mode="max")
        self.reloads = Counter("statement_search_index_reloads_total", "Index generations swapped in")
        self.generation: str | None = None

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

        if os.environ.get(ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        return generate_latest(registry), CONTENT_TYPE_LATEST


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """One Metrics per process (prometheus_client refuses to register a series twice)."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def init_app(app: Flask, live: Any) -> None:
    m = metrics()

    @app.before_request
    def started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        m.requests.labels(route, request.method, str(response.status_code)).inc()
        if "metrics_started" in g:
            m.latency.labels(route).observe(time.perf_counter() - g.metrics_started)
        if response.status_code >= 400 and response.is_json:
            code = ((response.get_json(silent=True) or {}).get("error") or {}).get("code")
            if isinstance(code, str):
                m.errors.labels(code).inc()
        searcher = live.searcher
        if searcher is not None and searcher.generation != m.generation:
            if m.generation is not None:
                m.reloads.inc()
            m.generation = searcher.generation
            m.passages.set(searcher.passages)
        return response

    @app.get("/metrics")
    def prometheus() -> Response:
        body, kind = m.render()
        return Response(body, mimetype=kind.split(";")[0], headers={"Content-Type": kind})


def count_search(mode: str) -> None:
    metrics().searches.labels(mode).inc()


def worker_exited(pid: int) -> None:
    """gunicorn child_exit: drop a dead worker's live gauges from the multiprocess files."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
