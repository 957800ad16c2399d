"""The production server under hostile or unlucky conditions (issue 12): a real gunicorn each time."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import wait_until
from test_serve import QUESTION, ServerLog, fetch, running_server, search_url

from web.security import HEADERS

pytestmark = pytest.mark.server

SLOW_REQUESTS = (b"",                                                      # idle: connects, sends nothing
                 b"GET /api/health HTTP/1.1\r\nHost: slow\r\nUser-",        # headers cut short
                 b"POST /api/search HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 500\r\n\r\n{\"q\": \"tax")              # body shorter than its length


def _port(base: str) -> int:
    return urllib.parse.urlsplit(base).port


def raw(base: str, payload: bytes, timeout: float = 30) -> tuple[int, bytes]:
    """Send raw bytes, return (status, body) of the response."""
    with socket.create_connection(("127.0.0.1", _port(base)), timeout=timeout) as sock:
        sock.sendall(payload)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_slow_clients_do_not_block_the_server(seed_index):
    """200 slow sockets (idle, headers cut short, short bodies) held open: health still answers at once.
    With sync workers (or plain gthread) the same sockets leave /api/health unanswered (docs/reliability.md)."""
    with running_server(seed_index, workers=2) as base:
        slow = []
        try:
            for i in range(200):
                sock = socket.create_connection(("127.0.0.1", _port(base)), timeout=10)
                sock.sendall(SLOW_REQUESTS[i % 3])
                slow.append(sock)
            time.sleep(1)  # the server reads what the slow sockets sent (nothing to poll: it must not answer them)
            answers = [fetch(base + "api/health", timeout=5) for _ in range(10)]
            assert all(status == 200 for status, _ in answers)
            status, body = fetch(search_url(base, QUESTION, k=2), timeout=10)
            assert status == 200 and len(body["results"]) == 2
        finally:
            for sock in slow:
                sock.close()


def test_crafted_requests_get_clear_400s_without_tracebacks(seed_index):
    log = ServerLog()
    with running_server(seed_index, workers=1, log=log) as base:
        port = _port(base)
        deep = b"[" * 8000 + b"]" * 8000
        cases = {
            "deep": (b"POST /api/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(deep)) + deep,
            "surrogate q": _post(b'{"q": "\\ud800"}'),
            "surrogate speaker": _post(b'{"q": "privacy", "speaker": "\\udfff"}'),
            "surrogate source": _post(b'{"q": "privacy", "source": ["x\\ud83d"]}'),
            "bad chunked": (b"POST /api/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        }
        for name, payload in cases.items():
            status, body = raw(base, payload)
            assert status == 400, (name, status, body)
            error = json.loads(body)["error"]
            assert error["code"] in ("invalid_json", "invalid_query", "invalid_speaker", "invalid_source",
                                     "invalid_body"), (name, error)
        cyrillic = "Как защитить частную жизнь и безопасность граждан? " * 19  # 988 characters
        status, body = fetch(search_url(base, cyrillic[:1000], k=1))
        assert status == 200 and len(body["results"]) == 1  # gunicorn's 414 before the request line limit
        assert port and fetch(base + "api/health")[0] == 200
    assert not [line for line in log if "Traceback" in line or "Error" in line], "".join(log)


def _post(body: bytes) -> bytes:
    return (b"POST /api/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def test_security_headers_on_every_route(seed_index, seed_searcher):
    doc_id = seed_searcher.search(QUESTION, k=1).hits[0].document.id
    routes = ["", "?q=" + urllib.parse.quote(QUESTION), "documents/" + urllib.parse.quote(doc_id),
              "documents/missing", "static/style.css", "nope", "api/health", "api/stats", "api/openapi.json",
              "api/search?q=privacy", "api/search?q=", "api/documents/" + urllib.parse.quote(doc_id),
              "api/documents/missing", "api/nope"]
    with running_server(seed_index, workers=1) as base:
        for route in routes:
            status, head = _head(base + route)
            assert status in (200, 400, 404), (route, status)
            for name, value in HEADERS.items():
                assert head.get(name.lower()) == value, (route, name, head)


def _head(url: str) -> tuple[int, dict[str, str]]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


def _workers(pid: int) -> list[int]:
    """Child processes of `pid` (the gunicorn workers of a server started as `python -m web`)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _kill_workers_and_wait_for_new_ones(master: int) -> None:
    """kill -9 every worker of `master`; return once gunicorn has forked as many replacements."""
    killed = _workers(master)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: len(now := set(_workers(master))) == len(killed) and now.isdisjoint(killed), 60,
               f"gunicorn to replace its {len(killed)} killed workers")


def _server_pid(log: ServerLog) -> int:
    # `python -m web serve` runs gunicorn's master in the same process
    return log.pid


def test_respawned_worker_after_pruning_rebuilds_answers(tmp_path, corpus, embedder):
    """Rebuild three times (the start-up generation is pruned), kill -9 a worker: every search still 200."""
    from index.build import build_index

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    log = ServerLog()
    with running_server(index, workers=2, log=log, reload_interval="0.2") as base:
        for n in range(3):
            (corpus / f"extra{n}.txt").write_text(f"Title: Note {n}\nSpeaker: Clerk\n\nThe ferry timetable "
                                                   f"changed {n} times this spring.\n")
            build_index(corpus, index, embedder)
        generations = sorted(p.name for p in tmp_path.glob(".index.gen-*"))
        assert len(generations) == 2  # the start-up generation is gone
        # gunicorn forks replacements from the master, which holds the start-up generation
        _kill_workers_and_wait_for_new_ones(_server_pid(log))
        answers = [fetch(search_url(base, QUESTION, k=2)) for _ in range(8)]
        assert [status for status, _ in answers] == [200] * 8, answers
        assert {body["index"]["generation"] for _, body in answers} <= {g.split("gen-")[1] for g in generations}
    assert not [line for line in log if "Traceback" in line], "".join(log)


def test_truncated_vectors_are_refused_not_read(tmp_path, corpus, embedder):
    """A generation changed in place: 503 with a clear message, workers alive, health says unavailable."""
    from index.build import build_index

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    with running_server(index, workers=1) as base:
        assert fetch(search_url(base, QUESTION, k=1))[0] == 200
        vectors = index.resolve() / "vectors.npy"
        os.truncate(vectors, vectors.stat().st_size // 2)
        for _ in range(3):
            status, body = fetch(search_url(base, QUESTION, k=1))
            assert status == 503 and body["error"]["code"] == "index_changed", body
            assert "vectors.npy" in body["error"]["message"]
        status, health = fetch(base + "api/health")
        assert status == 503 and health["status"] == "unavailable"
        (corpus / "late.txt").write_text("Title: Late\nSpeaker: Clerk\n\nA rebuild brings the service back.\n")
        build_index(corpus, index, embedder)
        wait_until(lambda: fetch(base + "api/health")[0] == 200, 60, "health to answer 200 after the rebuild",
                   interval=0.5)
        assert fetch(search_url(base, QUESTION, k=1))[0] == 200


def test_metrics_add_up_across_workers(seed_index):
    """/metrics through gunicorn with 2 workers: counts from every worker, in Prometheus text format."""
    import re

    with running_server(seed_index, workers=2) as base:
        for _ in range(6):
            assert fetch(search_url(base, QUESTION, k=1, mode="keyword"))[0] == 200
        assert fetch(base + "api/search?q=")[0] == 400
        status, text = fetch(base + "metrics")
        assert status == 200 and isinstance(text, str)
        values = dict(re.findall(r'^(statement_search_\S+) ([0-9.e+]+)$', text, re.MULTILINE))
        assert float(values['statement_search_searches_total{mode="keyword"}']) == 6
        assert float(values['statement_search_errors_total{code="invalid_query"}']) == 1
        ok = 'statement_search_requests_total{method="GET",route="/api/search",status="200"}'
        assert float(values[ok]) == 6
        assert float(values["statement_search_index_passages"]) > 0
        assert 'statement_search_request_seconds_bucket{le="0.005",route="/api/search"}' in values


def test_time_budget_answers_503_json_and_the_worker_survives(seed_index):
    """request_budget 0.0001 s: a real hybrid search (a question embedding alone takes milliseconds) and a
    quote check end with 503 time_budget in the one error shape; the same worker process (same pid) then
    answers the routes that have no budget, and nothing is logged as a traceback."""
    log = ServerLog()
    with running_server(seed_index, workers=1, log=log, request_budget="0.0001") as base:
        assert fetch(base + "api/health")[0] == 200  # the worker is up (it forks after the "serving" line)
        before = _workers(_server_pid(log))
        for n, question in enumerate(["privacy of citizens", "taxes on bread", "the ferry timetable"]):
            status, body = fetch(search_url(base, f"{question} {n}", k=3, mode="hybrid"))
            assert status == 503, (status, body)
            assert set(body) == {"error"} and body["error"]["code"] == "time_budget", body
            assert "time budget of 0.0001 s" in body["error"]["message"]
        status, body = fetch(base + "api/verify", {"quote": "We will protect the privacy of every citizen."})
        assert status == 503 and body["error"]["code"] == "time_budget", body
        status, page = fetch(base + "?" + urllib.parse.urlencode({"q": "privacy"}))
        assert status == 503 and "time budget" in page
        for route in ("api/health", "api/stats"):
            assert fetch(base + route)[0] == 200, route
        assert _workers(_server_pid(log)) == before and len(before) == 1  # not restarted
    assert not [line for line in log if "Traceback" in line], "".join(log)
    with running_server(seed_index, workers=1, log=log, request_budget="0") as base:  # budget off: 200
        status, body = fetch(search_url(base, "privacy of citizens 0", k=3, mode="hybrid"))
        assert status == 200 and len(body["results"]) == 3


def _deleted_under(pid: int, under: Path) -> list[str]:
    """Descriptors and memory maps of process `pid` that point at deleted files under `under`."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(under)) and target.endswith("(deleted)"):
            found.append(target)
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if str(under) in line and line.endswith("(deleted)"):
            found.append(line.split()[-2])
    return found


def test_master_lets_go_of_the_start_up_generation(tmp_path, corpus):
    """The pre-fork master loads the start-up generation and never serves: after 3 rebuilds (it is pruned)
    it holds no descriptor or map of its deleted files, and workers forked afterwards (kill -9) load the
    current generation, question encoder included (an ONNX index carries it), and answer."""
    from index.build import build_index
    from search.settings import load_settings

    embedder = load_settings(environ={}).make_embedder()  # the default backend: onnx-int8, encoder in the index
    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    log = ServerLog()
    with running_server(index, workers=2, log=log, reload_interval="0.2") as base:
        assert fetch(search_url(base, QUESTION, k=2))[0] == 200
        master = _server_pid(log)
        assert [p for p in _deleted_under(master, tmp_path)] == []
        for n in range(3):
            (corpus / f"extra{n}.txt").write_text(f"Title: Note {n}\nSpeaker: Clerk\n\nThe ferry timetable "
                                                   f"changed {n} times this spring.\n")
            latest = build_index(corpus, index, embedder).generation
        assert len(list(tmp_path.glob(".index.gen-*"))) == 2  # the start-up generation is gone
        # the master looks at the index link about once a second
        wait_until(lambda: not _deleted_under(master, tmp_path), 15,
                   "the master to let go of the pruned generation's files", interval=0.5)
        assert _deleted_under(master, tmp_path) == []
        _kill_workers_and_wait_for_new_ones(master)
        answers = [fetch(search_url(base, f"{QUESTION} {n}", k=2)) for n in range(8)]
        assert [status for status, _ in answers] == [200] * 8, answers
        assert {body["index"]["generation"] for _, body in answers} == {latest}
    assert not [line for line in log if "Traceback" in line], "".join(log)
