"""`statement-search verify --batch FILE`: a stored batch job run in the foreground with a progress bar."""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
from tqdm import tqdm

from search.batch import FORMATS, owner_name, render, rows_of, run_job
from search.claims import file_format, parse_claims
from search.errors import SearchError, StatementSearchError
from search.jobs import JobStore
from search.settings import load_settings
from search.sidecar import JOBS, sidecar_path

from .cli_options import fail as _fail


def output_format(fmt: str | None, out: Path | None) -> str:
    if fmt is None:
        return "jsonl" if out is not None and out.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    if fmt not in FORMATS:
        raise SearchError(f"--format for --batch must be one of {', '.join(FORMATS)}, got {fmt!r}",
                          code="invalid_format")
    return fmt


def run_batch(batch: Path | None, resume: str | None, index, model, fmt: str | None, out: Path | None,
              quiet: bool) -> None:
    """Validate the whole file (nothing stored when a row is bad), store it as a job, run it, write the rows."""
    from search.searcher import Searcher

    try:
        settings = load_settings({"index": index, "model": model})
        out_format = output_format(fmt, out)
        store = JobStore(sidecar_path(settings.index, JOBS))
        if resume is None:
            assert batch is not None  # verify_command passes one of them
            try:
                data = batch.read_bytes()
            except OSError as exc:
                raise SearchError(f"cannot read {batch}: {exc.strerror or exc}", code="unreadable_file") from None
            kind = file_format(batch.name)
            claims = parse_claims(data, kind, settings.max_batch_rows, settings.max_query_chars,
                                  settings.max_batch_bytes)
        else:
            job = store.get(resume)
        searcher = Searcher.load(settings)  # the index must load before a job is stored
        if batch is not None:
            store.prune(settings.batch_keep_days)
            job = store.create(claims, batch.name, kind)
        owner = owner_name()
        if job.status != "done" and store.claim(owner, settings.batch_lease, job.id) is None:
            raise SearchError(f"batch job {job.id} is being run by another process ({job.owner})",
                              code="job_busy")
    except StatementSearchError as exc:
        _fail(exc)
    if job.status != "done":
        click.echo(f"batch job {job.id}: {job.total} quotes ({job.done} done before)", err=True)
        bar = tqdm(total=job.total, initial=job.done, unit="quote", desc="checking", file=sys.stderr,
                   disable=quiet)
        try:
            job = run_job(store, job.id, owner, lambda: searcher, settings.batch_lease,
                          progress=lambda j: bar.update(j.done - bar.n))
        except KeyboardInterrupt:
            store.release(job.id, owner)
            bar.close()
            done = store.get(job.id).done
            click.echo(f"interrupted after {done} of {job.total} quotes; the rows done are kept: "
                       f"statement-search verify --resume {job.id}", err=True)
            sys.exit(130)
        except StatementSearchError as exc:
            store.release(job.id, owner)
            _fail(exc)
        bar.close()
    rows = rows_of(store.results(job.id))
    body = render(rows, out_format)
    if out is None:
        click.echo(body, nl=False)
    else:
        out.write_text(body, encoding="utf-8", newline="")
    verdicts = Counter(r.verdict for r in rows)
    rate = f", {job.rate:.1f} quotes/s" if job.rate else ""
    click.echo(f"batch job {job.id}: {len(rows)} quotes — "
               + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) + rate
               + (f" → {out}" if out else ""), err=True)
