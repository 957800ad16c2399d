"""`statement-search serve`: a real gunicorn on a free loopback port, queried over HTTP, then stopped."""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from web.serve import stop_server

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "privacy and security"
NEW_QUESTION = "how many puffins did the lighthouse keeper count?"


class ServerLog(list):
    """The output lines of a running server, and the server's pid."""

    pid: int = 0


@contextmanager
def running_server(index: Path, workers: int = 2, startup_s: float = 240, command: list[str] | None = None,
                   cwd: Path = ROOT, log: list[str] | None = None, **env: str) -> Iterator[str]:
    """Start `serve --port 0` (by default `python -m web`), yield its base URL once it listens, always stop it.
    `log`, when given, collects the server's output lines as they arrive (its pid is `log.pid`)."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", "STATEMENT_SEARCH_THREADS": "1",
               **{f"STATEMENT_SEARCH_{k.upper()}": v for k, v in env.items()}}
    command = command or [sys.executable, "-m", "web"]
    proc = subprocess.Popen([*command, "serve", "--index", str(index), "--host", "127.0.0.1",
                             "--port", "0", "--workers", str(workers)], cwd=cwd, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [(lines.put(line), log is not None and log.append(line))
                                     for line in proc.stdout], daemon=True).start()
    try:
        deadline = time.monotonic() + startup_s
        url = None
        while url is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("server did not start:\n" + "".join(seen))
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            match = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
            url = match.group(1) if match else None
        if isinstance(log, ServerLog):
            log.pid = proc.pid
        yield url
    finally:
        stop_server(proc)


def fetch(url: str, data: dict | None = None, timeout: float = 60) -> tuple[int, dict | str]:
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            status, body, kind = r.status, r.read().decode(), r.headers.get_content_type()
    except urllib.error.HTTPError as e:
        status, body, kind = e.code, e.read().decode(), e.headers.get_content_type()
    return status, json.loads(body) if kind == "application/json" else body


def search_url(base: str, q: str, **params) -> str:
    return base + "api/search?" + urllib.parse.urlencode({"q": q, **params})


@pytest.mark.server
def test_serve_answers_over_http(seed_index):
    with running_server(seed_index, workers=2) as base:
        status, health = fetch(base + "api/health")
        assert status == 200 and health["status"] == "ok"
        answers = [fetch(search_url(base, QUESTION, k=3)) for _ in range(6)]  # spread over both workers
        assert all(s == 200 for s, _ in answers)
        ids = {tuple(h["id"] for h in body["results"]) for _, body in answers}
        assert len(ids) == 1 and len(next(iter(ids))) == 3
        status, posted = fetch(base + "api/search", {"q": QUESTION, "k": 3})
        assert status == 200 and tuple(h["id"] for h in posted["results"]) in ids
        status, page = fetch(base + "?" + urllib.parse.urlencode({"q": QUESTION}))
        assert status == 200 and "<mark>" in page
        status, error = fetch(base + "api/search?q=")
        assert status == 400 and error["error"]["code"] == "invalid_query"
        status, error = fetch(base + "api/missing")
        assert status == 404 and set(error) == {"error"}


@pytest.mark.server
def test_hot_reload_without_failed_requests(tmp_path, corpus, embedder):
    """Rebuild while the server runs: the new statement is answered, no request fails meanwhile."""
    from index.build import build_index

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    with running_server(index, workers=2, reload_interval="0.5") as base:
        _, health = fetch(base + "api/health")
        old = health["generation"]
        seen: list[tuple[int, str | None]] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                status, body = fetch(search_url(base, QUESTION, k=2))
                seen.append((status, body.get("index", {}).get("generation") if isinstance(body, dict) else None))

        thread = threading.Thread(target=hammer, daemon=True)
        thread.start()
        (corpus / "lighthouse.txt").write_text("Title: Lighthouse log\nSpeaker: Keeper Anwen\nDate: 2024-05-01\n\n"
                                               "On Vell Island the lighthouse keeper counted 417 puffins at dawn.\n")
        new = build_index(corpus, index, embedder).generation
        streak, deadline = 0, time.monotonic() + 120
        while streak < 6 and time.monotonic() < deadline:  # every worker answers from the new generation
            status, body = fetch(search_url(base, NEW_QUESTION, k=1))
            assert status == 200
            fresh = body["index"]["generation"] == new and body["results"][0]["document"]["speaker"] == "Keeper Anwen"
            streak = streak + 1 if fresh else 0
            time.sleep(0.2)
        stop.set()
        thread.join(timeout=60)
    assert streak >= 6, "the new generation was not served within 120 s"
    assert seen and all(status == 200 for status, _ in seen)
    assert {generation for _, generation in seen} <= {old, new}


def test_worker_thread_limit_reaches_numpy_blas():
    """set_threads (called in the serve parent and every worker) limits NumPy's BLAS pool too: a spinning
    OpenBLAS pool per worker cost a third of the throughput under load (docs/performance.md)."""
    code = ("import threadpoolctl; from search.live import set_threads; set_threads(1); "
            "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "1"
