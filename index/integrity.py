"""What a generation's files are, so a changed, truncated or pruned one is refused instead of read.

Two checks, each as cheap as the moment allows:
- `FileStamp`: size, inode and mtime of every file, taken when a generation is loaded and compared on
  each request (a few `stat` calls). A file that moved under a reader — rewritten in place, truncated,
  or the whole generation pruned by a later build — is noticed before memory-mapped pages are touched
  (a truncated mapped file kills the process with SIGBUS on access).
- `file_table` / `verify_files`: the manifest's optional `files` table, {relative path: {size, sha256}},
  written at build time; a load compares every size and the sha256 of files up to HASH_AT_LOAD_BYTES
  (the big vector files are covered by their size and by the stamps).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .embedder import file_sha256
from .errors import IndexUnavailable
from .manifest import MANIFEST_FILE

HASH_AT_LOAD_BYTES = 4 * 1024 * 1024


def generation_files(directory: Path) -> list[str]:
    """Every regular file under `directory` except the manifest, as sorted POSIX relative paths."""
    directory = Path(directory)
    out = []
    for root, _, names in os.walk(directory):
        for name in names:
            rel = (Path(root) / name).relative_to(directory).as_posix()
            if rel != MANIFEST_FILE:
                out.append(rel)
    return sorted(out)


def file_table(directory: Path, unchanged: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of a finished generation's files (the manifest's `files`).

    `unchanged`: entries of files copied byte for byte from another generation (an incremental update);
    an entry whose size still matches is taken as it is instead of hashing the file again."""
    unchanged = unchanged or {}
    table = {}
    for rel in generation_files(directory):
        path = Path(directory) / rel
        size, known = path.stat().st_size, unchanged.get(rel)
        table[rel] = dict(known) if known and known["size"] == size else {"size": size, "sha256": file_sha256(path)}
    return table


def verify_files(directory: Path, files: Mapping[str, Mapping[str, Any]], hash_limit: int = HASH_AT_LOAD_BYTES,
                 label: str | None = None) -> None:
    """IndexUnavailable (index_corrupt) when a listed file is missing, has another size, or (up to
    `hash_limit` bytes) another sha256; an empty table (an older manifest) checks nothing."""
    directory = Path(directory)
    label = label or directory.name
    for rel, expected in files.items():
        path = directory / rel
        try:
            size = path.stat().st_size
        except OSError:
            raise IndexUnavailable(f"index generation {label} is missing {rel}; rebuild the index",
                                   code="index_corrupt") from None
        if size != int(expected.get("size", -1)):
            raise IndexUnavailable(f"index generation {label}: {rel} is {size} bytes, the manifest says "
                                   f"{expected.get('size')}; the file was changed or truncated: rebuild the index",
                                   code="index_corrupt")
        if size <= hash_limit and expected.get("sha256") and file_sha256(path) != expected["sha256"]:
            raise IndexUnavailable(f"index generation {label}: {rel} does not match its checksum in the "
                                   "manifest; rebuild the index", code="index_corrupt")


@dataclass(frozen=True)
class FileStamp:
    """(size, inode, mtime_ns) of each file of a generation at load time."""

    directory: Path
    stamps: tuple[tuple[str, int, int, int], ...]

    @classmethod
    def of(cls, directory: Path) -> FileStamp:
        directory = Path(directory)
        stamps = []
        for rel in [MANIFEST_FILE, *generation_files(directory)]:
            try:
                st = (directory / rel).stat()
            except OSError:
                continue
            stamps.append((rel, st.st_size, st.st_ino, st.st_mtime_ns))
        return cls(directory, tuple(stamps))

    @cached_property
    def _paths(self) -> tuple[str, ...]:
        return tuple(os.path.join(self.directory, rel) for rel, *_ in self.stamps)

    def changed(self) -> str | None:
        """None while every file is as it was; otherwise what changed first ("missing x", "x changed").
        Checked on every request: os.stat on paths joined once (Path objects cost as much as the stats)."""
        for path, (rel, size, ino, mtime) in zip(self._paths, self.stamps):
            try:
                st = os.stat(path)
            except OSError:
                return f"{rel} is gone"
            if (st.st_size, st.st_ino, st.st_mtime_ns) != (size, ino, mtime):
                return f"{rel} changed on disk"
        return None
