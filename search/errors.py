"""Errors of the query side: bad requests and unknown documents, on the shared base of index/errors.py."""
from __future__ import annotations

from index.errors import CorpusError, IndexUnavailable, SettingError, StatementSearchError

__all__ = ["StatementSearchError", "SearchError", "NotFound", "IndexUnavailable", "CorpusError", "SettingError",
           "TimeBudgetExceeded", "Conflict", "TooLarge", "NotReady"]


class SearchError(StatementSearchError):
    """A request the library cannot answer as asked (empty question, k out of range, bad filter, ...)."""

    code = "invalid_request"


class NotFound(SearchError):
    """A document or passage id that the index does not hold."""

    code = "not_found"


class TimeBudgetExceeded(StatementSearchError):
    """A request that ran past settings.request_budget (search/deadline.py); the service answers 503."""

    code = "time_budget"


class Conflict(SearchError):
    """A request that clashes with what is stored (a saved search name already taken)."""

    code = "conflict"


class TooLarge(SearchError):
    """An upload over a size or row limit (a batch of quotes, a file of fact-checks)."""

    code = "too_large"


class NotReady(SearchError):
    """Something asked for before it exists: the results of a batch job that is still running."""

    code = "not_ready"
