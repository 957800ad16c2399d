"""LiveSearcher: holds the Searcher of the current index generation and swaps in newer ones.

`rebuild-index` publishes a new generation by atomically re-pointing the index symlink. A long-running
service calls `LiveSearcher.get()` once per request: at most every `settings.reload_interval` seconds it
compares the link's target with the generation it serves; when they differ it loads the new generation
in a background thread (the old one keeps answering meanwhile) and then swaps the reference in one
assignment. A request holds the Searcher it got for its whole life, so every response is computed from
a single generation, and a failed load leaves the old generation serving.

Files that move under a reader: every request compares the served generation's file stamps (a few
`stat` calls, index.integrity.FileStamp). A generation pruned by later builds (a worker respawned from
the pre-fork parent still holds the start-up one) is replaced by the current one at once, in the
request's thread; a generation changed in place is refused with 503 instead of read (a truncated
memory-mapped file would kill the worker with SIGBUS). A replaced generation is closed (SQLite
connections of every thread, memory maps) `retire_after` seconds later, once requests that still
hold it are done, so pruned files do not stay open.

Fork safety (gunicorn preload): nothing here starts a thread or encodes text until the first request,
so a parent process can load the model and index and fork workers; `before_fork()` closes the parent's
SQLite connection so that every worker opens its own. The parent never serves, so it never reloads:
`release_if_moved()` (called from its main loop) lets go of the start-up generation once the index link
points elsewhere, so a pruned generation's disk space is freed; workers forked after that load the
current generation themselves (`load()` in gunicorn's post_fork).
"""
from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import threadpoolctl

from index import threads as faiss_threads
from index.integrity import FileStamp
from index.layout import current_generation

from .errors import IndexUnavailable, StatementSearchError
from .searcher import Searcher
from .settings import Settings

log = logging.getLogger(__name__)
RETIRE_AFTER_S = 30.0  # longer than any search takes; a replaced generation is closed after this


def set_threads(threads: int) -> None:
    """Limit torch (when this process uses it: an ONNX index never imports it), FAISS and NumPy's BLAS
    to `threads` (0: leave their defaults).

    BLAS matters as much as the others: the sentence re-scoring is a BLAS matrix-vector product, and
    OpenBLAS's own pool (one thread per core, spinning while it waits) in every worker took 35 % of the
    throughput under load (bench/load.py, 2 workers × 16 clients: 38.9 → 56.4 requests/s).
    threadpoolctl finds whichever BLAS NumPy loaded and sets its pool in this process."""
    if threads <= 0:
        return
    threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    faiss_threads.limit(threads)  # in this thread, and in each request thread at its first search


class LiveSearcher:
    """The Searcher for the index generation that `settings.index` points at now, reloaded when it moves."""

    def __init__(self, settings: Settings, embedder: Any | None = None,
                 loader: Callable[[Path, Settings, Any], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, retire_after: float = RETIRE_AFTER_S):
        self.settings = settings
        self.retire_after = retire_after
        self._stamp: FileStamp | None = None
        self._retired: list[tuple[float, Any]] = []   # (when replaced, searcher) waiting to be closed
        self._load_lock = threading.Lock()           # one synchronous replacement at a time
        self.embedder = embedder
        self._loader = loader or _load_searcher
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Any = None  # the served Searcher (or a test's stand-in), None until one loads
        self._error: StatementSearchError | None = None
        self._loading: Path | None = None     # generation being loaded in the background
        self._failed: Path | None = None      # generation that failed to load (not retried)
        self._checked = float("-inf")

    # -- loading -----------------------------------------------------------------------------------
    def load(self) -> LiveSearcher:
        """Load the current generation now, in the calling thread; keep the error when there is none."""
        target = current_generation(Path(self.settings.index))
        try:
            self._install(self._load(target if target is not None else Path(self.settings.index)))
        except StatementSearchError as exc:
            self._error = exc
            self._failed = target
            log.warning("no index loaded: %s", exc.message)
        self._checked = self._clock()
        return self

    def _load(self, path: Path) -> Any:
        searcher = self._loader(path, self.settings, self.embedder)
        if self.embedder is None:
            self.embedder = searcher.embedder  # load the model once, share it with later generations
        return searcher

    def _install(self, searcher: Any) -> None:
        path = getattr(searcher, "path", None)
        stamp = FileStamp.of(path) if path is not None and Path(path).is_dir() else None
        with self._lock:
            old, self._current, self._error, self._failed = self._current, searcher, None, None
            self._stamp = stamp
            if old is not None and old is not searcher:
                self._retired.append((self._clock(), old))
        if old is not None:
            log.warning("index generation %s replaced by %s", old.generation, searcher.generation)

    def close_retired(self, force: bool = False) -> int:
        """Close replaced generations older than retire_after (all with force); how many were closed."""
        now = self._clock()
        with self._lock:
            due = [s for t, s in self._retired if force or now - t >= self.retire_after]
            self._retired = [(t, s) for t, s in self._retired if not (force or now - t >= self.retire_after)]
        for searcher in due:
            close = getattr(searcher, "close", None) or getattr(getattr(searcher, "store", None), "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # closing must never fail a request
                    log.exception("cannot close index generation %s", getattr(searcher, "generation", "?"))
        return len(due)

    def _background(self, target: Path) -> None:
        try:
            searcher = self._load(target)
        except StatementSearchError as exc:
            log.warning("cannot load index generation %s, keeping the current one: %s", target, exc.message)
            with self._lock:
                self._failed = target
                if self._current is None:
                    self._error = exc
        except Exception:  # never let a reload failure take the service down
            log.exception("cannot load index generation %s, keeping the current one", target)
            with self._lock:
                self._failed = target
        else:
            self._install(searcher)
        finally:
            with self._lock:
                self._loading = None

    # -- serving -----------------------------------------------------------------------------------
    def check(self) -> None:
        """Start loading a newer generation when the index link moved (at most every reload_interval)."""
        now = self._clock()
        if now - self._checked < self.settings.reload_interval:
            return
        if self._retired:
            self.close_retired()
        self._checked = now
        target = current_generation(Path(self.settings.index))
        with self._lock:
            serving = self._current.path if self._current is not None else None
            if target is None or target == serving or target == self._loading or target == self._failed:
                return
            self._loading = target
        thread = threading.Thread(target=self._background, args=(target,), name="index-reload", daemon=True)
        thread.start()

    def get(self) -> Any:
        """The Searcher to answer one request with; IndexUnavailable when no generation is loaded."""
        if self.settings.reload_interval >= 0:
            self.check()
        with self._lock:
            current, stamp = self._current, self._stamp
        if current is not None and stamp is not None:
            problem = stamp.changed()
            if problem is not None:
                current = self._replace_moved(current, problem)
        if current is None:
            raise self._error or IndexUnavailable(f"no index at {self.settings.index}", code="index_missing")
        return current

    def _replace_moved(self, current: Any, problem: str) -> Any:
        """The served generation's files moved (`problem`): load the current one now, or refuse (503)."""
        with self._load_lock:
            if self._current is not current:  # another thread replaced it meanwhile
                return self._current
            target = current_generation(Path(self.settings.index))
            if target is not None and target != Path(current.path) and (target / "manifest.json").is_file():
                log.warning("index generation %s: %s; loading %s now", current.generation, problem, target.name)
                try:
                    searcher = self._load(target)
                except StatementSearchError as exc:
                    log.warning("cannot load index generation %s: %s", target.name, exc.message)
                else:
                    self._install(searcher)
                    return searcher
        raise IndexUnavailable(f"index generation {current.generation}: {problem}; it is no longer served "
                               "until a rebuild publishes a new generation", code="index_changed")

    @property
    def searcher(self) -> Any | None:
        return self._current

    @property
    def error(self) -> StatementSearchError | None:
        return self._error

    @property
    def loading(self) -> bool:
        return self._loading is not None

    def wait_until_idle(self, timeout: float = 60.0) -> bool:
        """Block until no background load runs (tests, shutdown); True when idle."""
        deadline = time.monotonic() + timeout
        while self._loading is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self._loading is None

    def release_if_moved(self) -> bool:
        """In a process that loads but never serves (the pre-fork parent): when the index link no longer
        points at the held generation, close it and drop every reference to its files (its question
        encoder too when that lives inside it, as an ONNX index's does); True when it let go. Single-
        threaded use only: nothing else may be using the generation."""
        current = self._current
        if current is None or current_generation(Path(self.settings.index)) == Path(current.path):
            return False
        inside = Path(current.path)
        encoder_file = getattr(self.embedder, "onnx_path", None)
        if encoder_file is not None and inside in Path(encoder_file).parents:
            self.embedder = None  # a later load takes the encoder its own generation carries
        with self._lock:
            self._current, self._stamp, self._checked = None, None, float("-inf")
        close = getattr(current, "close", None)  # Searcher.close: its SQLite connections
        if close is not None:
            close()
        del current
        gc.collect()  # the searcher's reference cycles hold the memory maps (vectors, FAISS index)
        log.info("released the start-up index generation %s (the index now points elsewhere)", inside.name)
        return True

    def before_fork(self) -> None:
        """Drop what a forked child must not share: the parent's SQLite connection."""
        close = getattr(self._current, "close", None)  # Searcher.close (a test's stand-in may have none)
        if close is not None:
            close()


def _load_searcher(path: Path, settings: Settings, embedder: Any | None) -> Any:
    return Searcher(path, settings, embedder)
