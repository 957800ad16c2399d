"""The one search function behind both the page and the API (and the quote check and citations beside it)."""
from __future__ import annotations

from typing import Any

from flask import g

from search.citation import Citation
from search.deadline import Deadline
from search.types import SearchResponse
from search.verify import VerifyResult, verify

from .extension import live_searcher
from .metrics import count_search
from .schemas import SearchRequest, VerifyRequest


def run_search(req: SearchRequest, neighbours: bool | None = None) -> tuple[Any, SearchResponse]:
    """(searcher, SearchResponse) for one request, both from one index generation."""
    deadline = request_deadline()
    searcher = live_searcher().get()  # one generation for the whole request
    response = searcher.search(req.q, k=req.k, offset=req.offset,
                               neighbours=req.context if neighbours is None else neighbours,
                               mode=req.mode, filters=req.filters(), sort=req.sort, deadline=deadline)
    count_search(response.mode)
    return searcher, response


def run_verify(req: VerifyRequest) -> tuple[Any, VerifyResult]:
    """(searcher, VerifyResult) for one quote check, both from one index generation."""
    deadline = request_deadline()
    searcher = live_searcher().get()
    return searcher, verify(searcher, req.quote, req.filters(), deadline=deadline)


def request_deadline() -> Deadline:
    """The request's time budget (settings.request_budget), counted from when the request was read."""
    started = g.get("started")  # set first thing by web/limits.py
    return Deadline(live_searcher().settings.request_budget, started=started)


def citation(passage_id: int) -> Citation:
    return live_searcher().get().citation(passage_id)
