"""Databases kept beside (not inside) the index generations: batch jobs and fact-checks.

`state/index` is a symlink to the live generation, replaced by every build; these files sit next to the
link (`state/index.jobs.sqlite`, `state/index.factchecks.sqlite`), so a rebuild keeps them and the
build's cleanup (which only removes `.index.tmp-*` and old `.index.gen-*`) never touches them.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

JOBS = "jobs"
FACTCHECKS = "factchecks"


def sidecar_path(index: Path, name: str) -> Path:
    """The SQLite file `name` beside the index link."""
    index = Path(index)
    return index.parent / f"{index.name}.{name}.sqlite"


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode (readers do not block the writer), autocommit, waiting up to 30 s for a lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.row_factory = sqlite3.Row
    return db
