"""The batch check's pages: upload a file of quotes, then watch the job's progress and download its rows.

The upload posts a form here (no script needed); the job page refreshes itself every few seconds while the
job runs (a meta refresh: the Content-Security-Policy allows no inline script) and shows the rows when done.
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from search.batch import rows_of
from search.errors import StatementSearchError

from .batch import batch_service, uploaded
from .errors import http_status, public_message
from .extension import live_searcher

bp = Blueprint("batch_pages", __name__)
REFRESH_S = 2


@bp.get("/verify/batch")
def form():
    return render_template("batch.html", error=None, settings=live_searcher().settings)


@bp.post("/verify/batch")
def submit():
    try:
        data, name, media = uploaded()
        job = batch_service().submit(data, name, media, None)
    except StatementSearchError as exc:
        return render_template("batch.html", error=public_message(exc), settings=live_searcher().settings), \
            http_status(exc)
    return redirect(url_for("batch_pages.job", job_id=job.id), 303)


@bp.get("/verify/batch/<job_id>")
def job(job_id: str):
    service = batch_service()
    current = service.store.get(job_id)  # NotFound: the site's 404 page
    if current.status != "done":
        service.start()
    rows = rows_of(service.store.results(job_id)) if current.status == "done" else []
    return render_template("batch_job.html", job=current, rows=rows, refresh=REFRESH_S,
                           downloads=[(label, url_for("api.batch_results", job_id=job_id, format=fmt))
                                      for label, fmt in (("CSV", "csv"), ("JSON Lines", "jsonl"))])
