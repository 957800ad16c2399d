"""Validate a search request at the edge: question, k, offset, mode; SearchError with an actionable message."""
from __future__ import annotations

from typing import Any

from .errors import SearchError
from .settings import MODES, Settings


def validate_mode(mode: Any) -> str:
    if mode not in MODES:
        raise SearchError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", code="invalid_mode")
    return mode


def validate(settings: Settings, question: Any, k: Any, offset: Any) -> tuple[str, int, int]:
    """(question stripped, k, offset) within the settings' limits."""
    if not isinstance(question, str):
        raise SearchError("q must be a string", code="invalid_query")
    check_text("q", question, code="invalid_query")
    question = question.strip()
    if not question:
        raise SearchError("q is empty: type a question", code="invalid_query")
    if len(question) > settings.max_query_chars:
        raise SearchError(f"q is {len(question)} characters long; the limit is {settings.max_query_chars}",
                          code="query_too_long")
    k = integer("k", k, 1, settings.max_k)
    offset = integer("offset", offset, 0, settings.max_offset)
    return question, k, offset


def integer(name: str, value: Any, low: int, high: int) -> int:
    """An int (or a string of one) between low and high, else SearchError code invalid_<name>."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SearchError(f"{name} must be an integer between {low} and {high}", code=f"invalid_{name}")
    try:
        number = int(value)
    except ValueError:
        raise SearchError(f"{name} must be an integer between {low} and {high}, got {value!r}",
                          code=f"invalid_{name}") from None
    if not low <= number <= high:
        raise SearchError(f"{name} must be between {low} and {high}, got {number}", code=f"invalid_{name}")
    return number


def check_text(name: str, value: str, code: str | None = None) -> str:
    """`value` unless it holds a lone surrogate (a JSON \\ud800 escape, undecodable bytes on a command
    line): such text can be neither embedded nor written back as UTF-8, so it is refused as bad input."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SearchError(f"{name} is not valid Unicode text (a lone surrogate at character {exc.start})",
                          code=code or f"invalid_{name}") from None
    return value
