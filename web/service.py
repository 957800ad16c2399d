"""The one search function behind the page, the API and the CLI (and the quote check and citations beside it).

`search` and `check_quote` take a loaded searcher and a parsed request (web/schemas.py); the web front ends
reach them through `run_search` / `run_verify` (the live searcher, the request's time budget, metrics), the
CLI directly with the searcher it loaded.
"""
from __future__ import annotations

from typing import Any

from flask import g

from search.citation import Citation
from search.deadline import Deadline
from search.phrases import parse_question
from search.request import validate
from search.settings import Settings
from search.types import SearchResponse
from search.verify import VerifyResult, validate_quote, verify

from .extension import live_searcher
from .metrics import count_search
from .schemas import SearchRequest, VerifyRequest


def search(searcher: Any, req: SearchRequest, neighbours: bool | None = None,
           deadline: Deadline | None = None) -> SearchResponse:
    """One search request against one searcher (one index generation)."""
    return searcher.search(req.q, k=req.k, offset=req.offset,
                           neighbours=req.context if neighbours is None else neighbours,
                           mode=req.mode, filters=req.filters(), sort=req.sort, deadline=deadline, exact=req.exact)


def check_quote(searcher: Any, req: VerifyRequest, deadline: Deadline | None = None) -> VerifyResult:
    """One quote check against one searcher."""
    return verify(searcher, req.quote, req.filters(), deadline=deadline)


def check_search_limits(settings: Settings, req: SearchRequest) -> None:
    """SearchError for a request over the settings' limits or with a bad question, before any index loads."""
    validate(settings, req.q, settings.default_k if req.k is None else req.k, req.offset)
    parse_question(req.q)


def check_quote_limits(settings: Settings, req: VerifyRequest) -> None:
    """SearchError for an empty, wordless or over-long quote, before any index loads."""
    validate_quote(req.quote, settings.max_query_chars)


def run_search(req: SearchRequest, neighbours: bool | None = None) -> tuple[Any, SearchResponse]:
    """(searcher, SearchResponse) for one web request, both from one index generation."""
    deadline = request_deadline()
    searcher = live_searcher().get()  # one generation for the whole request
    response = search(searcher, req, neighbours, deadline)
    count_search(response.mode)
    return searcher, response


def run_verify(req: VerifyRequest) -> tuple[Any, VerifyResult]:
    """(searcher, VerifyResult) for one web quote check, both from one index generation."""
    deadline = request_deadline()
    searcher = live_searcher().get()
    return searcher, check_quote(searcher, req, deadline)


def request_deadline() -> Deadline:
    """The request's time budget (settings.request_budget), counted from when the request was read."""
    started = g.get("started")  # set first thing by web/limits.py
    return Deadline(live_searcher().settings.request_budget, started=started)


def citation(passage_id: int) -> Citation:
    return live_searcher().get().citation(passage_id)
