"""Hardening without a server: request buffering rules, JSON depth, lone surrogates, generations that move
under a reader, replaced generations closed, write failures in rebuild-index (issue 12)."""
from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from index.build import build_index
from index.integrity import FileStamp, file_table, verify_files
from search.errors import IndexUnavailable, SearchError
from search.live import LiveSearcher
from search.searcher import Searcher
from search.settings import load_settings
from web import create_app
from web.security import decode_json_body, json_depth_exceeds
from web.worker import MAX_BUFFERED_BODY, request_complete

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("data, complete", [
    (b"", False),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", False),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", False),
    (b"POST / HTTP/1.1\r\ncontent-length:5\r\n\r\nabcde", True),
    (b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BUFFERED_BODY + 1), True),  # a thread reads on
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, True),  # over the header buffer: the parser answers it
])
def test_request_complete(data, complete):
    assert request_complete(data) is complete


def test_json_depth_is_checked_without_recursion():
    assert json_depth_exceeds("[" * 100_000)
    assert not json_depth_exceeds('{"q": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')  # brackets inside a string
    assert decode_json_body(b'\xef\xbb\xbf{"q": "x"}') == {"q": "x"}  # a BOM is tolerated
    for body in (b"[" * 5000, b"\xff\xfe", b'{"q": '):
        with pytest.raises(SearchError):
            decode_json_body(body)


@pytest.fixture
def fake_index(tmp_path, fake_encoder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Title: A\nSpeaker: Ann\n\nTaxes on bread went up.\n\nThe ferry runs daily.\n")
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    return corpus, index


def test_lone_surrogates_are_400_not_500(fake_index, fake_encoder):
    _, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1}, environ={})
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()})
    client = app.test_client()
    for body, code in [('{"q": "\\ud800"}', "invalid_query"), ('{"q": "tax", "speaker": "\\udfff"}', "invalid_speaker"),
                       ('{"q": "tax", "source": ["\\ud83d"]}', "invalid_source"),
                       ("[" * 7000 + "]" * 7000, "invalid_json")]:
        response = client.post("/api/search", data=body, content_type="application/json")
        assert response.status_code == 400, body[:40]
        assert response.get_json()["error"]["code"] == code


def _deleted_files(under: Path) -> int:
    """Descriptors and memory maps of this process that point at deleted files under `under`."""
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        found += target.startswith(str(under)) and target.endswith("(deleted)")
    maps = Path("/proc/self/maps").read_text().splitlines()
    return found + sum(1 for line in maps if str(under) in line and line.endswith("(deleted)"))


def test_replaced_generations_are_closed_across_reloads(fake_index, fake_encoder):
    """20 rebuilds, each pruning older generations: no descriptor or map of a deleted file stays open."""
    corpus, index = fake_index
    clock = [0.0]
    settings = load_settings({"index": index, "reload_interval": 1}, environ={})
    live = LiveSearcher(settings, fake_encoder, clock=lambda: clock[0], retire_after=0).load()
    counts, totals = [], []
    for n in range(20):
        (corpus / f"n{n}.txt").write_text(f"Title: N{n}\n\nNote number {n} about the ferry.\n")
        generation = build_index(corpus, index, fake_encoder).generation
        clock[0] += 2
        live.get()
        assert live.wait_until_idle(30)
        clock[0] += 2
        searcher = live.get()  # closes the generations replaced before this check
        assert searcher.generation == generation
        searcher.search("ferry", k=1)
        gc.collect()
        counts.append(_deleted_files(index.parent))
        totals.append(len(list(Path("/proc/self/fd").iterdir())))
    assert max(counts) == 0, counts
    assert len(set(totals[1:])) == 1, totals  # flat: each reload closes what the previous one opened


def test_pruned_generation_is_replaced_in_the_request(fake_index, fake_encoder):
    """A searcher whose generation was pruned (a worker forked from the start-up state) loads the current one."""
    corpus, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1}, environ={})  # no background checks
    live = LiveSearcher(settings, fake_encoder).load()
    first = live.get().generation
    for n in range(3):
        (corpus / f"n{n}.txt").write_text(f"Title: N{n}\n\nNote {n}.\n")
        latest = build_index(corpus, index, fake_encoder).generation
    assert not any(first in p.name for p in index.parent.glob(".index.gen-*"))
    searcher = live.get()
    assert searcher.generation == latest
    assert searcher.search("ferry", k=1).hits


def test_generation_changed_in_place_is_refused(fake_index, fake_encoder):
    _, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1}, environ={})
    live = LiveSearcher(settings, fake_encoder).load()
    vectors = index.resolve() / "vectors.npy"
    os.truncate(vectors, 64)
    with pytest.raises(IndexUnavailable) as caught:
        live.get()
    assert caught.value.code == "index_changed" and "vectors.npy" in caught.value.message
    assert FileStamp.of(index.resolve()).changed() is None  # a fresh stamp of the same files is clean


def test_file_table_detects_changed_files(fake_index):
    _, index = fake_index
    generation = index.resolve()
    table = file_table(generation)
    assert {"vectors.npy", "index.faiss", "passages.sqlite"} <= set(table)
    verify_files(generation, table)
    sqlite = generation / "passages.sqlite"
    original = sqlite.read_bytes()
    data = bytearray(original)
    data[100] ^= 0xFF
    sqlite.write_bytes(bytes(data))
    with pytest.raises(IndexUnavailable, match="checksum"):
        verify_files(generation, table)
    sqlite.write_bytes(original)
    os.truncate(generation / "vectors.npy", 10)
    with pytest.raises(IndexUnavailable, match="truncated"):
        verify_files(generation, table)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, 8 * 1024))


def test_rebuild_under_a_file_size_limit_fails_clearly(tmp_path, corpus, embedder):
    """ulimit -f: exit 3 and one clear line, no traceback; the previous generation is intact and loads."""
    index = tmp_path / "index"
    old = build_index(corpus, index, embedder).generation
    (corpus / "more.txt").write_text("Title: More\nSpeaker: Clerk\n\nAnother paragraph to index.\n")
    result = subprocess.run([sys.executable, "-m", "web", "rebuild-index", "--corpus", str(corpus), "--index",
                             str(index), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            preexec_fn=_limit_file_size)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "cannot write the new index generation" in result.stderr
    assert "previous index generation" in result.stderr
    assert Searcher(index, load_settings({"index": index}, environ={}), embedder).generation == old
    assert not list(tmp_path.glob(".index.tmp-*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs mounted under tmp_path (root and a kernel that allows it, e.g. CI's containers run
    as root); skipped with the reason otherwise."""
    import shutil

    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8): ENOSPC/EROFS are not reproduced here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): ENOSPC/EROFS are not reproduced")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def _rebuild(corpus: Path, index: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STATEMENT_SEARCH_EMBEDDING_BACKEND": "torch"}  # the first build's backend: reuse
    return subprocess.run([sys.executable, "-m", "web", "rebuild-index", "--corpus", str(corpus), "--index",
                           str(index), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def _fails_clearly(result: subprocess.CompletedProcess, *reasons: str) -> None:
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the new index generation"), result.stderr
    assert any(r in lines[0] for r in reasons) and "previous index generation, if any, is unchanged" in lines[0], lines


def _old_generation_answers(index: Path, old: str, embedder) -> None:
    searcher = Searcher(index, load_settings({"index": index}, environ={}), embedder)
    assert searcher.generation == old and searcher.search("ferry timetable", k=1).hits
    assert not list(index.parent.glob(".index.tmp-*"))  # the partial generation was removed


@pytest.mark.tmpfs
def test_rebuild_on_a_full_disk_fails_clearly(small_disk, corpus, embedder):
    """ENOSPC: a rebuild whose new generation does not fit in the space left (a real full tmpfs)."""
    index = small_disk / "index"
    old = build_index(corpus, index, embedder).generation
    free = os.statvfs(small_disk)
    filler = (free.f_bavail * free.f_frsize) - 32 * 1024  # leave 32 KiB: less than one generation
    (small_disk / "filler").write_bytes(b"\0" * max(filler, 0))
    (corpus / "more.txt").write_text("Title: More\nSpeaker: Clerk\n\nThe ferry timetable changed again.\n")
    result = _rebuild(corpus, index)
    _fails_clearly(result, "No space left on device", "database or disk is full")  # the OS's or SQLite's words
    _old_generation_answers(index, old, embedder)


@pytest.mark.tmpfs
def test_rebuild_on_a_read_only_filesystem_fails_clearly(small_disk, corpus, embedder):
    """EROFS: the index's filesystem remounted read-only; the live generation still loads and answers."""
    index = small_disk / "index"
    old = build_index(corpus, index, embedder).generation
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True,
                             timeout=30)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here ({remount.stderr.strip()})")
    (corpus / "more.txt").write_text("Title: More\nSpeaker: Clerk\n\nThe ferry timetable changed again.\n")
    result = _rebuild(corpus, index)
    _fails_clearly(result, "Read-only file system")
    _old_generation_answers(index, old, embedder)


def test_query_with_undecodable_bytes_is_a_clean_error(tmp_path):
    """An argument that is not UTF-8 (surrogate-escaped by Python) → exit 2 and a message, before any load."""
    result = subprocess.run([sys.executable.encode(), b"-m", b"web", b"query", b"caf\xe9 tax", b"--index",
                             str(tmp_path / "none").encode()], cwd=ROOT, capture_output=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert b"not valid Unicode" in result.stderr and b"Traceback" not in result.stderr


def _rewrite_manifest(change):
    def apply(generation: Path) -> None:
        path = generation / "manifest.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return apply


def _write(name: str, content: bytes):
    def apply(generation: Path) -> None:
        (generation / name).write_bytes(content)
    return apply


def _remove(name: str):
    def apply(generation: Path) -> None:
        target = generation / name
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        else:
            target.unlink()
    return apply


def _truncate(name: str):
    def apply(generation: Path) -> None:
        os.truncate(generation / name, (generation / name).stat().st_size // 2)
    return apply


CORRUPTIONS = {
    "manifest []": _write("manifest.json", b"[]"),
    "manifest random bytes": _write("manifest.json", bytes(range(256)) * 4),
    "manifest empty": _write("manifest.json", b""),
    "manifest NUL bytes": _write("manifest.json", b"\0" * 100),
    "manifest truncated JSON": _write("manifest.json", b'{"generation": "x", "model": {'),
    "manifest without generation": _rewrite_manifest(lambda d: d.pop("generation")),
    "manifest format 99": _rewrite_manifest(lambda d: d.update(format_version=99)),
    "manifest counts a string": _rewrite_manifest(lambda d: d.update(counts="many")),
    "manifest files a list": _rewrite_manifest(lambda d: d.update(files=["vectors.npy"])),
    "manifest other model": _rewrite_manifest(lambda d: d["model"].update(sha256="0" * 64)),
    "manifest missing": _remove("manifest.json"),
    "vectors.npy truncated": _truncate("vectors.npy"),
    "vectors.npy missing": _remove("vectors.npy"),
    "index.faiss garbage": _write("index.faiss", b"not a faiss index"),
    "index.faiss missing": _remove("index.faiss"),
    "passages.sqlite garbage": _write("passages.sqlite", b"SQLite format 3\0" + b"\xff" * 4000),
    "passages.sqlite empty": _write("passages.sqlite", b""),
    "bm25 folder missing": _remove("bm25"),
    "bm25 vocabulary garbage": _write("bm25/vocab.index.json", b"{\"broken"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_generation_is_refused_cleanly(fake_index, fake_encoder, name):
    """Each corruption → IndexUnavailable (503 from serve, exit 3 from query) with a message, never a crash."""
    from web.errors import exit_code, http_status

    _, index = fake_index
    CORRUPTIONS[name](index.resolve())
    settings = load_settings({"index": index, "reload_interval": -1}, environ={})
    live = LiveSearcher(settings, fake_encoder).load()
    assert isinstance(live.error, IndexUnavailable), name
    assert http_status(live.error) == 503 and exit_code(live.error) == 3
    assert "rebuild" in live.error.message
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": live})
    response = app.test_client().get("/api/search?q=ferry")
    assert response.status_code == 503 and response.get_json()["error"]["code"] == live.error.code


def test_http_errors_do_not_reveal_server_paths(tmp_path, fake_encoder):
    settings = load_settings({"index": tmp_path / "deep" / "index", "reload_interval": -1}, environ={})
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()})
    client = app.test_client()
    for url in ("/api/search?q=tax", "/api/health", "/?q=tax"):
        response = client.get(url)
        assert response.status_code == 503
        text = response.get_data(as_text=True)
        assert str(tmp_path) not in text and "index" in text, text


def test_api_key_cors_and_request_ids(fake_index, fake_encoder):
    _, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1, "api_key": "s3cret",
                              "cors_origins": "https://ok.example, https://also.example/"}, environ={})
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()})
    client = app.test_client()
    refused = client.get("/api/search?q=tax")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/search?q=tax", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/api/search?q=tax", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/api/search?q=tax", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/health").status_code == 200 and client.get("/?q=tax").status_code == 200
    allowed = client.get("/api/health", headers={"Origin": "https://also.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://also.example"
    assert "Access-Control-Allow-Origin" not in client.get("/api/health", headers={"Origin": "https://evil.example"}).headers
    preflight = client.options("/api/search", headers={"Origin": "https://ok.example",  # as a browser sends it
                                                       "Access-Control-Request-Method": "GET",
                                                       "Access-Control-Request-Headers": "Content-Type, X-API-Key"})
    assert preflight.status_code == 204 and "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    assert client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/api/health", headers={"X-Request-ID": "bad id <x>"}).headers["X-Request-ID"]
    assert generated != "bad id <x>" and len(generated) == 16


def test_rate_limit_answers_429_json_and_spares_health(fake_index, fake_encoder):
    _, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1, "rate_limit": "3/minute"}, environ={})
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()})
    client = app.test_client()
    statuses = [client.get("/api/search?q=tax").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = client.get("/api/search?q=tax")
    assert refused.get_json()["error"]["code"] == "too_many_requests" and "Retry-After" in refused.headers
    assert "3 per 1 minute" in refused.get_json()["error"]["message"]
    assert all(client.get("/api/health").status_code == 200 for _ in range(5))


def test_behind_a_proxy_each_client_has_its_own_rate_limit(fake_index, fake_encoder):
    """With proxy_hops 1 the limit keys on the address nginx appends to X-Forwarded-For, so one client
    over its limit does not lock out another, and a client cannot pick its address with a forged entry."""
    _, index = fake_index

    def client_of(hops):
        settings = load_settings({"index": index, "reload_interval": -1, "rate_limit": "2/minute",
                                  "proxy_hops": hops}, environ={})
        return create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()}
                          ).test_client()

    def via_proxy(client, sent_by_client=None):
        forwarded = f"{sent_by_client}, 203.0.113.7" if sent_by_client else "203.0.113.7"
        return client.get("/api/search?q=tax", headers={"X-Forwarded-For": forwarded}).status_code

    behind = client_of(1)
    assert [via_proxy(behind) for _ in range(3)] == [200, 200, 429]
    assert via_proxy(behind, sent_by_client="198.51.100.9") == 429  # a forged first entry is not trusted
    other = behind.get("/api/search?q=tax", headers={"X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 200  # another client behind the same proxy has its own counter
    direct = client_of(0)  # no proxy configured: the header is ignored, the peer address counts
    assert [direct.get("/api/search?q=tax", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(3)] == [200, 200, 429]


def test_bad_rate_limit_is_a_setting_error(fake_index, fake_encoder):
    from search.errors import SettingError

    _, index = fake_index
    settings = load_settings({"index": index, "rate_limit": "lots"}, environ={})
    with pytest.raises(SettingError, match="rate_limit"):
        create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder)})


def test_metrics_route_counts_requests(fake_index, fake_encoder):
    _, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1}, environ={})
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()})
    client = app.test_client()

    def searches() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        line = [x for x in text.splitlines() if x.startswith('statement_search_searches_total{mode="vector"}')]
        return float(line[0].split()[-1]) if line else 0.0

    before = searches()
    for _ in range(3):
        assert client.get("/api/search?q=tax&mode=vector").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert searches() == before + 3


class _Clock:
    """A clock that moves one second each time it is read: any positive budget runs out at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_time_budget_stops_search_and_verify_between_stages(fake_index, fake_encoder):
    from search.deadline import Deadline
    from search.errors import TimeBudgetExceeded
    from search.verify import verify

    _, index = fake_index
    searcher = Searcher(index, load_settings({"index": index}, environ={}), fake_encoder)
    for mode in ("hybrid", "vector", "keyword"):
        with pytest.raises(TimeBudgetExceeded) as caught:
            searcher.search("ferry", k=2, mode=mode, deadline=Deadline(0.5, clock=_Clock()))
        assert caught.value.code == "time_budget" and "0.5 s" in caught.value.message
    with pytest.raises(TimeBudgetExceeded):
        verify(searcher, "Taxes on bread went up.", deadline=Deadline(0.5, clock=_Clock()))
    # budget 0 is off however slow the clock: the same searcher answers
    assert searcher.search("ferry", k=2, deadline=Deadline(0, clock=_Clock())).hits
    assert verify(searcher, "Taxes on bread went up.", deadline=Deadline(0, clock=_Clock())).verdict == "verbatim"


def test_release_if_moved_lets_go_of_a_generation_no_longer_current(fake_index, fake_encoder):
    """What the pre-fork parent does from its loop: keep the generation while it is current, close it (and
    drop its maps) once the link moved, and a later load() takes the current one."""
    corpus, index = fake_index
    settings = load_settings({"index": index, "reload_interval": -1}, environ={})
    live = LiveSearcher(settings, fake_encoder).load()
    live.get().search("ferry", k=1)
    assert live.release_if_moved() is False and live.searcher is not None
    for n in range(3):
        (corpus / f"n{n}.txt").write_text(f"Title: N{n}\n\nNote {n} about the ferry.\n")
        latest = build_index(corpus, index, fake_encoder).generation
    assert _deleted_files(index.parent) > 0  # the held start-up generation was pruned under it
    assert live.release_if_moved() is True and live.searcher is None
    assert _deleted_files(index.parent) == 0
    assert live.load().get().generation == latest


def test_a_request_stuck_past_the_worker_timeout_stops_the_heartbeat():
    """gthread's heartbeat comes from its event loop; BufferedThreadWorker withholds it while a request
    thread has run longer than gunicorn's timeout, so the master replaces the worker (the hard backstop)."""
    import time
    from types import SimpleNamespace

    from web.worker import BufferedThreadWorker

    worker = BufferedThreadWorker.__new__(BufferedThreadWorker)  # no process: only the heartbeat rule
    beats: list[int] = []
    worker.cfg, worker.running = SimpleNamespace(timeout=120), {}
    worker.tmp = SimpleNamespace(notify=lambda: beats.append(1))
    worker.notify()
    worker.running["fast"] = time.monotonic() - 60
    worker.notify()
    assert len(beats) == 2
    worker.running["stuck"] = time.monotonic() - 121
    worker.notify()
    assert len(beats) == 2 and worker.longest_running() > 120
    del worker.running["stuck"]
    worker.notify()
    assert len(beats) == 3

