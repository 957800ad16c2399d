"""Batch check: file parsing (every bad input names its row), the job store's lease, resuming after a
restart, the CLI and the API job lifecycle, with the real model on the seed index."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest
from conftest import wait_until

from search.batch import BatchRunner, check_claim, rows_of, run_job
from search.claims import parse_claims
from search.errors import SearchError, TooLarge
from search.jobs import JobStore

SEED_ID = "durov-2024-09-06"
ROWS = [  # (quote, speaker filter, after filter, expected verdict)
    ("Balancing privacy and security is not easy.", "", "", "verbatim"),
    ("We remove thousands of harmful posts and channels every day.", "", "", "altered"),
    ("Telegram takes down a huge number of harmful posts and channels daily.", "", "", "paraphrase"),
    ("Telegram plans to move its headquarters from Dubai to Paris next year.", "", "", "not_found"),
    ("Balancing privacy and security is not easy.", "Nobody Atall", "", "not_found"),   # speaker filter
    ("Balancing privacy and security is not easy.", "", "2030", "not_found"),           # date filter
]


def claims_csv(rows=ROWS) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "quote", "speaker", "after"])
    for i, (q, speaker, after, _) in enumerate(rows, 1):
        w.writerow([f"c{i}", q, speaker, after])
    return out.getvalue().encode()


def parse(data: bytes, fmt: str = "csv", max_rows: int = 100, max_bytes: int | None = None):
    return parse_claims(data, fmt, max_rows, 1000, max_bytes)


@pytest.mark.parametrize("data, fmt, code, where", [
    (b"", "csv", "empty_file", "empty"),
    (b"   \n\n", "jsonl", "empty_file", "empty"),
    (b"quote\n", "csv", "empty_file", "no rows"),
    (b"text,speaker\nhello,A\n", "csv", "missing_column", "header (line 1)"),
    (b"quote,speakr\nhello,A\n", "csv", "unknown_column", "'speakr'"),
    (b"quote,after\nhello there,2020\n,2020\n", "csv", "invalid_quote", "row 2 (line 3)"),
    (b"quote,after\nhello there,2020\nworld,20x0\n", "csv", "invalid_after", "row 2 (line 3)"),
    (b"quote,speaker\nhello,A\nworld\n", "csv", "invalid_row", "row 2 (line 3)"),
    (b'quote\nfine\n"bad \xff quote"\n', "csv", "invalid_encoding", "line 3"),
    (b'{"quote": "fine"}\n{"quote": \n', "jsonl", "invalid_json", "row 2 (line 2)"),
    (b'{"quote": "fine"}\n["a list"]\n', "jsonl", "invalid_row", "row 2 (line 2)"),
    (b'{"quote": "fine"}\n\n{"quote": "x", "when": 1}\n', "jsonl", "unknown_column", "row 2 (line 3)"),
    (b'{"quote": "fine"}\n{"quote": 5}\n', "jsonl", "invalid_quote", "row 2 (line 2)"),
    (b'{"quote": "fine"}\n{"quote": "a", "before": "2001", "after": "2005"}\n', "jsonl", "invalid_date_range",
     "row 2"),
])
def test_bad_files_are_refused_naming_the_row(data, fmt, code, where):
    with pytest.raises(SearchError) as err:
        parse(data, fmt)
    assert err.value.code == code
    assert where in err.value.message


def test_limits_on_rows_and_bytes():
    with pytest.raises(TooLarge) as err:
        parse(b"quote\n" + b"some words\n" * 5, max_rows=4)
    assert err.value.code == "too_many_rows"
    with pytest.raises(TooLarge) as err:
        parse(b"quote\n" + b"x" * 100, max_bytes=50)
    assert err.value.code == "file_too_large"


def test_csv_and_jsonl_give_the_same_claims():
    from_csv = parse(claims_csv())
    lines = "".join(json.dumps({"id": f"c{i}", "quote": q, "speaker": [s] if s else None, "after": a or None}) + "\n"
                    for i, (q, s, a, _) in enumerate(ROWS, 1))
    from_jsonl = parse(("\ufeff" + lines).encode(), "jsonl")  # a byte-order mark is fine
    assert from_csv == from_jsonl
    assert from_csv[4].filters.speakers == ("Nobody Atall",) and from_csv[5].filters.after == "2030-01-01"


def test_every_row_gets_its_verdict_within_its_filters(seed_searcher, tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    job = store.create(parse(claims_csv()), "claims.csv", "csv")
    assert store.claim("me", 60) == job.id
    done = run_job(store, job.id, "me", lambda: seed_searcher, 60)
    assert done.status == "done" and done.done == done.total == len(ROWS)
    rows = rows_of(store.results(job.id))
    assert [r.verdict for r in rows] == [r[3] for r in ROWS]
    assert [r.id for r in rows] == [f"c{i}" for i in range(1, len(ROWS) + 1)]
    verbatim, altered = rows[0], rows[1]
    assert verbatim.document == SEED_ID and verbatim.first_said_document == SEED_ID
    assert verbatim.matched_text == "Balancing privacy and security is not easy"
    assert SEED_ID in verbatim.permalink and "Passage sha256" in verbatim.citation
    assert altered.similarity < 1 and altered.matched_text.startswith("We remove millions")
    assert rows[2].first_said_document is None and rows[2].document == SEED_ID
    assert rows[4].speaker == "Nobody Atall" and rows[4].document is None


def test_a_second_runner_cannot_take_a_leased_job_until_the_lease_expires(tmp_path):
    now = [1000.0]
    store = JobStore(tmp_path / "jobs.sqlite", clock=lambda: now[0])
    job = store.create(parse(b"quote\none two three\nfour five six\n"), "f.csv", "csv")
    assert store.claim("a", 30) == job.id
    assert store.claim("b", 30) is None          # a holds it
    now[0] += 20
    assert store.record(job.id, "a", 1, "{}", lease=30)  # a row written: the lease now runs to 1050
    now[0] += 11
    assert store.claim("b", 30) is None
    now[0] += 20                                  # a died after row 1: its lease ran out
    assert store.claim("b", 30) == job.id
    assert not store.record(job.id, "a", 2, "{}")  # a came back: it may not write any more
    assert not store.renew(job.id, "a", 30)
    assert [c.row for c in store.pending(job.id)] == [2]


def test_finished_jobs_are_pruned_after_the_keep_days(tmp_path):
    now = [0.0]
    store = JobStore(tmp_path / "jobs.sqlite", clock=lambda: now[0])
    done = store.create(parse(b"quote\none two\n"), "a.csv", "csv")
    store.claim("a", 60)
    store.record(done.id, "a", 1, "{}")
    assert store.finish(done.id, "a")
    running = store.create(parse(b"quote\nthree four\n"), "b.csv", "csv")
    now[0] += 2 * 86400
    assert store.prune(3) == 0
    now[0] += 2 * 86400
    assert store.prune(3) == 1  # the finished one; an open job is never pruned
    assert [j.id for j in store.jobs()] == [running.id] and store.results(done.id) == []


def test_a_job_resumed_after_a_restart_does_not_redo_rows(seed_searcher, tmp_path, monkeypatch):
    from search import batch

    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    job = store.create(parse(claims_csv()), "claims.csv", "csv")
    checked: list[int] = []
    real = batch.check_claim

    def counting(searcher, claim):
        checked.append(claim.row)
        if len(checked) == 3:
            raise KeyboardInterrupt  # the process dies in the middle of row 3
        return real(searcher, claim)

    monkeypatch.setattr(batch, "check_claim", counting)
    store.claim("first-process", 0.01)  # a lease that will have expired when the next process starts
    with pytest.raises(KeyboardInterrupt):
        run_job(store, job.id, "first-process", lambda: seed_searcher, 0.01)
    assert JobStore(path).get(job.id).done == 2
    time.sleep(0.05)
    checked.clear()
    monkeypatch.setattr(batch, "check_claim", lambda s, c: (checked.append(c.row), real(s, c))[1])
    runner = BatchRunner(JobStore(path), lambda: seed_searcher, lease=60, poll=0.05)  # the restarted server
    finished = runner.run_once()
    assert finished.status == "done" and finished.done == len(ROWS)
    assert checked == [3, 4, 5, 6]  # rows 1 and 2 were not checked again
    assert [r.row for r in rows_of(store.results(job.id))] == [1, 2, 3, 4, 5, 6]


def test_a_row_that_cannot_be_checked_is_an_error_row_not_a_stuck_job(seed_searcher, tmp_path):
    from search.claims import Claim
    from search.types import Filters

    row = check_claim(seed_searcher, Claim(1, "x" * 2000, Filters()))
    assert row.verdict == "error" and "limit" in row.error


# -- the command line ------------------------------------------------------------------------------------
def test_cli_batch_writes_csv_and_jsonl(seed_index, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from web.cli import main

    claims = tmp_path / "claims.csv"
    claims.write_bytes(claims_csv(ROWS[:2] + ROWS[3:5]))
    out = tmp_path / "checked.jsonl"
    result = CliRunner().invoke(main, ["verify", "--batch", str(claims), "--index", str(seed_index),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["verbatim", "altered", "not_found", "not_found"]
    assert "4 quotes" in result.stderr and "quotes/s" in result.stderr
    job_id = result.stderr.split("batch job ")[1].split(":")[0]
    again = CliRunner().invoke(main, ["verify", "--resume", job_id, "--index", str(seed_index), "--format", "csv"])
    assert again.exit_code == 0, again.output
    table = list(csv.DictReader(io.StringIO(again.stdout)))
    assert [r["verdict"] for r in table] == ["verbatim", "altered", "not_found", "not_found"]
    assert table[0]["document"] == rows[0]["document"] == SEED_ID


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"quote,who\nsome words,x\n", "unknown column 'who'"),
    (b"quote\nfine words\n\xfe\xff\n", "line 3"),
    (b"quote,after\nfine words,2020\nmore words,yesterday\n", "row 2 (line 3)"),
])
def test_cli_batch_bad_file_exits_2_and_stores_nothing(seed_index, tmp_path, content, message):
    from click.testing import CliRunner

    from search.sidecar import JOBS, sidecar_path
    from web.cli import main

    claims = tmp_path / "claims.csv"
    claims.write_bytes(content)
    before = len(JobStore(sidecar_path(seed_index, JOBS)).jobs(1000))
    result = CliRunner().invoke(main, ["verify", "--batch", str(claims), "--index", str(seed_index)])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(JobStore(sidecar_path(seed_index, JOBS)).jobs(1000)) == before


# -- the API ----------------------------------------------------------------------------------------------
@pytest.fixture
def batch_app(seed_index, embedder, tmp_path):
    from search.live import LiveSearcher
    from search.settings import load_settings
    from web import create_app

    settings = load_settings({"index": seed_index, "batch_rate_limit": "3/minute"}, environ={})
    live = LiveSearcher(settings, embedder).load()
    app = create_app({"TESTING": True, "SETTINGS": settings, "LIVE_SEARCHER": live,
                      "JOBS_DB": tmp_path / "jobs.sqlite", "BATCH_POLL": 0.05})
    yield app
    app.extensions["statement_search_batch"].stop()


def wait_done(client, url, timeout=120):
    return wait_until(lambda: (lambda body: body if body["status"] == "done" else None)(client.get(url).get_json()),
                      timeout, f"the batch job at {url} to finish")


def test_api_job_lifecycle(batch_app):
    from test_web import assert_error, validator

    client = batch_app.test_client()
    got = client.post("/api/verify/batch", data={"file": (io.BytesIO(claims_csv()), "claims.csv")},
                      content_type="multipart/form-data")
    assert got.status_code == 202, got.get_json()
    job = got.get_json()
    validator("BatchJob").validate(job)
    assert got.headers["Location"] == job["progress"] and job["total"] == len(ROWS)
    early = client.get(job["results"])
    if early.status_code != 200:  # still running: a clear 409, not a partial file
        assert_error(early, 409, "job_not_finished")
    done = wait_done(client, job["progress"])
    assert done["done"] == len(ROWS) and done["rate"] > 0
    body = client.get(job["results"]).get_json()
    validator("BatchResults").validate(body)
    assert [r["verdict"] for r in body["rows"]] == [r[3] for r in ROWS]
    as_csv = client.get(job["results"] + "?format=csv")
    assert as_csv.mimetype == "text/csv" and "claims-checked.csv" in as_csv.headers["Content-Disposition"]
    assert [r["verdict"] for r in csv.DictReader(io.StringIO(as_csv.get_data(as_text=True)))] == [r[3] for r in ROWS]
    lines = client.get(job["results"] + "?format=jsonl").get_data(as_text=True).splitlines()
    assert [json.loads(x)["row"] for x in lines] == list(range(1, len(ROWS) + 1))
    assert_error(client.get("/api/verify/batch/nosuchjob"), 404, "job_not_found")
    assert_error(client.get(job["results"] + "?format=xml"), 400, "invalid_format")


def test_api_takes_a_raw_jsonl_body(batch_app):
    client = batch_app.test_client()
    body = b'{"quote": "Balancing privacy and security is not easy."}\n'
    got = client.post("/api/verify/batch?name=q.jsonl", data=body, content_type="application/x-ndjson")
    assert got.status_code == 202
    assert wait_done(client, got.get_json()["progress"])["total"] == 1


@pytest.mark.parametrize("data, status, code, where", [
    (b"", 400, "empty_file", ""),
    (b"words\nhello\n", 400, "missing_column", "header"),
    (b"quote\nfine words\n\xff\n", 400, "invalid_encoding", "line 3"),
    (b"quote,before\nfine words,2001\nfine,13th\n", 400, "invalid_before", "row 2 (line 3)"),
    (b"quote\n" + b"many words here\n" * 40, 413, "too_many_rows", "rows"),
])
def test_api_bad_uploads_are_4xx_json_naming_the_row_and_store_nothing(batch_app, data, status, code, where):
    from test_web import assert_error

    batch_app.config["SETTINGS"] = batch_app.config["SETTINGS"]
    service = batch_app.extensions["statement_search_batch"]
    service.settings = service.settings.replace(max_batch_rows=30)
    client = batch_app.test_client()
    got = client.post("/api/verify/batch", data={"file": (io.BytesIO(data), "claims.csv")},
                      content_type="multipart/form-data")
    assert_error(got, status, code)
    assert where in got.get_json()["error"]["message"]
    assert service.store.jobs() == []


def test_api_upload_over_the_byte_limit_is_413(batch_app):
    from test_web import assert_error

    service = batch_app.extensions["statement_search_batch"]
    service.settings = service.settings.replace(max_batch_bytes=1000)
    got = batch_app.test_client().post("/api/verify/batch", data=b"quote\n" + b"w" * 70_000,
                                       content_type="text/csv")
    assert_error(got, 413, "file_too_large")
    assert service.store.jobs() == []


def test_api_batch_uploads_are_rate_limited(batch_app):
    from test_web import assert_error

    client = batch_app.test_client()
    for _ in range(3):
        assert client.post("/api/verify/batch", data=b"", content_type="text/csv").status_code == 400
    over = client.post("/api/verify/batch", data=b"", content_type="text/csv")
    assert_error(over, 429, "too_many_requests")
    assert over.headers.get("Retry-After")
    assert client.get("/api/health").status_code == 200  # other routes are not limited by it


def test_batch_routes_are_in_the_openapi_document(batch_app):
    doc = batch_app.test_client().get("/api/openapi.json").get_json()
    paths = {"/api/verify/batch", "/api/verify/batch/{job_id}", "/api/verify/batch/{job_id}/results"}
    assert paths <= set(doc["paths"])
    upload = doc["paths"]["/api/verify/batch"]["post"]
    assert {"multipart/form-data", "text/csv", "application/x-ndjson"} <= set(upload["requestBody"]["content"])
    assert {"202", "400", "413", "429"} <= set(upload["responses"])
    assert "BatchRow" in doc["components"]["schemas"]


def test_two_runners_on_one_store_never_check_a_row_twice(tmp_path, monkeypatch):
    """Two gunicorn workers' runners (two owners, one SQLite file): each row is checked once."""
    import threading

    from search import batch
    from search.batch import BatchRow

    store = JobStore(tmp_path / "jobs.sqlite")
    for n in range(4):
        store.create(parse(("quote\n" + "".join(f"quote {n} number {i}\n" for i in range(5))).encode()),
                     f"f{n}.csv", "csv")
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    class Searcher:
        generation = "g"

    def fake_check(searcher, claim):
        with lock:
            seen.append((claim.quote, claim.row))
        time.sleep(0.01)
        return BatchRow(row=claim.row, quote=claim.quote, verdict="not_found")

    monkeypatch.setattr(batch, "check_claim", fake_check)
    monkeypatch.setattr(batch, "warm", lambda searcher, claims: None)
    runners = [BatchRunner(JobStore(tmp_path / "jobs.sqlite"), Searcher, lease=30, poll=0.01) for _ in range(2)]
    for r in runners:
        r.start()
    wait_until(lambda: store.open_jobs() == 0, 30, "both runners to finish the four jobs", interval=0.05)
    for r in runners:
        r.stop()
    assert store.open_jobs() == 0
    assert len(seen) == 20 and len(set(seen)) == 20
    assert all(j.done == 5 and j.status == "done" for j in store.jobs())


def test_page_upload_progress_and_rows(batch_app):
    client = batch_app.test_client()
    form = client.get("/verify/batch")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.get_data(as_text=True)
    posted = client.post("/verify/batch", data={"file": (io.BytesIO(claims_csv(ROWS[:2])), "two.csv")},
                         content_type="multipart/form-data")
    assert posted.status_code == 303
    page_url = posted.headers["Location"]
    job_id = page_url.rsplit("/", 1)[1]
    first = client.get(page_url).get_data(as_text=True)
    assert "<progress" in first and "of 2 quotes checked" in first
    wait_done(client, f"/api/verify/batch/{job_id}")
    done = client.get(page_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in done and "2 of 2 quotes checked" in done
    assert 'data-verdict="verbatim"' in done and 'data-verdict="altered"' in done
    assert f"/api/verify/batch/{job_id}/results?format=csv" in done


def test_page_bad_upload_names_the_row_and_stores_nothing(batch_app):
    client = batch_app.test_client()
    got = client.post("/verify/batch", data={"file": (io.BytesIO(b"quote,after\nfine words,2020\nx,soon\n"), "b.csv")},
                      content_type="multipart/form-data")
    assert got.status_code == 400
    assert "row 2 (line 3)" in got.get_data(as_text=True)
    assert batch_app.extensions["statement_search_batch"].store.jobs() == []
    assert client.get("/verify/batch/unknown").status_code == 404


@pytest.mark.server
def test_a_restarted_gunicorn_server_resumes_a_job_without_redoing_rows(seed_index, tmp_path):
    """A job left half done by a server that died (its lease expired): `serve` (gunicorn, 2 workers) finishes
    it on start, with no request, and leaves the row already done as it was."""
    import os
    import shutil
    from pathlib import Path

    from test_serve import fetch, running_server

    from search.sidecar import JOBS, sidecar_path

    generation = Path(os.path.realpath(seed_index))
    shutil.copytree(generation, tmp_path / generation.name)
    index = tmp_path / "index"
    index.symlink_to(generation.name)
    now = [time.time() - 3600]
    store = JobStore(sidecar_path(index, JOBS), clock=lambda: now[0])
    job = store.create(parse(claims_csv(ROWS[:3])), "left-over.csv", "csv")
    store.claim("dead-server:1234", 60)  # leased an hour ago for a minute: expired
    marker = json.dumps({"row": 1, "quote": ROWS[0][0], "verdict": "verbatim", "error": "done before the crash"})
    assert store.record(job.id, "dead-server:1234", 1, marker)
    with running_server(index, workers=2) as base:
        wait_until(lambda: JobStore(sidecar_path(index, JOBS)).get(job.id).status == "done", 120,
                   "the restarted server to finish the left-over job", interval=0.5)
        status, body = fetch(base + f"api/verify/batch/{job.id}/results")
    assert status == 200 and [r["verdict"] for r in body["rows"]] == ["verbatim", "altered", "paraphrase"]
    assert body["rows"][0]["error"] == "done before the crash"  # row 1 was not checked again
    assert body["job"]["done"] == 3


def test_page_uploads_share_the_batch_rate_limit(batch_app):
    client = batch_app.test_client()
    codes = [client.post("/verify/batch", data={"file": (io.BytesIO(b""), "e.csv")},
                         content_type="multipart/form-data").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    assert client.get("/verify/batch").status_code == 200  # the form itself is not limited
