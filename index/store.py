"""SQLite storage for documents (with metadata) and passages (text, offsets, position)."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .passages import indexed_text, statement_heading

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    title TEXT, speaker TEXT, date TEXT, source TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    path TEXT NOT NULL,
    text TEXT NOT NULL,
    passages INTEGER NOT NULL,
    language TEXT NOT NULL DEFAULT 'und'   -- ISO 639-1 or und: declared (Language:) or detected
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY,            -- the FAISS id
    doc_id TEXT NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,          -- 1-based position among the statement's passages
    paragraph INTEGER NOT NULL,        -- 0-based source paragraph
    part INTEGER NOT NULL,             -- 0-based part of a split paragraph
    start INTEGER NOT NULL, "end" INTEGER NOT NULL,  -- offsets in documents.text
    context TEXT NOT NULL,
    text TEXT NOT NULL,
    hash TEXT NOT NULL,                -- sha256 of model + embedded text: the reuse key
    ocr REAL,                          -- read by OCR: Tesseract's mean word confidence (0-100); NULL: text layer
    language TEXT NOT NULL DEFAULT 'und'   -- ISO 639-1 or und (index/language.py)
);
CREATE INDEX passages_doc ON passages(doc_id, ordinal);
CREATE INDEX passages_hash ON passages(hash);
"""

DOC_COLUMNS = ("id", "title", "speaker", "date", "source", "extra", "path", "text", "passages", "language")
PASSAGE_COLUMNS = ("id", "doc_id", "ordinal", "paragraph", "part", "start", "end", "context", "text", "hash", "ocr",
                   "language")
# Columns added after the first schema: (name, declaration); a generation without them gets them when a live
# update writes into its copy (`StoreWriter.write`) and reads as NULL until then (`PassageStore.has_column`).
ADDED_PASSAGE_COLUMNS = (("ocr", "REAL"), ("language", "TEXT NOT NULL DEFAULT 'und'"))
ADDED_DOCUMENT_COLUMNS = (("language", "TEXT NOT NULL DEFAULT 'und'"),)
IN_CHUNK = 500  # values bound in one `IN (...)`: well under SQLite's limit on host parameters


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """`values` in chunks of IN_CHUNK, each with its "?,?,..." placeholders for `IN (...)`."""
    for i in range(0, len(values), IN_CHUNK):
        chunk = list(values[i:i + IN_CHUNK])
        yield chunk, ",".join("?" * len(chunk))


class StoreWriter:
    """The one writable connection to a generation's SQLite file, only ever inside a writer's temporary
    folder (index/writer.py): a full build creates the file, a live update starts from a copy of the live
    generation's. Every SQL statement that writes lives here."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path, self._conn = Path(path), conn

    @classmethod
    def create(cls, path: Path) -> StoreWriter:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
        return cls(path, conn)

    @classmethod
    def copy_of(cls, source: Path, path: Path) -> StoreWriter:
        """A byte copy of the store at `source` (never a hard link: a generation is never written in place)."""
        shutil.copyfile(source, path)
        return cls(path, sqlite3.connect(path))

    def write(self, documents: Iterable[Sequence[Any]] = (), passages: Iterable[Sequence[Any]] = (),
              delete: Sequence[str] = ()) -> None:
        """In one transaction: remove the statements `delete` (and their passages), then insert rows."""
        with self._conn:
            for chunk, marks in in_chunks(delete):
                self._conn.execute(f"DELETE FROM passages WHERE doc_id IN ({marks})", chunk)
                self._conn.execute(f"DELETE FROM documents WHERE id IN ({marks})", chunk)
            for table, added in (("documents", ADDED_DOCUMENT_COLUMNS), ("passages", ADDED_PASSAGE_COLUMNS)):
                have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
                for name, declaration in added:  # a copy of a generation built before the column
                    if name not in have:
                        self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
            names = ",".join(f'"{c}"' for c in DOC_COLUMNS)
            self._conn.executemany(f"INSERT INTO documents ({names}) VALUES ({','.join('?' * len(DOC_COLUMNS))})",
                                   documents)
            columns = ",".join(f'"{c}"' for c in PASSAGE_COLUMNS)
            self._conn.executemany(f"INSERT INTO passages ({columns}) VALUES ({','.join('?' * len(PASSAGE_COLUMNS))})",
                                   passages)

    def counts(self) -> tuple[int, int]:
        """(statements, passages) the store holds."""
        documents = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        passages = self._conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return int(documents), int(passages)

    def close(self) -> None:
        self._conn.close()


# SQLite's page cache per read-only connection (its default: 2,000 KiB). The file is immutable and the
# system's page cache holds it, so a small cache costs a question nothing measurable (random lookups of
# 300 texts + 20 rows: 1.4-2.3 ms either way), while every request thread of every worker has its own
# connection: 6-7 MB less per worker under load (docs/performance.md, "Worker memory").
READ_CACHE_KIB = 512


class ThreadConnections:
    """One SQLite connection per thread and process, opened by `opener` on a thread's first use (a forked
    child opens its own: a connection must not cross a fork), and `close()` for all of them (a thread
    that asks afterwards opens a new one). The passage store and the fact-check store read this way."""

    def __init__(self, opener: Callable[[], sqlite3.Connection]):
        self._open = opener
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []  # every thread's connection, so close() can close all
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept[0] == os.getpid():
            return kept[1]
        conn = self._open()
        self._local.kept = (os.getpid(), conn)
        with self._lock:
            self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
        for conn in opened:
            conn.close()


class PassageStore:
    """Read-only access to an index's SQLite file; one connection per thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._conns = ThreadConnections(self._connect)
        self._sizes: dict[str, int] = {}  # statement id -> its passage count (document_sizes)
        _ = self.conn  # fail now, not on the first query, if the file is unusable

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conns.get()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA cache_size=-{READ_CACHE_KIB}")
        return conn

    def has_column(self, name: str) -> bool:
        """Whether the passages table has column `name` (one added after older generations were built)."""
        return any(r[1] == name for r in self.conn.execute("PRAGMA table_info(passages)"))

    def passages(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """{passage id: its row with its statement's title, speaker, date, source, extra and passage count
        `n`} for `ids` (unknown ids left out)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f'SELECT p.*, d.title, d.speaker, d.date, d.source, d.extra '
            f'FROM passages p JOIN documents d ON d.id = p.doc_id WHERE p.id IN ({marks})',
            [int(i) for i in ids]).fetchall()
        sizes = self.document_sizes({r["doc_id"] for r in rows})
        return {r["id"]: {**dict(zip(r.keys(), r)), "n": sizes[r["doc_id"]]} for r in rows}

    def document_sizes(self, doc_ids: Iterable[str]) -> dict[str, int]:
        """How many passages each statement has (documents.passages), kept once read: the column comes after
        the statement's full text, so reading it walks that text's overflow pages (a page of ten SOTU hits:
        0.28 ms with it in the join, 0.09 without), and the file never changes (read-only, immutable)."""
        wanted = set(doc_ids)
        missing = [d for d in wanted if d not in self._sizes]
        for chunk, marks in in_chunks(missing):
            self._sizes.update(self.conn.execute(f"SELECT id, passages FROM documents WHERE id IN ({marks})",
                                                 chunk).fetchall())
        return {d: self._sizes[d] for d in wanted if d in self._sizes}

    def neighbours(self, doc_id: str, ordinal: int, radius: int = 1) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT id, ordinal, text FROM passages WHERE doc_id = ? AND ordinal BETWEEN ? AND ? "
            "AND ordinal != ? ORDER BY ordinal", (doc_id, ordinal - radius, ordinal + radius, ordinal)).fetchall()

    def document(self, doc_id: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()

    def document_passages(self, doc_id: str) -> list[sqlite3.Row]:
        ocr = "ocr" if self.has_column("ocr") else "NULL AS ocr"
        return self.conn.execute(
            f'SELECT id, ordinal, start, "end", context, text, {ocr} FROM passages WHERE doc_id = ? ORDER BY ordinal',
            (doc_id,)).fetchall()

    def hashes(self) -> list[tuple[int, str]]:
        return self.conn.execute("SELECT id, hash FROM passages ORDER BY id").fetchall()

    def ids_by_hash(self, hashes: Sequence[str]) -> dict[str, int]:
        """{passage hash: a passage id holding it} for those of `hashes` the store has."""
        out: dict[str, int] = {}
        hashes = list(dict.fromkeys(hashes))
        for chunk, marks in in_chunks(hashes):
            out.update(self.conn.execute(f"SELECT hash, MIN(id) FROM passages WHERE hash IN ({marks}) GROUP BY hash",
                                         chunk).fetchall())
        return out

    def passage_ids_of(self, doc_ids: Sequence[str]) -> list[int]:
        """The passage ids of these statements."""
        out: list[int] = []
        for chunk, marks in in_chunks(list(doc_ids)):
            out.extend(r[0] for r in self.conn.execute(f"SELECT id FROM passages WHERE doc_id IN ({marks})", chunk))
        return sorted(out)

    def document_paths(self) -> list[tuple[str, str]]:
        """(id, path) of every statement (path as recorded at indexing: a file, `file:line` or `file#part`)."""
        return [tuple(r) for r in self.conn.execute("SELECT id, path FROM documents ORDER BY rowid")]

    def keyword_texts(self) -> list[tuple[int, str]]:
        """(passage id, indexed text: heading, context and text) of every passage in id order: what BM25 indexes."""
        headings = {r[0]: statement_heading(r[1], r[2], r[3] or "") for r in self.conn.execute(
            "SELECT id, speaker, title, substr(text, 1, length(coalesce(title, '')) + 200) FROM documents")}
        return [(r[0], indexed_text(headings.get(r[1], ""), r[2], r[3]))
                for r in self.conn.execute("SELECT id, doc_id, context, text FROM passages ORDER BY id")]

    def texts(self, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """{passage id: (document id, passage text)} for `ids` (unknown ids left out)."""
        if not ids:
            return {}
        rows = self.conn.execute(f"SELECT id, doc_id, text FROM passages WHERE id IN ({','.join('?' * len(ids))})",
                                 [int(i) for i in ids])
        return {r[0]: (r[1], r[2]) for r in rows}

    def first_passage_ids(self) -> list[int]:
        """The id of every statement's first passage, in id order."""
        return [r[0] for r in self.conn.execute("SELECT id FROM passages WHERE ordinal = 1 ORDER BY id")]

    def document_metadata(self) -> list[tuple[str, str | None, str | None, str | None]]:
        """(id, speaker, date, source) of every statement, in insertion order."""
        return [tuple(r) for r in self.conn.execute("SELECT id, speaker, date, source FROM documents ORDER BY rowid")]

    def passage_languages(self) -> list[tuple[int, str]]:
        """(passage id, language) of every passage in id order; `und` throughout in an index built before
        languages were stored."""
        if not self.has_column("language"):
            return [(r[0], "und") for r in self.conn.execute("SELECT id FROM passages ORDER BY id")]
        return [tuple(r) for r in self.conn.execute("SELECT id, language FROM passages ORDER BY id")]

    def passage_keys(self, ids: Iterable[int] | None = None, since: int | None = None) -> list[tuple[int, str, str]]:
        """(passage id, statement id, passage hash) in id order: of `ids` (those the store holds), of the ids
        from `since` on, or of every passage."""
        if ids is not None:
            out: list[tuple[int, str, str]] = []
            for chunk, marks in in_chunks(sorted({int(i) for i in ids})):
                out.extend(tuple(r) for r in self.conn.execute(
                    f"SELECT id, doc_id, hash FROM passages WHERE id IN ({marks}) ORDER BY id", chunk))
            return out
        where, args = ("WHERE id >= ?", (int(since),)) if since is not None else ("", ())
        return [tuple(r) for r in self.conn.execute(f"SELECT id, doc_id, hash FROM passages {where} ORDER BY id", args)]

    def statement_hashes(self, hashes: Sequence[str] | None = None) -> set[tuple[str, str]]:
        """The (statement id, passage hash) pairs the store holds, among these `hashes` (an indexed lookup)
        or all."""
        if hashes is None:
            return {(r[0], r[1]) for r in self.conn.execute("SELECT doc_id, hash FROM passages")}
        out: set[tuple[str, str]] = set()
        for chunk, marks in in_chunks(list(dict.fromkeys(hashes))):
            out.update((r[0], r[1]) for r in self.conn.execute(
                f"SELECT doc_id, hash FROM passages WHERE hash IN ({marks})", chunk))
        return out

    def passage_documents(self) -> list[tuple[int, str]]:
        """(passage id, document id) of every passage, in id order."""
        return [tuple(r) for r in self.conn.execute("SELECT id, doc_id FROM passages ORDER BY id")]

    def close(self) -> None:
        """Close every thread's connection (a thread that queries afterwards opens a new one)."""
        self._conns.close()


def extra_of(row: sqlite3.Row) -> dict[str, Any]:
    return json.loads(row["extra"] or "{}")
