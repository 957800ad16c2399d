"""A file of quotes to check in one batch (CSV or JSON Lines): parsed and validated whole, or refused.

Columns (CSV header, or JSON keys): `quote` (required), optional `id` (kept as given, to join the results
back to the caller's sheet), and the filters of a single check: `speaker` (several separated by `;` in
CSV, a list in JSON), `after`, `before` (YYYY, YYYY-MM or YYYY-MM-DD), `source`. Any other column is
refused: a misspelt `speakr` would otherwise silently check without its filter.

Every problem is a SearchError naming the row (1-based, header not counted) and, where it helps, the
line of the file; nothing is kept from a file that has one bad row.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from .errors import SearchError, TooLarge
from .filters import make_filters
from .request import check_text
from .types import Filters
from .verify import validate_quote

COLUMNS = ("quote", "id", "speaker", "after", "before", "source")
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class Claim:
    """One row of the file: the quote and the filters to check it within."""

    row: int
    quote: str
    filters: Filters
    id: str | None = None


def file_format(name: str | None, media_type: str | None = None, given: str | None = None) -> str:
    """csv or jsonl, from an explicit choice, the file name's extension, or the media type (default csv)."""
    if given:
        if given not in FORMATS:
            raise SearchError(f"format must be one of {', '.join(FORMATS)}, got {given!r}", code="invalid_format")
        return given
    lowered = (name or "").lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".csv", ".tsv", ".txt")) or not media_type:
        return "csv"
    media = media_type.split(";")[0].strip().lower()
    return "jsonl" if media in ("application/x-ndjson", "application/jsonl", "application/json-lines",
                                "application/json") else "csv"


def decode(data: bytes) -> str:
    """The file as text: UTF-8 (a BOM allowed); SearchError naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SearchError(f"line {line}: the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8 and upload it again", code="invalid_encoding") from None


def parse_claims(data: bytes, fmt: str, max_rows: int, max_chars: int, max_bytes: int | None = None
                 ) -> list[Claim]:
    """Every row of a CSV or JSONL file of quotes, validated; SearchError (naming the row) otherwise."""
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLarge(f"the file is {len(data):,} bytes; the limit is {max_bytes:,}", code="file_too_large")
    text = decode(data)
    if not text.strip():
        raise SearchError("the file is empty: it needs a header line with a quote column and one row per quote",
                          code="empty_file")
    rows = _csv_rows(text) if fmt == "csv" else _jsonl_rows(text)
    claims = []
    for number, line, values in rows:
        if number > max_rows:
            raise TooLarge(f"the file has more than {max_rows:,} rows; split it into several batches",
                           code="too_many_rows")
        claims.append(_claim(number, line, values, max_chars))
    if not claims:
        raise SearchError("the file has a header but no rows to check", code="empty_file")
    return claims


def _where(row: int, line: int) -> str:
    return f"row {row} (line {line})"


def _columns(names: list[str], where: str) -> None:
    if "quote" not in names:
        raise SearchError(f"{where}: no quote column; the columns are {', '.join(COLUMNS)} (quote required)",
                          code="missing_column")
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise SearchError(f"{where}: unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)} "
                          "(quote required)", code="unknown_column")


def _csv_rows(text: str):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise SearchError(f"header (line 1): not readable as CSV ({exc})", code="invalid_csv") from None
    header = [h.strip().lower() for h in header]
    if len(set(header)) != len(header):
        raise SearchError("header (line 1): a column appears twice", code="duplicate_column")
    _columns(header, "header (line 1)")
    number = 0
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SearchError(f"{_where(number + 1, line)}: not readable as CSV ({exc})", code="invalid_csv") from None
        if not any(v.strip() for v in values):
            continue  # blank lines are not rows
        number += 1
        if len(values) != len(header):
            raise SearchError(f"{_where(number, line)}: {len(values)} cells for {len(header)} columns "
                              f"({', '.join(header)})", code="invalid_row")
        yield number, line, dict(zip(header, values))


def _jsonl_rows(text: str):
    number = 0
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        number += 1
        try:
            values = json.loads(raw)
        except ValueError:
            raise SearchError(f"{_where(number, line)}: not valid JSON", code="invalid_json") from None
        if not isinstance(values, dict):
            raise SearchError(f"{_where(number, line)}: each line must be a JSON object such as "
                              '{"quote": "..."}', code="invalid_row")
        _columns(list(values), _where(number, line))
        yield number, line, values


def _names(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    return value


def _claim(number: int, line: int, values: dict[str, Any], max_chars: int) -> Claim:
    where = _where(number, line)
    try:
        quote, _ = validate_quote(values.get("quote"), max_chars)
        check_text("quote", quote, code="invalid_quote")
        ident = values.get("id")
        if ident is not None and not isinstance(ident, (str, int)):
            raise SearchError("id must be a string or a number", code="invalid_id")
        filters = make_filters(speaker=_names(values.get("speaker")), after=values.get("after") or None,
                               before=values.get("before") or None, source=_names(values.get("source")))
    except SearchError as exc:
        raise SearchError(f"{where}: {exc.message}", code=exc.code) from None
    return Claim(number, quote, filters, None if ident in (None, "") else str(ident))
