"""Index generations on disk: `INDEX` is a symlink to `.INDEX.gen-<id>`, swapped atomically.

A build writes `.INDEX.tmp-<id>`, renames it to a generation when complete, then replaces the
symlink with `os.replace` (atomic on POSIX). Readers that resolved the old link keep their open
files. The previous generation is kept for in-flight readers; older ones and any leftover
temporary directories (a crash, Ctrl-C) are removed by the next build, under a lock.
"""
from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from .errors import CorpusError

# The files of one generation (index/sentences.py, index/vectors.py, index/keyword.py and
# index/manifest.py name their own).
DB_FILE = "passages.sqlite"
VECTORS_FILE = "vectors.npy"
ENCODER_DIR = "encoder"
TOMBSTONES_FILE = "tombstones.npy"  # passage ids removed by index/update.py, excluded at search time


def _sibling(index: Path, kind: str, ident: str = "") -> Path:
    return index.parent / f".{index.name}.{kind}-{ident}"


def new_generation_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


@contextmanager
def build_lock(index: Path) -> Iterator[None]:
    """One build at a time per index path."""
    index.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(index.parent / f".{index.name}.lock"):
        yield


def check_link(index: Path) -> None:
    """CorpusError (index_not_link) when `index` is a plain folder: builds and updates only ever replace a
    link made by rebuild-index, never a folder someone put there."""
    if index.exists() and not index.is_symlink():
        raise CorpusError(f"{index} is a plain folder, not an index link made by rebuild-index: "
                          "move it away or choose another --index", code="index_not_link")


def temporary_dir(index: Path) -> Path:
    path = _sibling(index, "tmp", secrets.token_hex(4))
    path.mkdir(parents=True)
    return path


def generation_id(directory: Path) -> str:
    """The id of a generation directory `.INDEX.gen-<id>` (its name when it is not one)."""
    name = Path(directory).name
    return name.split(".gen-", 1)[1] if ".gen-" in name else name


def current_generation(index: Path) -> Path | None:
    """The real directory an index path points at, or None when there is no index."""
    if index.is_symlink() or index.is_dir():
        real = index.resolve()
        return real if real.is_dir() else None
    return None


def publish(tmp: Path, index: Path, generation: str) -> Path:
    """Make `tmp` the live generation of `index` in one atomic step; return its final path."""
    final = _sibling(index, "gen", generation)
    os.rename(tmp, final)
    link = _sibling(index, "link", secrets.token_hex(4))
    os.symlink(final.name, link)
    os.replace(link, index)
    _fsync_dir(index.parent)
    return final


def cleanup(index: Path, keep: int = 2) -> list[Path]:
    """Remove leftover temporaries and all but the newest `keep` generations (the live one always kept)."""
    removed = []
    live = current_generation(index)
    for tmp in index.parent.glob(f".{index.name}.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    for link in index.parent.glob(f".{index.name}.link-*"):
        link.unlink(missing_ok=True)
    gens = sorted(index.parent.glob(f".{index.name}.gen-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in gens[keep:]:
        if live is not None and old.resolve() == live:
            continue
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
