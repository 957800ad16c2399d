"""Batch jobs in SQLite beside the index (search/sidecar.py): the rows to check, each row's result, and a
lease that says which process is running a job.

Durability: a job and all of its rows are written in one transaction (a bad file stores nothing); each
row's result is written with the job's `done` count in one transaction, so after a crash or a restart the
rows already done are kept and only the others are checked.

The lease: a runner claims a job by writing its owner name and `lease_until` (now + lease seconds) in one
`BEGIN IMMEDIATE` transaction (SQLite lets one writer in at a time, so two workers can never both claim
it); it renews the lease as it goes and writes a result only while it still holds the lease. A runner
that dies stops renewing: once its lease has expired any other runner (another gunicorn worker, the
restarted server) claims the job and carries on with the rows that have no result yet.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import Claim
from .errors import NotFound
from .sidecar import session, write_transaction
from .types import Filters

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, name TEXT, format TEXT, status TEXT NOT NULL, total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, started REAL, finished REAL,
    owner TEXT, lease_until REAL, error TEXT);
CREATE TABLE IF NOT EXISTS job_rows (
    job TEXT NOT NULL REFERENCES jobs(id), row INTEGER NOT NULL, claim TEXT NOT NULL, result TEXT,
    PRIMARY KEY (job, row));
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (status, created);
"""
OPEN = ("queued", "running")


@dataclass(frozen=True)
class Job:
    """A batch job's state, as stored."""

    id: str
    name: str | None
    format: str
    status: str          # queued, running, done
    total: int
    done: int
    created: float
    started: float | None = None
    finished: float | None = None
    owner: str | None = None
    lease_until: float | None = None
    error: str | None = None

    @property
    def finished_ok(self) -> bool:
        return self.status == "done"

    @property
    def rate(self) -> float | None:
        """Rows per second since the job started (over its whole life, restarts included)."""
        if not self.started or not self.done:
            return None
        end = self.finished or time.time()
        return self.done / max(end - self.started, 1e-9)


def claim_json(c: Claim) -> str:
    f = c.filters
    return json.dumps({"quote": c.quote, "id": c.id, "speaker": list(f.speakers), "after": f.after,
                       "before": f.before, "source": list(f.sources)}, ensure_ascii=False)


def claim_of(row: int, text: str) -> Claim:
    d = json.loads(text)
    return Claim(row, d["quote"], Filters(tuple(d["speaker"]), d["after"], d["before"], tuple(d["source"])), d["id"])


class JobStore:
    """Batch jobs in one SQLite file; a connection per call, so threads and forked workers never share one."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return session(self.path)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction, taken before reading (BEGIN IMMEDIATE): read-then-update is atomic."""
        return write_transaction(self.path)

    def create(self, claims: Sequence[Claim], name: str | None, fmt: str) -> Job:
        """A queued job holding every claim, written in one transaction."""
        job_id = secrets.token_hex(8)
        with self._write() as db:
            db.execute("INSERT INTO jobs (id, name, format, status, total, created) VALUES (?, ?, ?, 'queued', ?, ?)",
                       (job_id, name, fmt, len(claims), self.clock()))
            db.executemany("INSERT INTO job_rows (job, row, claim) VALUES (?, ?, ?)",
                           [(job_id, c.row, claim_json(c)) for c in claims])
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """The job; NotFound (job_not_found) for an unknown id."""
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no batch job {job_id!r}", code="job_not_found")
        return Job(**dict(row))

    def jobs(self, limit: int = 50) -> list[Job]:
        """The newest jobs first."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [Job(**dict(r)) for r in rows]

    def open_jobs(self) -> int:
        """How many jobs are queued or running."""
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]

    def claim(self, owner: str, lease: float, job_id: str | None = None) -> str | None:
        """Take the oldest open job (or `job_id`) whose lease is free or expired; its id, or None."""
        now = self.clock()
        with self._write() as db:
            sql = ("SELECT id, started FROM jobs WHERE status IN ('queued', 'running') "
                   "AND (owner IS NULL OR owner = ? OR lease_until < ?)")
            args: list[Any] = [owner, now]
            if job_id is not None:
                sql += " AND id = ?"
                args.append(job_id)
            row = db.execute(sql + " ORDER BY created LIMIT 1", args).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET status = 'running', owner = ?, lease_until = ?, started = ? WHERE id = ?",
                       (owner, now + lease, row["started"] or now, row["id"]))
            return row["id"]

    def renew(self, job_id: str, owner: str, lease: float) -> bool:
        """Extend the lease; False when another runner has taken the job meanwhile."""
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'running'",
                             (self.clock() + lease, job_id, owner))
            return cur.rowcount == 1

    def pending(self, job_id: str) -> list[Claim]:
        """The job's rows without a result yet, in file order."""
        with self._db() as db:
            rows = db.execute("SELECT row, claim FROM job_rows WHERE job = ? AND result IS NULL ORDER BY row",
                              (job_id,)).fetchall()
        return [claim_of(r["row"], r["claim"]) for r in rows]

    def record(self, job_id: str, owner: str, row: int, result: str, lease: float | None = None) -> bool:
        """Store one row's result (JSON) if `owner` still holds the job, extending its lease by `lease` seconds
        in the same transaction; False (nothing written) when another runner holds the job now."""
        with self._write() as db:
            held = db.execute("SELECT 1 FROM jobs WHERE id = ? AND owner = ? AND status = 'running'",
                              (job_id, owner)).fetchone()
            if held is None:
                return False
            cur = db.execute("UPDATE job_rows SET result = ? WHERE job = ? AND row = ? AND result IS NULL",
                             (result, job_id, row))
            if cur.rowcount:
                db.execute("UPDATE jobs SET done = done + 1 WHERE id = ?", (job_id,))
            if lease is not None:
                db.execute("UPDATE jobs SET lease_until = ? WHERE id = ?", (self.clock() + lease, job_id))
            return True

    def finish(self, job_id: str, owner: str) -> bool:
        """Mark the job done when every row has its result and `owner` holds it."""
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET status = 'done', finished = ?, owner = NULL, lease_until = NULL "
                             "WHERE id = ? AND owner = ? AND done = total", (self.clock(), job_id, owner))
            return cur.rowcount == 1

    def release(self, job_id: str, owner: str) -> None:
        """Give the lease back (a runner stopping cleanly): another runner may take the job at once."""
        with self._write() as db:
            db.execute("UPDATE jobs SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?", (job_id, owner))

    def prune(self, keep_days: float) -> int:
        """Delete finished jobs (and their rows) finished more than `keep_days` ago; how many were deleted."""
        cutoff = self.clock() - keep_days * 86400
        with self._write() as db:
            old = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE status = 'done' AND finished < ?",
                                              (cutoff,))]
            for job_id in old:
                db.execute("DELETE FROM job_rows WHERE job = ?", (job_id,))
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return len(old)

    def results(self, job_id: str) -> list[str]:
        """The rows' results (JSON), in file order; rows not yet done are left out."""
        with self._db() as db:
            rows = db.execute("SELECT result FROM job_rows WHERE job = ? AND result IS NOT NULL ORDER BY row",
                              (job_id,)).fetchall()
        return [r["result"] for r in rows]
