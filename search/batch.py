"""Check a whole file of quotes: one row of results per quote (verdict, best match, citation, first said).

`run_job` works through a stored job's unfinished rows (search/jobs.py) with the same `verify` as a
single check; `BatchRunner` is the background thread that claims jobs and runs them (a web worker, with
a lease so that two workers never run one job). The CLI runs a job in the foreground with a bar.

Speed: the quotes of a chunk are embedded in one encoder call before their checks (a batch encode is
several times cheaper per text than one at a time), into the searcher's question cache, where each
check's vector search and paraphrase check find them.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from .citation import Citation
from .claims import Claim
from .errors import StatementSearchError
from .export import neutralise
from .jobs import Job, JobStore
from .verify import search_text, verify

log = logging.getLogger(__name__)
FORMATS = ("csv", "jsonl")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
CHUNK = 32  # quotes embedded together


class BatchRow(BaseModel):
    """One checked quote: what was asked, the verdict, the best match with its citation, who said it first,
    and a published fact-check of it when one is known. Flat, so CSV and JSON Lines have the same columns."""

    row: int = Field(ge=1, description="The row's number in the uploaded file (1-based, header not counted).")
    id: str | None = Field(None, description="The row's id column, as given.")
    quote: str
    speaker: str | None = Field(None, description="The row's speaker filter (several separated by ;).")
    after: str | None = None
    before: str | None = None
    source: str | None = None
    verdict: str = Field(description="verbatim, altered, paraphrase, not_found, or error (see error).")
    similarity: float | None = Field(None, description="Best match: word similarity or sentence cosine.")
    matches: int = Field(0, ge=0, description="How many passages carry the quote (or its meaning).")
    passage: int | None = Field(None, description="Best match: passage id in the index generation.")
    document: str | None = Field(None, description="Best match: statement id.")
    said_by: str | None = Field(None, description="Best match: the statement's speaker.")
    said_on: str | None = Field(None, description="Best match: the statement's date.")
    title: str | None = None
    paragraph: int | None = None
    matched_text: str | None = Field(None, description="Best match: the words that match the quote.")
    citation: str | None = Field(None, description="Best match as a citation (text).")
    permalink: str | None = None
    url: str | None = None
    first_said_document: str | None = Field(None, description="The earliest dated statement with the words.")
    first_said_by: str | None = None
    first_said_on: str | None = None
    first_said_title: str | None = None
    checked_by: str | None = Field(None, description="A published fact-check (ClaimReview) of a matching "
                                                     "passage: who published it...")
    checked_on: str | None = Field(None, description="...when...")
    rating: str | None = Field(None, description="...its rating...")
    check_url: str | None = Field(None, description="...and where.")
    generation: str | None = Field(None, description="The index generation the row was checked against.")
    error: str | None = Field(None, description="Why the row could not be checked (verdict error).")


COLUMNS = tuple(BatchRow.model_fields)
def check_claim(searcher: Any, claim: Claim) -> BatchRow:
    """One claim checked against the searcher (a bad row becomes verdict "error" with the reason)."""
    f = claim.filters
    asked: dict[str, Any] = {"row": claim.row, "id": claim.id, "quote": claim.quote,
                             "speaker": "; ".join(f.speakers) or None, "after": f.after, "before": f.before,
                             "source": "; ".join(f.sources) or None, "generation": searcher.generation}
    try:
        result = verify(searcher, claim.quote, f)
    except StatementSearchError as exc:
        if exc.code in ("index_unavailable", "time_budget"):
            raise  # not the row's fault: the job stops and resumes later
        return BatchRow(**asked, verdict="error", error=exc.message)
    except Exception as exc:  # one odd row must not stop (or endlessly retry) the whole job
        log.exception("batch row %d could not be checked", claim.row)
        return BatchRow(**asked, verdict="error", error=f"internal error ({type(exc).__name__})")
    out: dict[str, Any] = {"verdict": result.verdict, "matches": len(result.matches)}
    if result.matches:
        best = result.matches[0]
        d = best.document
        c = Citation.of_passage(best.id, best.text, d, best.paragraph, best.of, searcher.generation)
        out.update(similarity=round(float(best.similarity), 4), passage=best.id, document=d.id, said_by=d.speaker,
                   said_on=d.date, title=d.title, paragraph=best.paragraph,
                   matched_text=best.text[best.span.start:best.span.end], citation=c.text(), permalink=c.permalink,
                   url=c.url)
    if result.first_said is not None:
        d = result.first_said.document
        out.update(first_said_document=d.id, first_said_by=d.speaker, first_said_on=d.date, first_said_title=d.title)
    checks = [fc for m in result.matches for fc in m.fact_checks]  # linked by search/factchecks.py
    if checks:
        fc = checks[0]
        out.update(checked_by=fc.author, checked_on=fc.date, rating=fc.rating, check_url=fc.url)
    return BatchRow(**asked, **out)


def warm(searcher: Any, claims: Sequence[Claim]) -> None:
    """Embed the claims' quotes in one encoder call into the searcher's question cache."""
    texts = [t for t in dict.fromkeys(search_text(c.quote) for c in claims) if searcher.cache.get(t) is None]
    if texts:
        for text, vector in zip(texts, searcher.embedder.encode(texts)):
            searcher.cache.put(text, vector)


def run_job(store: JobStore, job_id: str, owner: str, searcher_of: Callable[[], Any], lease: float,
            progress: Callable[[Job], None] | None = None, stop: threading.Event | None = None) -> Job:
    """Check the job's unfinished rows while `owner` holds its lease; mark it done at the end.

    Returns the job as stored after the run: done, or still running when `stop` was set or the lease was
    lost (another runner took over: this one stops without writing)."""
    pending = store.pending(job_id)
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start:start + CHUNK]
        searcher = searcher_of()  # per chunk: a new index generation is picked up between chunks
        warm(searcher, chunk)
        for claim in chunk:
            if stop is not None and stop.is_set():
                return store.get(job_id)
            row = check_claim(searcher, claim)
            if not store.record(job_id, owner, claim.row, row.model_dump_json(), lease):
                log.warning("batch job %s: lease lost to another runner; stopping here", job_id)
                return store.get(job_id)
            if progress is not None:
                progress(store.get(job_id))
        if not store.renew(job_id, owner, lease):
            return store.get(job_id)
    store.finish(job_id, owner)
    return store.get(job_id)


def rows_of(results: Iterable[str]) -> list[BatchRow]:
    return [BatchRow.model_validate_json(r) for r in results]


def render(rows: Iterable[BatchRow], fmt: str) -> str:
    """Rows as CSV (formula cells neutralised, as search.export does) or JSON Lines."""
    if fmt == "jsonl":
        return "".join(r.model_dump_json() + "\n" for r in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else neutralise(v) for k, v in r.model_dump().items()})
    return out.getvalue()


def owner_name() -> str:
    """This process's name as a lease owner: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class BatchRunner:
    """A daemon thread that claims open jobs one at a time and runs them, renewing its lease as it goes.

    The thread lives only while there is work: `start()` (after a job is stored, at a worker's start, when
    a job's progress is asked for) starts it if it is not running, and it ends once no open job is left.
    A job whose lease another live runner holds is waited for (`poll` seconds between looks)."""

    def __init__(self, store: JobStore, searcher_of: Callable[[], Any], lease: float = 60.0, poll: float = 2.0):
        self.store, self.searcher_of, self.lease, self.poll = store, searcher_of, lease, poll
        self.owner = owner_name()
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> BatchRunner:
        """Start the thread if it is not running and some job is open."""
        with self._lock:
            if not self.running and not self._stop.is_set() and self.store.open_jobs():
                self._thread = threading.Thread(target=self._loop, name="batch-runner", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def run_once(self) -> Job | None:
        """Claim one open job and run it; the job after the run, or None when there was nothing to claim."""
        job_id = self.store.claim(self.owner, self.lease)
        if job_id is None:
            return None
        try:
            job = run_job(self.store, job_id, self.owner, self.searcher_of, self.lease, stop=self._stop)
        except StatementSearchError as exc:  # no index now: give the job back, try again later
            log.warning("batch job %s paused: %s", job_id, exc.message)
            self.store.release(job_id, self.owner)
            self._stop.wait(self.poll)
            return None
        if job.status != "done":
            self.store.release(job_id, self.owner)
        return job

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.run_once()
            except Exception:  # a runner must outlive any one job's surprise; the job is retried later
                log.exception("batch runner: unexpected error")
                job = None
            if job is None:
                with self._lock:  # checked under the lock that start() takes: a job stored now is not missed
                    if not self.store.open_jobs():
                        self._thread = None
                        return
                self._stop.wait(self.poll)
