"""`statement-search serve`: gunicorn with the model and index loaded once, before the workers fork.

Why gunicorn (worker processes, preload) rather than waitress: answering a question is CPU-bound (one
query embedding, FAISS, BM25, sentence scoring), and one Python process cannot use two cores for that
at once. Separate worker processes can, and loading before fork shares the model weights and index
pages between workers copy-on-write. Each worker is a `web.worker.BufferedThreadWorker` (gthread that
reads a whole request before a thread takes it), so slow or idle clients cannot hold the workers.

The fork trap: a process forked after its parent ran a multi-threaded torch operation hangs on its
first encode (the OpenMP pool does not survive fork). So the parent loads but never encodes, and the
thread counts are fixed (torch and FAISS) before anything is loaded and again in every worker.

The parent never serves, so it never reloads: once a rebuild moves the index link, its main loop
(`ReleasingArbiter`, about once a second) closes the start-up generation it holds (`LiveSearcher.
release_if_moved`), so the files of a pruned generation are freed; a worker forked after that (a
replacement for one that died) loads the current generation in `post_fork`, before it accepts requests.

Memory (docs/performance.md, "Worker memory"): before anything is loaded, the parent fixes glibc's mmap
threshold (`tune_malloc`), so the per-question NumPy temporaries go back to the system when freed instead
of staying in the heap, and imports bm25s without scipy and tqdm (`index.keyword.import_for_reading`); the
workers inherit both.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from index.embedder import available_cores
from search.live import LiveSearcher, set_threads
from search.settings import Settings

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's initial threshold, kept fixed


def tune_malloc(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes for this process and the workers it forks; whether it
    was set. The operator's MALLOC_MMAP_THRESHOLD_ (glibc's own variable) wins, and a C library without
    `mallopt` (not glibc) is left alone.

    Why: glibc serves allocations above the threshold with their own mmap and unmaps them when freed,
    but by default it raises the threshold to the size of each such block freed (up to 32 MB). A worker's
    per-question arrays (candidate vectors, sentence rows, score vectors: 0.1-4 MB each) then come from the
    heap and its per-thread arenas, and stay there, fragmented, after the question is answered: 35-40 MB of
    each worker's memory under load (bench/load.py). A fixed threshold (as MALLOC_MMAP_THRESHOLD_ would
    set it) turns that off."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def threads_per_worker(settings: Settings, workers: int) -> int:
    """settings.threads, or (0) the cores shared out between the workers."""
    if settings.threads > 0:
        return settings.threads
    return max(1, available_cores() // max(1, workers))


def request_line_limit(settings: Settings) -> int:
    """gunicorn's request-line limit for a GET carrying the longest allowed question: up to 4 UTF-8 bytes a
    character, 3 characters each when percent-encoded, plus room for the other parameters. gunicorn caps
    the setting at 8190; above that 0 means its own ceiling (1 MiB in gunicorn 27), and the worker's read
    timeout still bounds how long a client may take to send it."""
    needed = settings.max_query_chars * 12 + 4096
    return needed if needed <= 8190 else 0


def serve(settings: Settings, workers: int | None = None, echo=print) -> None:
    """Load the index, then run gunicorn on settings.host:settings.port until stopped."""
    tune_malloc()  # first: it applies to what is allocated after it
    from gunicorn.app.base import BaseApplication

    from index.keyword import import_for_reading

    from . import create_app
    from .batch import batch_service_of

    import_for_reading()  # bm25s without scipy and tqdm, before the index loads it
    workers = workers or settings.workers
    threads = threads_per_worker(settings, workers)
    settings = settings.replace(threads=threads)  # the embedder (torch or ONNX) is built with this count
    set_threads(threads)  # before the model is loaded, so no wider thread pool ever exists in the parent
    _log_requests()
    _metrics_dir()  # before the app (and prometheus_client) is created, so every worker shares the folder
    live = LiveSearcher(settings).load()
    if live.error is not None:
        echo(f"warning: {live.error.message} (the service answers 503 until an index appears)")
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": live})
    live.before_fork()
    # What the parent holds now is kept for its life: move it out of the collector's sight, so that a
    # collection in a worker does not write to (and so copy) the pages it shares with the parent (the
    # use gc.freeze is documented for).
    gc.collect()
    gc.freeze()

    def when_ready(server: Any) -> None:
        for listener in server.LISTENERS:
            host, port = listener.getsockname()[:2]
            generation = live.searcher.generation if live.searcher is not None else "none"
            echo(f"statement-search: serving http://{host}:{port}/ with {workers} worker(s), "
                 f"{threads} thread(s) each, index generation {generation}")
        sys.stdout.flush()

    def post_fork(server: Any, worker: Any) -> None:
        set_threads(threads)
        # An exception here is a worker boot error, on which gunicorn stops the whole server: a worker
        # that cannot load or warm up starts anyway and answers 503 until a usable generation appears.
        try:
            if live.searcher is None:
                live.load()  # the parent let go of the start-up generation (or had none): load the current one
            # The first encode happens here, in the worker (never in the parent: the fork trap), so the
            # first question a worker answers does not pay for creating the runtime's session.
            if live.searcher is not None:
                live.searcher.embed_question("warm-up")
        except Exception:
            log.exception("worker %s: cannot load or warm up the index; it answers 503 until one loads", worker.pid)
        try:  # resume unfinished batch jobs (the lease keeps the other workers off a job this one takes)
            batch_service_of(app).start()
        except Exception:
            log.exception("worker %s: cannot start the batch runner", worker.pid)

    def child_exit(server: Any, worker: Any) -> None:
        from .metrics import worker_exited

        worker_exited(worker.pid)

    class Application(BaseApplication):
        read_timeout = settings.read_timeout  # read by web.worker.BufferedThreadWorker
        def load_config(self) -> None:
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": workers,
                "worker_class": "web.worker.BufferedThreadWorker",  # slow clients cost no thread
                "threads": settings.worker_threads,
                "limit_request_line": request_line_limit(settings),
                "preload_app": True,      # load() runs once, in the parent, before fork
                "timeout": 120,
                "graceful_timeout": 10,
                "when_ready": when_ready,
                "post_fork": post_fork,
                "child_exit": child_exit,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "proc_name": "statement-search",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app

        def run(self) -> None:
            from gunicorn.arbiter import Arbiter

            class ReleasingArbiter(Arbiter):
                def manage_workers(self) -> None:
                    super().manage_workers()
                    live.release_if_moved()  # the master's loop: single-threaded, between forks

            try:
                ReleasingArbiter(self).run()
            except RuntimeError as exc:  # as gunicorn's BaseApplication.run reports it
                print(f"\nError: {exc}\n", file=sys.stderr)
                sys.exit(1)

    Application().run()


def _metrics_dir() -> None:
    """PROMETHEUS_MULTIPROC_DIR for the workers' metric files: the operator's, or a fresh temporary one."""
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="statement-search-metrics-")


def _log_requests() -> None:
    """Access log lines (request id, method, path, status, ms; web/limits.py) to stderr, one per request."""
    access = logging.getLogger("statement_search.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s access %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False


def stop_server(proc: subprocess.Popen, grace: float = 30) -> None:
    """Stop a `serve` process started in its own session: SIGTERM (gunicorn stops its workers), then
    SIGKILL to the whole process group if it is still running after `grace` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
