"""LiveSearcher: holds the Searcher of the current index generation and swaps in newer ones.

`rebuild-index` publishes a new generation by atomically re-pointing the index symlink. A long-running
service calls `LiveSearcher.get()` once per request: at most every `settings.reload_interval` seconds it
compares the link's target with the generation it serves; when they differ it loads the new generation
in a background thread (the old one keeps answering meanwhile) and then swaps the reference in one
assignment. A request holds the Searcher it got for its whole life, so every response is computed from
a single generation, and a failed load leaves the old generation serving.

Fork safety (gunicorn preload): nothing here starts a thread or encodes text until the first request,
so a parent process can load the model and index and fork workers; `before_fork()` closes the parent's
SQLite connection so that every worker opens its own.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from index.layout import current_generation

from .errors import IndexUnavailable, StatementSearchError
from .searcher import Searcher
from .settings import Settings

log = logging.getLogger(__name__)


def set_threads(threads: int) -> None:
    """Limit torch (when this process uses it: an ONNX index never imports it) and FAISS to `threads`
    (0: leave their defaults)."""
    if threads <= 0:
        return
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:  # pragma: no cover - faiss is a dependency
        pass


class LiveSearcher:
    """The Searcher for the index generation that `settings.index` points at now, reloaded when it moves."""

    def __init__(self, settings: Settings, embedder: Any | None = None,
                 loader: Callable[[Path, Settings, Any], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.embedder = embedder
        self._loader = loader or _load_searcher
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Any | None = None
        self._error: StatementSearchError | None = None
        self._loading: Path | None = None     # generation being loaded in the background
        self._failed: Path | None = None      # generation that failed to load (not retried)
        self._checked = float("-inf")

    # -- loading -----------------------------------------------------------------------------------
    def load(self) -> "LiveSearcher":
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
        with self._lock:
            old, self._current, self._error, self._failed = self._current, searcher, None, None
        if old is not None:
            log.warning("index generation %s replaced by %s", old.generation, searcher.generation)

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
        current = self._current
        if current is None:
            raise self._error or IndexUnavailable(f"no index at {self.settings.index}", code="index_missing")
        return current

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

    def before_fork(self) -> None:
        """Drop what a forked child must not share: the parent's SQLite connection."""
        store = getattr(self._current, "store", None)
        if store is not None:
            store.close()


def _load_searcher(path: Path, settings: Settings, embedder: Any | None) -> Any:
    return Searcher(path, settings, embedder)
