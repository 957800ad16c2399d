"""A result set as CSV or JSON Lines: one row per hit with every column a researcher needs."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from .citation import permalink_path, url_of
from .errors import SearchError
from .types import SearchHit

COLUMNS = ("rank", "score", "weak", "text", "highlight", "speaker", "date", "title", "source", "url",
           "document_id", "paragraph", "of", "permalink")
FORMATS = ("csv", "jsonl")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas (OWASP)


def hit_row(hit: SearchHit, rank: int, link: Callable[[str, int], str] = permalink_path) -> dict[str, Any]:
    """One hit as a flat row of COLUMNS (rank is 1-based over the whole ranking)."""
    d = hit.document
    return {"rank": rank, "score": round(float(hit.score), 6), "weak": bool(hit.weak), "text": hit.text,
            "highlight": hit.text[hit.highlight.start:hit.highlight.end], "speaker": d.speaker, "date": d.date,
            "title": d.title, "source": d.source, "url": url_of(d), "document_id": d.id,
            "paragraph": hit.paragraph, "of": hit.of, "permalink": link(d.id, hit.paragraph)}


def rows_of(hits: Iterable[SearchHit], offset: int = 0, link: Callable[[str, int], str] = permalink_path,
            ) -> list[dict[str, Any]]:
    return [hit_row(h, offset + i + 1, link) for i, h in enumerate(hits)]


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula, prefixed with ' so it stays text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV through the csv module (RFC 4180 quoting), header first, formula cells neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else neutralise(row.get(k))) for k in COLUMNS})
    return out.getvalue()


def to_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    """One JSON object per line, values as they are (no neutralising: JSON is not run as formulas)."""
    return "".join(json.dumps({k: row.get(k) for k in COLUMNS}, ensure_ascii=False) + "\n" for row in rows)


def render(rows: Iterable[dict[str, Any]], fmt: str) -> str:
    """Rows as `csv` or `jsonl`; SearchError for another format."""
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "jsonl":
        return to_jsonl(rows)
    raise SearchError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", code="invalid_format")


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
