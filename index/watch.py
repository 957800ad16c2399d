"""`rebuild-index --watch`: follow the corpus folder and publish one generation per batch of changes.

watchfiles (a small Rust-backed watcher: inotify on Linux) groups the changes it sees within `debounce_ms`
into one batch; each batch becomes one `index.update.update_statements` call: files added or modified
are (re)read and replace their statements, deleted files remove theirs. A batch that fails (nothing
readable, a model mismatch) is logged and leaves the live generation serving; the watch goes on.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .embedder import Embedder
from .errors import StatementSearchError
from .readers.sidecar import FOLDER_FILE, SIDECAR_SUFFIX, is_sidecar
from .update import UpdateReport, statement_ids_from, update_statements

log = logging.getLogger(__name__)
DEBOUNCE_MS = 1000


def _relevant(path: Path) -> bool:
    return not path.name.startswith(".")


def statement_targets(path: Path) -> list[Path]:
    """The files a changed path stands for: itself, or for a metadata sidecar the file(s) it describes
    (NAME.EXT.meta.json: NAME.EXT; a folder's metadata.csv: every file of that folder)."""
    if not is_sidecar(path):
        return [path]
    if path.name.lower() == FOLDER_FILE:
        return sorted(p for p in path.parent.iterdir() if p.is_file() and _relevant(p) and not is_sidecar(p))
    described = path.with_name(path.name[:-len(SIDECAR_SUFFIX)])
    return [described] if described.is_file() else []


def watch_corpus(corpus: Path, index: Path, embedder: Embedder, debounce_ms: int = DEBOUNCE_MS,
                 stop: threading.Event | None = None, on_batch: Callable[[UpdateReport], None] | None = None,
                 batch_size: int = 64) -> None:
    """Watch `corpus` until `stop` is set (or KeyboardInterrupt); one new generation per batch of changes."""
    from watchfiles import Change, watch

    corpus = Path(corpus).absolute()
    for changes in watch(corpus, debounce=debounce_ms, stop_event=stop, raise_interrupt=False,
                         yield_on_timeout=False, rust_timeout=500):
        changed: set[Path] = set()
        deleted: set[Path] = set()
        for kind, raw in changes:
            path = Path(raw)
            if not _relevant(path):
                continue
            if is_sidecar(path):  # its file is read again, now without (or with) that metadata
                changed.update(t for t in statement_targets(path) if t.is_file())
            elif kind == Change.deleted or not path.exists():
                deleted.add(path)
                changed.discard(path)
            elif path.is_file():
                for target in statement_targets(path):
                    changed.add(target)
                    deleted.discard(target)
        if not changed and not deleted:
            continue
        try:
            # a modified file's statements are re-read; those it no longer holds (a JSONL line gone) go too
            remove = statement_ids_from(index, deleted | changed)
            report = update_statements(index, embedder, add=sorted(changed), remove=remove, corpus=corpus,
                                       batch_size=batch_size, missing_ok=True)
        except StatementSearchError as exc:
            log.warning("watch: %d changed, %d deleted files: not indexed: %s", len(changed), len(deleted),
                        exc.message)
            continue
        for skipped, why in report.skipped:
            log.warning("watch: skipped %s: %s", skipped, why)
        log.info("watch: %d changed, %d deleted files → generation %s (%d added, %d replaced, %d removed "
                    "statements; %d passages embedded) in %.1fs", len(changed), len(deleted), report.generation,
                    len(report.added), len(report.replaced), len(report.removed), report.embedded, report.seconds)
        if on_batch is not None:
            on_batch(report)
