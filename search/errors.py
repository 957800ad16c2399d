"""One domain error type, turned into a JSON error by the API and an exit code by the CLI."""


class SearchError(ValueError):
    """Bad input or an unusable index; `code` is a stable machine-readable name."""

    code = "invalid_request"
    status = 400
    exit_code = 2

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class IndexUnavailable(SearchError):
    """The index is missing, unreadable or built for another model."""

    code = "index_unavailable"
    status = 503
    exit_code = 3


class CorpusError(SearchError):
    """The corpus cannot be indexed (missing, empty)."""

    code = "bad_corpus"
    exit_code = 2


class NotFound(SearchError):
    code = "not_found"
    status = 404
