"""Published fact-checks (schema.org ClaimReview): read from HTML pages or record files, kept in SQLite
beside the index (search/sidecar.py), and linked to the passages whose text carries the claim.

Reading: an HTML page's ClaimReview items come from its JSON-LD and microdata through extruct (a kept
library that also handles @graph, nested items and microdata's itemprop trees; a hand parser would not);
a JSONL or CSV file holds one record per row with the columns claimReviewed, author, datePublished,
reviewRating, itemReviewed.author, url (JSON Lines may also nest them as ClaimReview does).

Linking: each claim is checked with the quote check (search/verify.py) over the whole index; every
passage it finds verbatim, altered or as a paraphrase is linked, by statement id and the sha256 of the
passage text, so a link survives rebuilds that keep the passage (ids change between generations, the
text does not). `relink` checks every claim again (after statements are added).
"""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.store import ThreadConnections

from .citation import passage_sha256
from .claims import decode
from .errors import SearchError, TooLarge
from .sidecar import FACTCHECKS, connect, sidecar_path, write_transaction
from .types import FactCheck

SCHEMA = """
CREATE TABLE IF NOT EXISTS factchecks (
    id INTEGER PRIMARY KEY, claim TEXT NOT NULL, author TEXT NOT NULL, url TEXT NOT NULL, date TEXT,
    rating TEXT, claimant TEXT, claim_date TEXT, rating_value TEXT, best_rating TEXT, worst_rating TEXT,
    origin TEXT, UNIQUE (url, claim));
CREATE TABLE IF NOT EXISTS factcheck_links (
    factcheck INTEGER NOT NULL REFERENCES factchecks(id), doc_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL, similarity REAL NOT NULL, PRIMARY KEY (factcheck, doc_id, sha256));
CREATE INDEX IF NOT EXISTS links_by_passage ON factcheck_links (doc_id, sha256);
"""
IN_PAIRS = 400  # (statement, hash) pairs bound in one query: 800 host parameters, well under SQLite's limit
FIELDS = ("claim", "author", "url", "date", "rating", "claimant", "claim_date", "rating_value", "best_rating",
          "worst_rating")
RECORD_COLUMNS = ("claimReviewed", "author", "datePublished", "reviewRating", "itemReviewed.author", "url")
OPTIONAL_COLUMNS = ("itemReviewed.datePublished", "reviewRating.ratingValue", "reviewRating.bestRating",
                    "reviewRating.worstRating")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


# -- reading --------------------------------------------------------------------------------------------
def _name(value: Any) -> str | None:
    """A Person/Organization (or a list of them, or a plain string) as a name."""
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return ", ".join(names) or None
    if isinstance(value, dict):
        value = value.get("name") or value.get("properties", {}).get("name") or value.get("url")
        return _name(value)
    return str(value).strip() or None if value is not None else None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("@value", value.get("name"))
    return str(value).strip() if value not in (None, "") else None


def _date(value: Any) -> str | None:
    text = _text(value)
    m = _DATE.match(text or "")
    return m.group(1) if m else text


def _get(item: dict[str, Any], dotted: str) -> Any:
    """item["a"]["b"] for "a.b"; a flat "a.b" key (CSV) wins; a list takes its first element."""
    if dotted in item:
        return item[dotted]
    value: Any = item
    for part in dotted.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def record(item: dict[str, Any], where: str) -> dict[str, str | None]:
    """A ClaimReview (JSON-LD shape, microdata flattened to it, or a flat record row) as the stored fields;
    SearchError naming `where` when claimReviewed, author or url is missing."""
    rating = _get(item, "reviewRating")
    rating_obj = rating if isinstance(rating, dict) else {}
    value = _text(rating_obj.get("ratingValue")) or _text(_get(item, "reviewRating.ratingValue"))
    best = _text(rating_obj.get("bestRating")) or _text(_get(item, "reviewRating.bestRating"))
    label = _text(rating_obj.get("alternateName")) or (_text(rating) if not rating_obj else None)
    if not label and value:
        label = f"{value} of {best}" if best else value
    out = {"claim": _text(_get(item, "claimReviewed")), "author": _name(_get(item, "author")),
           "url": _text(_get(item, "url")), "date": _date(_get(item, "datePublished")), "rating": label,
           "claimant": _name(_get(item, "itemReviewed.author")),
           "claim_date": _date(_get(item, "itemReviewed.datePublished")), "rating_value": value,
           "best_rating": best,
           "worst_rating": _text(rating_obj.get("worstRating")) or _text(_get(item, "reviewRating.worstRating"))}
    missing = [k for k, col in (("claim", "claimReviewed"), ("author", "author"), ("url", "url")) if not out[k]]
    if missing:
        cols = {"claim": "claimReviewed", "author": "author", "url": "url"}
        raise SearchError(f"{where}: a ClaimReview needs {', '.join(cols[m] for m in missing)}",
                          code="invalid_factcheck")
    if not str(out["url"]).startswith(("http://", "https://")):
        raise SearchError(f"{where}: url must be an http(s) address, got {out['url']!r}", code="invalid_factcheck")
    return out


def _is_claim_review(item: dict[str, Any]) -> bool:
    kind = item.get("@type") or item.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k.rsplit("/", 1)[-1] == "ClaimReview" for k in kinds)


def _microdata(item: dict[str, Any]) -> dict[str, Any]:
    """extruct's microdata item ({"type", "properties"}) in JSON-LD shape, nested items too."""
    if not isinstance(item, dict) or "properties" not in item:
        return item
    out: dict[str, Any] = {"@type": item.get("type")}
    for key, value in item["properties"].items():
        out[key] = [_microdata(v) for v in value] if isinstance(value, list) else _microdata(value)
    return out


def _walk(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, list):
        for n in node:
            yield from _walk(n)
    elif isinstance(node, dict):
        if _is_claim_review(node):
            yield node
        for key, value in node.items():
            if key == "@graph" or isinstance(value, (list, dict)):
                yield from _walk(value)


def from_html(html: str, base_url: str | None = None) -> list[dict[str, Any]]:
    """The ClaimReview items of an HTML page (JSON-LD and microdata), via extruct."""
    import extruct

    data = extruct.extract(html, base_url=base_url, syntaxes=["json-ld", "microdata"], uniform=False,
                           errors="ignore")
    items = list(_walk(data.get("json-ld", [])))
    items += [_microdata(i) for i in _walk(data.get("microdata", []))]
    return items


def from_records(text: str, fmt: str) -> list[tuple[str, dict[str, Any]]]:
    """(where, item) for each row of a JSONL or CSV file of records."""
    if fmt == "jsonl":
        out = []
        for line, raw in enumerate(text.splitlines(), 1):
            if raw.strip():
                try:
                    item = json.loads(raw)
                except ValueError:
                    raise SearchError(f"line {line}: not valid JSON", code="invalid_json") from None
                if not isinstance(item, dict):
                    raise SearchError(f"line {line}: each line must be a JSON object", code="invalid_factcheck")
                out.append((f"line {line}", item))
        return out
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in RECORD_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise SearchError(f"header: unknown column {unknown[0]!r}; the columns are "
                          f"{', '.join(RECORD_COLUMNS + OPTIONAL_COLUMNS)}", code="unknown_column")
    return [(f"row {i} (line {reader.line_num})", dict(row)) for i, row in enumerate(reader, 1)]


def read_file(path: Path, data: bytes, max_bytes: int) -> list[dict[str, str | None]]:
    """The ClaimReview records of one file: .html/.htm (JSON-LD, microdata), .jsonl or .csv records."""
    if len(data) > max_bytes:
        raise TooLarge(f"{path.name} is {len(data):,} bytes; the limit is {max_bytes:,}", code="file_too_large")
    text = decode(data)
    if not text.strip():
        raise SearchError(f"{path.name} is empty", code="empty_file")
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        items = [(f"{path.name}: ClaimReview {i}", item) for i, item in enumerate(from_html(text), 1)]
        if not items:
            raise SearchError(f"{path.name}: no ClaimReview in its JSON-LD or microdata", code="no_factchecks")
    elif suffix in (".jsonl", ".ndjson", ".csv"):
        items = [(f"{path.name} {where}", item)
                 for where, item in from_records(text, "csv" if suffix == ".csv" else "jsonl")]
    else:
        raise SearchError(f"{path.name}: fact-checks are read from .html, .jsonl or .csv files",
                          code="invalid_format")
    return [record(item, where) for where, item in items]


# -- keeping and linking -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    factcheck: int
    doc_id: str
    sha256: str
    verdict: str
    similarity: float


class FactCheckStore:
    """Fact-checks and their passage links in one SQLite file. Writes take a connection of their own
    (`write_transaction`); reads go through one kept connection per thread and process, since every search
    asks for its hits' fact-checks (a new connection with its WAL pragmas cost more than the query)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._readers = ThreadConnections(lambda: connect(self.path))
        db = connect(self.path)
        try:
            db.executescript(SCHEMA)
        finally:
            db.close()

    @classmethod
    def beside(cls, index: Path, create: bool = False) -> FactCheckStore | None:
        """The store beside `index`; None when there is none yet and `create` is False."""
        path = sidecar_path(index, FACTCHECKS)
        return cls(path) if create or path.exists() else None

    def _read(self) -> sqlite3.Connection:
        """This thread's read connection (autocommit: each query sees every commit before it)."""
        return self._readers.get()

    def close(self) -> None:
        """Close every thread's read connection (a thread that reads afterwards opens a new one)."""
        self._readers.close()

    def add(self, records: Sequence[dict[str, str | None]], origin: str) -> list[FactCheck]:
        """Insert (or update, same url and claim) every record in one transaction."""
        with write_transaction(self.path) as db:
            for r in records:
                db.execute(f"INSERT INTO factchecks ({', '.join(FIELDS)}, origin) VALUES "
                           f"({', '.join('?' * len(FIELDS))}, ?) ON CONFLICT (url, claim) DO UPDATE SET "
                           + ", ".join(f"{f} = excluded.{f}" for f in FIELDS[2:]),
                           [r[f] for f in FIELDS] + [origin])
            ids = [db.execute("SELECT id FROM factchecks WHERE url = ? AND claim = ?", (r["url"], r["claim"]))
                   .fetchone()[0] for r in records]
        return self.get(ids)

    def get(self, ids: Sequence[int]) -> list[FactCheck]:
        rows = {r["id"]: r for r in self._read().execute(
            f"SELECT * FROM factchecks WHERE id IN ({','.join('?' * len(ids))})", list(ids))}
        return [_fact_check(rows[i]) for i in ids if i in rows]

    def all(self, limit: int = 100, offset: int = 0) -> tuple[list[tuple[FactCheck, int]], int]:
        """(fact-check, linked passages) newest review first, and the total count."""
        db = self._read()
        total = db.execute("SELECT COUNT(*) FROM factchecks").fetchone()[0]
        rows = db.execute("SELECT f.*, (SELECT COUNT(*) FROM factcheck_links l WHERE l.factcheck = f.id) AS n "
                          "FROM factchecks f ORDER BY f.date DESC, f.id DESC LIMIT ? OFFSET ?",
                          (limit, offset)).fetchall()
        return [(_fact_check(r), r["n"]) for r in rows], total

    def set_links(self, factcheck: int, links: Sequence[Link]) -> None:
        with write_transaction(self.path) as db:
            db.execute("DELETE FROM factcheck_links WHERE factcheck = ?", (factcheck,))
            db.executemany("INSERT OR REPLACE INTO factcheck_links VALUES (?, ?, ?, ?, ?)",
                           [(x.factcheck, x.doc_id, x.sha256, x.verdict, x.similarity) for x in links])

    def for_passages(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[FactCheck]]:
        """{(statement id, passage sha256): its fact-checks, newest first} for the keys that have any: one
        query for a page of hits, the keys joined to the links' (doc_id, sha256) index (a row-value `IN` made
        SQLite scan every link instead)."""
        out: dict[tuple[str, str], list[FactCheck]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), IN_PAIRS):
            chunk = unique[i:i + IN_PAIRS]
            rows = self._read().execute(
                f"WITH k(doc_id, sha256) AS (VALUES {','.join(['(?, ?)'] * len(chunk))}) "
                "SELECT l.doc_id AS link_doc, l.sha256 AS link_sha, f.* FROM k "
                "JOIN factcheck_links l ON l.doc_id = k.doc_id AND l.sha256 = k.sha256 "
                "JOIN factchecks f ON f.id = l.factcheck ORDER BY f.date DESC, f.id DESC",
                [v for key in chunk for v in key])
            for r in rows:
                out.setdefault((r["link_doc"], r["link_sha"]), []).append(_fact_check(r))
        return out

    def linked(self) -> dict[str, set[str]]:
        """{statement id: the sha256 of its linked passages}."""
        out: dict[str, set[str]] = {}
        for r in self._read().execute("SELECT DISTINCT doc_id, sha256 FROM factcheck_links"):
            out.setdefault(r["doc_id"], set()).add(r["sha256"])
        return out

    def version(self) -> tuple[int, int]:
        """Changes when links change (for caches): (links, largest rowid)."""
        return tuple(self._read().execute(
            "SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM factcheck_links").fetchone())


def _fact_check(row: Any) -> FactCheck:
    return FactCheck(id=row["id"], **{f: row[f] for f in FIELDS})


def link(searcher: Any, store: FactCheckStore, checks: Sequence[FactCheck]) -> dict[int, int]:
    """Check each claim against the index and keep its matching passages; {fact-check id: passages linked}."""
    from .verify import verify

    out = {}
    for fc in checks:
        try:
            result = verify(searcher, fc.claim)
        except SearchError:  # a claim too long or without words links nothing
            result = None
        links = [Link(fc.id, m.document.id, passage_sha256(m.text), m.verdict, float(m.similarity))
                 for m in (result.matches if result else ())]
        store.set_links(fc.id, links)
        out[fc.id] = len(links)
    return out


def checked_ids(searcher: Any, store: FactCheckStore) -> np.ndarray:
    """The passage ids of the searcher's generation that carry a linked fact-check (sorted)."""
    ids = []
    for doc_id, hashes in store.linked().items():
        for row in searcher.store.document_passages(doc_id):
            if passage_sha256(row["text"]) in hashes:
                ids.append(int(row["id"]))
    return np.array(sorted(ids), dtype=np.int64)
