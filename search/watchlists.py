"""Saved searches and their alerts, in one SQLite file beside the index link (never inside a generation,
so a rebuild keeps them; `Settings.watchlists_path`).

Tables:
  watchlists   a saved search: name, question (its "phrases" and -exclusions included), mode, filters,
               an optional webhook (url, secret), the question's vector cached per model, what was seen
  matches      one row per (saved search, statement, passage hash): the same paragraph never alerts twice
               for one saved search, whatever its passage id in later generations (ids change on rebuild)
  generations  the generations already percolated: a generation is never percolated twice
  deliveries   the webhook outbox: one row per match of a saved search that has a webhook, written in the
               same transaction as the match; marked delivered only after the receiver answered 2xx

Percolation (search/percolate.py) writes matches; delivery (search/webhooks.py) drains the outbox.
"""
from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Conflict, NotFound, SearchError
from .filters import make_filters
from .phrases import parse_question
from .request import check_text, validate, validate_mode
from .settings import Settings
from .sidecar import session, write_transaction
from .types import Filters

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_WATCHLISTS = 10_000  # a bound on what one file holds (percolation cost grows with it)
SCHEMA = """
CREATE TABLE IF NOT EXISTS watchlists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    question TEXT NOT NULL,
    mode TEXT NOT NULL,
    filters TEXT NOT NULL,               -- JSON: speaker, after, before, source
    created_at REAL NOT NULL,
    created_generation TEXT,             -- the live generation when it was saved (informational)
    webhook_url TEXT,
    webhook_secret TEXT,
    seen_match_id INTEGER NOT NULL DEFAULT 0,   -- matches with a larger id are new to the page
    vector BLOB,                         -- the question's vector, for vector_model
    vector_model TEXT
);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,            -- stable public id (feed entry id)
    watchlist_id INTEGER NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    passage_hash TEXT NOT NULL,
    passage_id INTEGER NOT NULL,         -- in `generation` (later generations may renumber)
    generation TEXT NOT NULL,
    score REAL NOT NULL,                 -- the vector score the "strong match" rule compares with the line
    text TEXT NOT NULL,
    paragraph INTEGER NOT NULL,
    of INTEGER NOT NULL,
    speaker TEXT, title TEXT, date TEXT, source TEXT,
    found_at REAL NOT NULL,
    UNIQUE (watchlist_id, doc_id, passage_hash)
);
CREATE INDEX IF NOT EXISTS matches_list ON matches(watchlist_id, id);
CREATE TABLE IF NOT EXISTS generations (
    generation TEXT PRIMARY KEY,
    percolated_at REAL NOT NULL,
    new_passages INTEGER NOT NULL,
    matches INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,                 -- sent as X-Statement-Search-Delivery: receivers dedupe on it
    watchlist_id INTEGER NOT NULL REFERENCES watchlists(id) ON DELETE CASCADE,
    match_id INTEGER NOT NULL REFERENCES matches(id) ON DELETE CASCADE,
    body TEXT NOT NULL,                  -- the exact bytes signed and sent, every attempt
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(delivered_at, created_at);
"""


@dataclass(frozen=True)
class SavedSearch:
    """One saved search. `secret` is only filled when it is created (it is shown once)."""

    id: int
    name: str
    question: str
    mode: str
    filters: Filters
    created_at: float
    created_generation: str | None = None
    webhook_url: str | None = None
    secret: str | None = None
    matches: int = 0
    new: int = 0              # matches since the page last opened it
    undelivered: int = 0      # webhook deliveries still in the outbox

    def filter_values(self) -> dict[str, Any]:
        f = self.filters
        return {"speaker": list(f.speakers), "after": f.after, "before": f.before, "source": list(f.sources),
                "language": list(f.languages)}


@dataclass(frozen=True)
class Match:
    """A passage new in some generation that is a strong match of a saved search."""

    id: int
    uid: str
    doc_id: str
    passage_id: int
    generation: str
    score: float
    text: str
    paragraph: int
    of: int
    speaker: str | None
    title: str | None
    date: str | None
    source: str | None
    found_at: float
    new: bool = False


@dataclass(frozen=True)
class MatchDraft:
    """What percolation found, before it is stored."""

    watchlist_id: int
    doc_id: str
    passage_hash: str
    passage_id: int
    score: float
    text: str
    paragraph: int
    of: int
    speaker: str | None = None
    title: str | None = None
    date: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Delivery:
    id: str
    watchlist_id: int
    url: str
    secret: str
    body: str
    attempts: int
    next_at: float = 0.0


@dataclass
class Recorded:
    """What `record` stored for one generation."""

    matches: int = 0
    deliveries: int = 0
    by_watchlist: dict[str, int] = field(default_factory=dict)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise SearchError("name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                          f"got {name!r}", code="invalid_name")
    return name


def make_saved_search(settings: Settings, name: Any, question: Any, mode: Any = None, speaker: Any = None,
                      after: Any = None, before: Any = None, source: Any = None,
                      language: Any = None) -> tuple[str, str, str, Filters]:
    """(name, question, mode, filters) validated the way a search validates them; SearchError otherwise."""
    name = check_name(name)
    question, _, _ = validate(settings, question, 1, 0)
    parse_question(question)  # a phrase of stopwords alone is refused here, as in a search
    mode = validate_mode(mode or settings.mode)
    filters = make_filters(speaker=speaker, after=after, before=before, source=source, language=language)
    return name, question, mode, filters


def _filters_json(f: Filters) -> str:
    return json.dumps({"speaker": list(f.speakers), "after": f.after, "before": f.before, "source": list(f.sources),
                       "language": list(f.languages)})


def _filters_of(text: str) -> Filters:
    d = json.loads(text)
    return Filters(speakers=tuple(d.get("speaker") or ()), after=d.get("after"), before=d.get("before"),
                   sources=tuple(d.get("source") or ()), languages=tuple(d.get("language") or ()))


class WatchlistStore:
    """The saved-search file. Every method opens its own connection (safe across threads and processes:
    WAL journal, a busy timeout), and every change is one transaction."""

    PRAGMAS = ("foreign_keys=ON",)  # the outbox rows belong to a saved search; full fsync (the default)

    def __init__(self, path: Path):
        self.path = Path(path)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return session(self.path, self.PRAGMAS)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self.path, self.PRAGMAS)

    # -- saved searches ---------------------------------------------------------------------------------
    def add(self, name: str, question: str, mode: str, filters: Filters, webhook_url: str | None = None,
            secret: str | None = None, generation: str | None = None) -> SavedSearch:
        """Store a validated saved search (make_saved_search, webhooks.check_url); Conflict for a taken name.
        A webhook gets `secret` or a new random one, returned in this SavedSearch only."""
        if webhook_url and not secret:
            secret = secrets.token_hex(32)
        if secret is not None:
            check_text("secret", secret)
            if not webhook_url:
                raise SearchError("a secret signs webhook calls: give a webhook URL too", code="invalid_secret")
            if not 16 <= len(secret) <= 256:
                raise SearchError("secret must be 16 to 256 characters", code="invalid_secret")
        now = time.time()
        with self._transaction() as conn:
            if conn.execute("SELECT COUNT(*) FROM watchlists").fetchone()[0] >= MAX_WATCHLISTS:
                raise SearchError(f"at most {MAX_WATCHLISTS} saved searches; remove some first",
                                  code="too_many_watchlists")
            try:
                cur = conn.execute(
                    "INSERT INTO watchlists (name, question, mode, filters, created_at, created_generation, "
                    "webhook_url, webhook_secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, question, mode, _filters_json(filters), now, generation, webhook_url or None,
                     secret if webhook_url else None))
            except sqlite3.IntegrityError:
                raise Conflict(f"a saved search named {name!r} already exists; remove it first or choose "
                               "another name", code="name_taken") from None
        return SavedSearch(id=int(cur.lastrowid or 0), name=name, question=question, mode=mode, filters=filters,
                           created_at=now, created_generation=generation, webhook_url=webhook_url or None,
                           secret=secret if webhook_url else None)

    def _saved(self, conn: sqlite3.Connection, where: str = "", args: Sequence[Any] = ()) -> list[SavedSearch]:
        rows = conn.execute(
            "SELECT w.*, (SELECT COUNT(*) FROM matches m WHERE m.watchlist_id = w.id) AS n_matches, "
            "(SELECT COUNT(*) FROM matches m WHERE m.watchlist_id = w.id AND m.id > w.seen_match_id) AS n_new, "
            "(SELECT COUNT(*) FROM deliveries d WHERE d.watchlist_id = w.id AND d.delivered_at IS NULL) AS n_out "
            f"FROM watchlists w {where} ORDER BY w.name", args).fetchall()
        return [SavedSearch(id=r["id"], name=r["name"], question=r["question"], mode=r["mode"],
                            filters=_filters_of(r["filters"]), created_at=r["created_at"],
                            created_generation=r["created_generation"], webhook_url=r["webhook_url"],
                            matches=r["n_matches"], new=r["n_new"], undelivered=r["n_out"]) for r in rows]

    def searches(self) -> list[SavedSearch]:
        """Every saved search without its counts (what percolation needs), by id."""
        with self._connect() as conn:
            rows = conn.execute("SELECT id, name, question, mode, filters, created_at FROM watchlists ORDER BY id")
            return [SavedSearch(id=r[0], name=r[1], question=r[2], mode=r[3], filters=_filters_of(r[4]),
                                created_at=r[5]) for r in rows]

    def all(self) -> list[SavedSearch]:
        with self._connect() as conn:
            return self._saved(conn)

    def get(self, name: str) -> SavedSearch:
        """The saved search `name`; NotFound (404 / exit 2) when there is none."""
        with self._connect() as conn:
            found = self._saved(conn, "WHERE w.name = ?", (name,))
        if not found:
            raise NotFound(f"no saved search named {name!r}", code="watchlist_not_found")
        return found[0]

    def remove(self, name: str) -> None:
        """Remove a saved search with its matches and undelivered webhook calls; NotFound if unknown."""
        with self._transaction() as conn:
            if conn.execute("DELETE FROM watchlists WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"no saved search named {name!r}", code="watchlist_not_found")

    # -- matches ----------------------------------------------------------------------------------------
    def matches(self, name: str, limit: int = 50) -> list[Match]:
        """The newest `limit` matches of `name`, newest first, each marked new if the page has not shown it."""
        saved = self.get(name)
        with self._connect() as conn:
            seen = conn.execute("SELECT seen_match_id FROM watchlists WHERE id = ?", (saved.id,)).fetchone()[0]
            rows = conn.execute("SELECT * FROM matches WHERE watchlist_id = ? ORDER BY id DESC LIMIT ?",
                                (saved.id, int(limit))).fetchall()
        return [Match(id=r["id"], uid=r["uid"], doc_id=r["doc_id"], passage_id=r["passage_id"],
                      generation=r["generation"], score=r["score"], text=r["text"], paragraph=r["paragraph"],
                      of=r["of"], speaker=r["speaker"], title=r["title"], date=r["date"], source=r["source"],
                      found_at=r["found_at"], new=r["id"] > seen) for r in rows]

    def mark_seen(self, name: str, up_to: int | None = None) -> None:
        """Matches up to `up_to` (default: all now stored) are no longer new for the page."""
        with self._transaction() as conn:
            top = up_to if up_to is not None else conn.execute(
                "SELECT COALESCE(MAX(m.id), 0) FROM matches m JOIN watchlists w ON w.id = m.watchlist_id "
                "WHERE w.name = ?", (name,)).fetchone()[0]
            conn.execute("UPDATE watchlists SET seen_match_id = MAX(seen_match_id, ?) WHERE name = ?", (top, name))

    # -- percolation ------------------------------------------------------------------------------------
    def percolated(self, generation: str) -> bool:
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM generations WHERE generation = ?", (generation,)).fetchone() is not None

    def question_vectors(self, model: str) -> dict[int, np.ndarray]:
        """{saved search id: its question's vector} for those encoded by `model` already."""
        with self._connect() as conn:
            rows = conn.execute("SELECT id, vector FROM watchlists WHERE vector_model = ?", (model,)).fetchall()
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def store_vectors(self, model: str, vectors: dict[int, np.ndarray]) -> None:
        with self._transaction() as conn:
            conn.executemany("UPDATE watchlists SET vector = ?, vector_model = ? WHERE id = ?",
                             [(np.asarray(v, dtype=np.float32).tobytes(), model, i) for i, v in vectors.items()])

    def record(self, generation: str, new_passages: int, drafts: Sequence[MatchDraft]) -> Recorded | None:
        """Store one generation's matches (those already recorded for a saved search are skipped) and
        their webhook deliveries, in one transaction; None when `generation` was recorded already."""
        now, out = time.time(), Recorded()
        with self._transaction() as conn:
            try:
                conn.execute("INSERT INTO generations VALUES (?, ?, ?, 0)", (generation, now, new_passages))
            except sqlite3.IntegrityError:
                return None
            hooks = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, name, webhook_url FROM watchlists")}
            for d in drafts:
                if d.watchlist_id not in hooks:  # removed while percolation ran
                    continue
                uid = str(uuid.uuid4())
                cur = conn.execute(
                    "INSERT OR IGNORE INTO matches (uid, watchlist_id, doc_id, passage_hash, passage_id, generation, "
                    "score, text, paragraph, of, speaker, title, date, source, found_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (uid, d.watchlist_id, d.doc_id, d.passage_hash, d.passage_id, generation, d.score, d.text,
                     d.paragraph, d.of, d.speaker, d.title, d.date, d.source, now))
                if cur.rowcount == 0:
                    continue
                name, url = hooks[d.watchlist_id]
                out.matches += 1
                out.by_watchlist[name] = out.by_watchlist.get(name, 0) + 1
                if url:
                    delivery = str(uuid.uuid4())
                    body = json.dumps(alert_body(delivery, name, generation, uid, d, now), ensure_ascii=False,
                                      sort_keys=True)
                    conn.execute("INSERT INTO deliveries (id, watchlist_id, match_id, body, created_at, next_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (delivery, d.watchlist_id, cur.lastrowid, body, now, now))
                    out.deliveries += 1
            conn.execute("UPDATE generations SET matches = ? WHERE generation = ?", (out.matches, generation))
        return out

    # -- the webhook outbox -----------------------------------------------------------------------------
    def undelivered(self, limit: int = 1000) -> list[Delivery]:
        """Undelivered webhook calls, oldest first, with when each is next due."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT d.id, d.watchlist_id, w.webhook_url, w.webhook_secret, d.body, d.attempts, d.next_at "
                "FROM deliveries d JOIN watchlists w ON w.id = d.watchlist_id WHERE d.delivered_at IS NULL "
                "AND w.webhook_url IS NOT NULL ORDER BY d.created_at, d.rowid LIMIT ?", (limit,)).fetchall()
        return [Delivery(id=r[0], watchlist_id=r[1], url=r[2], secret=r[3], body=r[4], attempts=r[5], next_at=r[6])
                for r in rows]

    def delivered(self, delivery_id: str, now: float) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = NULL "
                         "WHERE id = ?", (now, delivery_id))

    def failed(self, delivery_id: str, error: str, next_at: float) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_at = ? WHERE id = ?",
                         (error[:500], next_at, delivery_id))

    def outbox(self) -> dict[str, Any]:
        """Counts of the outbox: delivered, pending, the next attempt's time and the last error."""
        with self._connect() as conn:
            done = conn.execute("SELECT COUNT(*) FROM deliveries WHERE delivered_at IS NOT NULL").fetchone()[0]
            row = conn.execute("SELECT COUNT(*), MIN(next_at) FROM deliveries WHERE delivered_at IS NULL").fetchone()
            err = conn.execute("SELECT last_error FROM deliveries WHERE delivered_at IS NULL AND last_error IS NOT "
                               "NULL ORDER BY next_at DESC LIMIT 1").fetchone()
        return {"delivered": done, "pending": row[0], "next_at": row[1], "last_error": err[0] if err else None}


def alert_body(delivery: str, name: str, generation: str, uid: str, d: MatchDraft, now: float) -> dict[str, Any]:
    """The JSON a webhook receives for one new match."""
    return {"delivery": delivery, "watchlist": name, "generation": generation,
            "found_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "match": {"id": uid, "document": {"id": d.doc_id, "speaker": d.speaker, "title": d.title,
                                              "date": d.date, "source": d.source},
                      "paragraph": d.paragraph, "of": d.of, "text": d.text, "score": round(float(d.score), 4)}}


def open_store(settings: Settings) -> WatchlistStore:
    """The saved-search file the settings name (created empty on first use)."""
    return WatchlistStore(settings.watchlists_path)
