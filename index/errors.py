"""The domain errors both layers raise. Each carries a stable `code`; the front ends (web/) map codes to
HTTP statuses and exit codes, so nothing here knows about HTTP or processes."""
from __future__ import annotations


class StatementSearchError(ValueError):
    """Bad input or an unusable index; `code` is a stable machine-readable name, `message` is for people."""

    code = "invalid_request"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class IndexUnavailable(StatementSearchError):
    """The index is missing, unreadable or built for another model."""

    code = "index_unavailable"


class CorpusError(StatementSearchError):
    """The corpus cannot be indexed (missing, empty, duplicate ids)."""

    code = "bad_corpus"


class SettingError(StatementSearchError):
    """A setting has a value the library cannot use."""

    code = "bad_setting"
