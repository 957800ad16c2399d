"""The batch check over HTTP: upload a file of quotes (POST /api/verify/batch), follow its progress, fetch
its results; the job runs in a background thread of the worker (search.batch.BatchRunner) and its state
lives in SQLite beside the index (search/jobs.py), so a restarted server resumes it.

Under gunicorn each worker process has its own runner; the lease in SQLite keeps two workers off one job.
A worker's runner starts when a job is submitted to it, when the worker starts (post_fork, resuming
unfinished jobs), and when an unfinished job's progress is asked for (taking over from a dead worker once
its lease has expired); it ends when no open job is left.
"""
from __future__ import annotations

import os
import re
from typing import Any

from flask import Flask, Response, current_app, request, url_for

from search.batch import MEDIA_TYPES, BatchRunner, render, rows_of
from search.claims import file_format, parse_claims
from search.errors import NotReady, SearchError, TooLarge
from search.jobs import Job, JobStore
from search.live import LiveSearcher
from search.settings import Settings
from search.sidecar import JOBS, sidecar_path

from . import security
from .api import ROUTES
from .batch_schemas import BatchJob, BatchResults
from .openapi import DOWNLOADS, MediaTypes
from .routes import Reply
from .schemas import Error, dump

EXTENSION = "statement_search_batch"
FORM_SLACK = 64 * 1024  # multipart boundaries and headers around the file


class BatchService:
    """The job store and this process's runner (a new runner after a fork: threads do not survive it)."""

    def __init__(self, path, settings: Settings, live: LiveSearcher, poll: float = 2.0):
        self.store = JobStore(path)
        self.settings, self.live, self.poll = settings, live, poll
        self._runner: BatchRunner | None = None

    @property
    def runner(self) -> BatchRunner:
        if self._runner is None or self._runner.pid != os.getpid():
            self._runner = BatchRunner(self.store, self.live.get, self.settings.batch_lease, self.poll)
        return self._runner

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()

    def submit(self, data: bytes, name: str | None, media_type: str | None, fmt: str | None) -> Job:
        """Validate the whole file, store it as one job (nothing stored when any row is bad), start the runner."""
        self.live.get()  # no index: 503 before anything is stored
        kind = file_format(name, media_type, fmt)
        claims = parse_claims(data, kind, self.settings.max_batch_rows, self.settings.max_query_chars,
                              self.settings.max_batch_bytes)
        self.store.prune(self.settings.batch_keep_days)
        job = self.store.create(claims, name, kind)
        self.start()
        return job


def init_app(app: Flask, settings: Settings, live: LiveSearcher) -> BatchService:
    path = app.config.get("JOBS_DB") or sidecar_path(settings.index, JOBS)
    service = BatchService(path, settings, live, app.config.get("BATCH_POLL", 2.0))
    app.extensions[EXTENSION] = service
    return service


def batch_service_of(app: Flask) -> BatchService:
    return app.extensions[EXTENSION]


def batch_service() -> BatchService:
    return batch_service_of(current_app)


def uploaded() -> tuple[bytes, str | None, str | None]:
    """(bytes, file name, media type) of a multipart upload's `file` field or of a raw body; TooLarge (413)
    past settings.max_batch_bytes, before the body is read."""
    limit = batch_service().settings.max_batch_bytes
    if request.content_length is not None and request.content_length > limit + FORM_SLACK:
        raise TooLarge(f"the upload is {request.content_length:,} bytes; the limit is {limit:,}",
                       code="file_too_large")
    request.max_content_length = limit + FORM_SLACK  # a chunked body without a length is cut off here
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is not None:
            return upload.read(), upload.filename, upload.mimetype
        text = request.form.get("file")  # the field sent as a value, without a file name
        if text is None:
            raise SearchError("send the file in a form field named file", code="missing_file")
        return text.encode("utf-8", "surrogatepass"), request.args.get("name"), None
    if request.mimetype in ("", "application/x-www-form-urlencoded"):
        raise SearchError("POST the file as multipart/form-data (field file) or as the body with Content-Type "
                          "text/csv or application/x-ndjson", code="invalid_content_type")
    return security.read_body(), request.args.get("name"), request.mimetype


def job_body(job: Job) -> dict[str, Any]:
    return dump(BatchJob.of(job, url_for("api.batch_submit")))


UPLOAD: MediaTypes = {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "contentMediaType": "text/csv"}}}},
    "text/csv": {"schema": {"type": "string"}},
    "application/x-ndjson": {"schema": {"type": "string"}}}
FILE_PARAMETERS = (
    {"name": "format", "in": "query", "required": False, "schema": {"enum": ["csv", "jsonl"]},
     "description": "The file's format (default: from its name or Content-Type)."},
    {"name": "name", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "The file's name, for a raw body."})


@ROUTES.post("/verify/batch", "verifyBatch", "Check a file of quotes (CSV or JSON Lines) as a background job",
             upload=UPLOAD, parameters=FILE_PARAMETERS,
             responses={"202": Reply("The whole file was valid and is stored as a queued job; poll `progress`. A bad "
                                     "file is a 400 naming the row and line, nothing stored. Rate-limited per "
                                     "client (setting batch_rate_limit).", BatchJob)})
def batch_submit():
    data, name, media = uploaded()
    job = batch_service().submit(data, name, media, request.args.get("format"))
    body = job_body(job)
    return body, 202, {"Location": body["progress"]}


@ROUTES.get("/verify/batch/<job_id>", "verifyBatchProgress", "A batch job's progress",
            responses={"200": Reply("The job: quotes done of total, rate, result and page addresses.", BatchJob)})
def batch_progress(job_id: str):
    service = batch_service()
    job = service.store.get(job_id)
    if job.status != "done":
        service.start()  # resumes a job whose worker died (once its lease has expired)
    return job_body(job)


@ROUTES.get("/verify/batch/<job_id>/results", "verifyBatchResults", "A finished batch job's rows",
            parameters=({"name": "format", "in": "query", "required": False,
                         "schema": {"enum": ["json", "csv", "jsonl"], "default": "json"}},),
            responses={"200": Reply("One row per quote, in file order (json), or the rows as a CSV / JSON Lines "
                                    "download (format=csv|jsonl).", BatchResults, DOWNLOADS),
                       "409": Reply("The job is not finished yet (code job_not_finished).", Error)})
def batch_results(job_id: str):
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv", "jsonl"):
        raise SearchError(f"format must be one of json, csv, jsonl, got {fmt!r}", code="invalid_format")
    store = batch_service().store
    job = store.get(job_id)
    if job.status != "done":
        raise NotReady(f"batch job {job_id} is {job.status}: {job.done} of {job.total} quotes checked; "
                       f"poll {url_for('api.batch_progress', job_id=job_id)}", code="job_not_finished")
    rows = rows_of(store.results(job_id))
    if fmt == "json":
        return dump(BatchResults(job=BatchJob.of(job, url_for("api.batch_submit")), rows=rows))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", (job.name or "quotes").rsplit(".", 1)[0])[:80] or "quotes"
    return Response(render(rows, fmt), content_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{stem}-checked.{fmt}"'})
