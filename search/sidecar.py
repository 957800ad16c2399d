"""Databases kept beside (not inside) the index generations: batch jobs, fact-checks, saved searches.

`state/index` is a symlink to the live generation, replaced by every build; these files sit next to the
link (`state/index.jobs.sqlite`, `state/index.factchecks.sqlite`), so a rebuild keeps them and the
build's cleanup (which only removes `.index.tmp-*` and old `.index.gen-*`) never touches them.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JOBS = "jobs"
FACTCHECKS = "factchecks"
WATCHLISTS = "watchlists"


def sidecar_path(index: Path, name: str) -> Path:
    """The SQLite file `name` beside the index link."""
    index = Path(index)
    return index.parent / f"{index.name}.{name}.sqlite"


def connect(path: Path, pragmas: tuple[str, ...] = ("synchronous=NORMAL",)) -> sqlite3.Connection:
    """A connection in WAL mode (readers do not block the writer), autocommit, waiting up to 30 s for a lock,
    with the store's own `pragmas` (jobs and fact-checks: synchronous=NORMAL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    for pragma in pragmas:
        db.execute(f"PRAGMA {pragma}")
    db.row_factory = sqlite3.Row
    return db


@contextmanager
def session(path: Path, pragmas: tuple[str, ...] = ("synchronous=NORMAL",)) -> Iterator[sqlite3.Connection]:
    """`connect`, closed on the way out."""
    db = connect(path, pragmas)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def write_transaction(path: Path, pragmas: tuple[str, ...] = ("synchronous=NORMAL",)) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken before reading (BEGIN IMMEDIATE: read-then-update is atomic), committed
    on success and rolled back on any exception."""
    with session(path, pragmas) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
