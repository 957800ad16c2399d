"""The `statement-search` command line: thin click commands over the library functions."""
from __future__ import annotations

import errno
import json
import logging
import sqlite3
import sys
from pathlib import Path

import click
from werkzeug.datastructures import MultiDict

from index.readers import ocr
from index.vectors import INDEX_TYPES
from search.errors import SearchError, StatementSearchError
from search.evaluate import PASSAGE_CHOICES, SPLITS
from search.filters import SORT_ALIASES, SORTS
from search.fusion import METHODS
from search.settings import MODES, Settings, load_settings

from .cli_options import (
    HELP,
    backend_option,
    corpus_option,
    filter_options,
    filter_values,
    index_option,
    language_option,
    model_option,
    quiet_option,
    setting_option,
)
from .cli_options import fail as _fail
from .cli_watchlists import after_generation as percolate_after
from .cli_watchlists import watchlist
from .factchecks_cli import factchecks, relink_after_generation

WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM}


def _is_write_failure(exc: Exception) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in WRITE_ERRORS
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) or any(w in text for w in ("write", "disk", "space"))


def _write_failed(index: Path, exc: Exception) -> None:
    """A build that could not write: say why in one line (exit 3); the build removed its partial files."""
    reason = (exc.strerror if isinstance(exc, OSError) else None) or f"{type(exc).__name__}: {exc}"
    where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
    click.echo(f"error: cannot write the new index generation for {index}: {reason}{where}. The previous "
               "index generation, if any, is unchanged and still served.", err=True)
    sys.exit(3)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="statement-search", prog_name="statement-search")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
def main(verbose: bool) -> None:
    """Semantic search over public statements: what was said, by whom, when and where."""
    # The handler's level, not the root's: libraries that set their own loggers to DEBUG (bm25s) stay quiet.
    handler = logging.StreamHandler()
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s",
                        handlers=[handler])


@main.command("rebuild-index")
@corpus_option
@index_option
@model_option
@backend_option
@setting_option("--index-type", name="index_type", type=click.Choice(("auto",) + INDEX_TYPES))
@setting_option("--batch-size", name="batch_size", type=int)
@setting_option("--ray", name="ray_address", metavar="ADDRESS")
@quiet_option
@setting_option("--ocr-languages", name="ocr_languages")
@click.option("--watch", is_flag=True, help="After the build, keep watching the corpus folder and publish a new "
              "generation for each batch of changes (added, changed, deleted files); Ctrl-C stops.")
@setting_option("--debounce", name="watch_debounce_ms", type=int)
def rebuild_index(corpus, index, model, embedding_backend, index_type, batch_size, ray_address, quiet, ocr_languages,
                  watch, watch_debounce_ms) -> None:
    """Index a folder of statements into a new index generation, swapped in atomically."""
    from index.build import build_index

    try:
        settings = load_settings({"corpus": corpus, "index": index, "model": model, "batch_size": batch_size,
                                  "embedding_backend": embedding_backend, "index_type": index_type,
                                  "ray_address": ray_address, "watch_debounce_ms": watch_debounce_ms,
                                  "ocr_languages": ocr_languages})
    except StatementSearchError as exc:
        _fail(exc)
    ocr.configure(settings.ocr_languages)

    def build():
        embedder = settings.make_embedder(threads=0)
        if settings.ray_address:  # Ray only on request: its start-up costs more than a small corpus's embedding
            from index.distributed import ray_encoder

            embedder = ray_encoder(settings, settings.ray_address, local=embedder)
        return embedder, build_index(settings.corpus, settings.index, embedder, batch_size=settings.batch_size,
                                     progress=not quiet, index_type=settings.index_type,
                                     ann_threshold=settings.ann_threshold,
                                     compressed_threshold=settings.compressed_threshold)

    embedder, report = _guarded(settings, build)
    _warn_skipped(report.skipped)
    click.echo(f"indexed {report.documents} statements, {report.passages} passages "
               f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s "
               f"→ {report.index} (generation {report.generation})")
    after_generation(settings, report, embedder)
    if watch:
        from index.watch import watch_corpus

        def each_batch(update) -> None:
            _echo_update(update)
            if update.published:
                after_generation(settings, update, embedder)

        click.echo(f"watching {settings.corpus} (debounce {settings.watch_debounce_ms} ms); Ctrl-C stops", err=True)
        try:
            watch_corpus(settings.corpus, settings.index, embedder, settings.watch_debounce_ms,
                         on_batch=each_batch, batch_size=settings.batch_size)
        except KeyboardInterrupt:  # during an update: its temporary files are removed, the live one stays
            pass
        click.echo("stopped watching", err=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _warn_skipped(skipped) -> None:
    """A warning line per skipped file or message (stderr, also under --quiet), then their count."""
    for path, why in skipped:
        click.echo(f"warning: skipped {path}: {why}", err=True)
    if skipped:
        click.echo(f"warning: {len(skipped)} files or messages skipped (reasons above)", err=True)


def _echo_update(report) -> None:
    """One line per published update (add, remove, a --watch batch); warnings for skipped files."""
    _warn_skipped(report.skipped)
    if not report.published:
        click.echo(f"nothing to change; {report.index} stays at generation {report.generation}")
        return
    parts = [f"added {_plural(len(report.added), 'statement')}"] if report.added else []
    if report.replaced:
        parts.append(f"replaced {_plural(len(report.replaced), 'statement')}")
    if report.removed or not parts:
        parts.append(f"removed {_plural(len(report.removed), 'statement')}")
    click.echo(f"{', '.join(parts)}: +{report.passages_added} / -{report.passages_removed} passages "
               f"({report.embedded} embedded, {report.reused} reused); vector index {report.vector_index}; "
               f"BM25 {report.keyword_index}; "
               f"{report.documents} statements, {report.passages} passages in {report.seconds:.1f}s "
               f"→ {report.index} (generation {report.generation})")


def _guarded(settings, action):
    """`action()` (a build or an update) with the CLI's error handling: exit 2 for bad input, 3 for index
    trouble or a failed write (disk full, read-only filesystem, file-size limit, from Python, SQLite or
    FAISS's writer: the build removed its partial files and the live index is untouched)."""
    try:
        return action()
    except StatementSearchError as exc:
        _fail(exc)
    except (OSError, sqlite3.OperationalError, RuntimeError) as exc:
        if not _is_write_failure(exc):
            raise
        _write_failed(settings.index, exc)


def after_generation(settings, report, embedder=None) -> None:
    """What follows every published generation: saved searches checked against its new passages
    (web/cli_watchlists), kept fact-checks linked to it again (web/factchecks_cli)."""
    percolate_after(settings, report, embedder)
    if report.path is not None:
        relink_after_generation(settings, embedder)


def _run_update(settings, action, embedder=None) -> None:
    """Run an incremental update under `_guarded`, print its one line, then what follows a new generation
    (`after_generation`: saved searches, fact-check links)."""
    report = _guarded(settings, action)
    _echo_update(report)
    if report.published:
        after_generation(settings, report, embedder)


@main.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@click.option("--corpus", type=click.Path(path_type=Path),
              help="The corpus folder ids are relative to (default: the one the index was built from).")
@model_option
@backend_option
@quiet_option
def add_command(paths, index, corpus, model, embedding_backend, quiet) -> None:
    """Add statement files (or every file under folders) to the index as a new generation, without
    rescanning the corpus. A statement whose id is already indexed is replaced. Ids are what a full
    rebuild-index would give: the path under the corpus folder without extension; a file outside the
    corpus folder is named by its file name without extension. Unreadable files are skipped with a
    warning; if none can be read the index is unchanged (exit 2)."""
    from index.update import add_statements

    settings = _update_settings(index, model, embedding_backend)
    ocr.configure(settings.ocr_languages)
    embedder = _guarded(settings, lambda: settings.make_embedder(threads=0))
    _run_update(settings, lambda: add_statements(paths, settings.index, embedder, corpus=corpus,
                                                 batch_size=settings.batch_size, progress=not quiet), embedder)


@main.command("remove")
@click.argument("doc_ids", nargs=-1, required=True)
@index_option
@model_option
@backend_option
def remove_command(doc_ids, index, model, embedding_backend) -> None:
    """Remove statements by id (as shown by query and the document view) as a new generation. An unknown
    id changes nothing (exit 2). Their passages stay in the vector index as tombstones, never returned,
    until the next full rebuild-index."""
    from index.update import remove_statements

    settings = _update_settings(index, model, embedding_backend)
    embedder = _guarded(settings, lambda: settings.make_embedder(threads=0))
    _run_update(settings, lambda: remove_statements(doc_ids, settings.index, embedder), embedder)


def _update_settings(index, model, embedding_backend) -> Settings:
    try:
        return load_settings({"index": index, "model": model, "embedding_backend": embedding_backend})
    except StatementSearchError as exc:
        _fail(exc)


@main.command("query")
@click.argument("text")
@index_option
@model_option
@click.option("-k", "--k", "k", default=None, help="Number of results (1–100).")
@click.option("--offset", default=0, help="Skip this many results (for paging).")
@setting_option("--mode", name="mode", type=click.Choice(MODES), default=None)
@filter_options
@language_option
@click.option("--exact", is_flag=True, help="Match words only as written: no Cyrillic/Latin transliteration.")
@click.option("--sort", default="relevance", type=click.Choice(SORTS + tuple(SORT_ALIASES)),
              help="Order: relevance, or newest/oldest first among the relevant results (date = newest).")
@click.option("--checked", type=click.Choice(("yes", "no", "any")), default=None,
              help="yes: only passages with a published fact-check (factchecks add); no: only those without.")
@click.option("--context", is_flag=True, help="Also show the neighbouring paragraphs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text (= --format json).")
@click.option("--format", "fmt", default=None, help="text (default), json, csv or jsonl (one row per hit).")
def query(text, index, model, k, offset, mode, speaker, after, before, source, language, exact, sort, checked,
          context, as_json, fmt) -> None:
    """Answer a question from the index: ranked paragraphs with the best sentence highlighted.

    "Quoted phrases" must appear in every result and -word or -"phrase" in none."""
    from search import export
    from search.searcher import Searcher

    from . import service
    from .schemas import SearchResults, dump, parse_request, query_string_values

    try:
        fmt = _format(fmt, "json" if as_json else "text", ("text", "json", *export.FORMATS))
        settings = load_settings({"index": index, "model": model, "mode": mode})
        # The options read as the API reads a query string, parsed by the same schema, answered by the
        # same service function; bad input fails before the index loads.
        pairs = [("q", text), ("offset", str(offset)), ("sort", sort), *filter_values(speaker, after, before, source)]
        pairs += [(name, value) for name, value in (("k", k), ("mode", mode), ("checked", checked))
                  if value is not None]
        pairs += [("language", v) for v in language] + ([("exact", "true")] if exact else [])
        req = parse_request(query_string_values(MultiDict(pairs)))
        service.check_search_limits(settings, req)
        response = service.search(Searcher.load(settings), req, neighbours=context)
    except StatementSearchError as exc:
        _fail(exc)
    if fmt == "json":
        click.echo(json.dumps(dump(SearchResults.of(response, neighbours=context)), ensure_ascii=False, indent=2))
        return
    if fmt in export.FORMATS:
        click.echo(export.render(export.rows_of(response.hits, response.offset), fmt), nl=False)
        return
    if response.undated_excluded:
        click.echo(f"note: {response.undated_excluded} undated statements left out by the date filter", err=True)
    if not response.hits:
        click.echo("no results")
    for rank, hit in enumerate(response.hits, response.offset + 1):
        doc = hit.document
        who = " · ".join(x for x in (doc.speaker, doc.date, doc.title or doc.id) if x)
        scan = "" if hit.ocr_confidence is None else f" [OCR, confidence {hit.ocr_confidence:.0f}%]"
        scan += "".join(f" · {m}" for m in (hit.language if hit.language != "und" else "",
                                            "keywords only" if hit.keyword_only else "") if m)
        click.echo(click.style(f"{rank}. [{hit.score:.3f}] {who} — paragraph {hit.paragraph} of {hit.of}{scan}",
                               bold=True))
        if doc.source:
            click.echo(f"   source: {doc.source}")
        a, b = hit.highlight.start, hit.highlight.end
        click.echo("   " + hit.text[:a] + click.style(hit.text[a:b], fg="yellow", bold=True) + hit.text[b:])
        for fc in hit.fact_checks:
            click.echo(click.style(f"   {fc.label} <{fc.url}>", fg="magenta"))
        for n in hit.neighbours:
            click.echo(click.style(f"   · paragraph {n.paragraph}: ", dim=True) + n.text[:200])
        click.echo()
    click.echo(f"{len(response.hits)} results in {response.took_ms:.0f} ms", err=True)


def _format(fmt: str | None, default: str, allowed: tuple[str, ...]) -> str:
    if fmt is None:
        return default
    if fmt not in allowed:
        raise SearchError(f"format must be one of {', '.join(allowed)}, got {fmt!r}", code="invalid_format")
    return fmt


@main.command("verify")
@click.argument("quote", required=False)
@index_option
@model_option
@filter_options
@language_option
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON object instead of text (= --format json).")
@click.option("--format", "fmt", default=None,
              help="One quote: text (default), json or claimreview (schema.org ClaimReview JSON-LD). "
                   "--batch: csv or jsonl (default: from --out's extension, else csv).")
@click.option("--batch", "batch", type=click.Path(path_type=Path, dir_okay=False),
              help="Check every quote of a CSV or JSON Lines file (a quote column; optional id, speaker, "
                   "after, before, source columns) as a job stored beside the index.")
@click.option("--resume", "resume", metavar="JOB", help="Finish an interrupted --batch job (its id).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="--batch: write the results here instead of to standard output.")
@click.option("--quiet", is_flag=True, help="--batch: no progress bar.")
def verify_command(quote, index, model, speaker, after, before, source, language, as_json, fmt, batch, resume,
                   out, quiet) -> None:
    """Check a quote: verbatim, altered (with the word diff), paraphrase or not found, and who said it first.

    "..." or "…" in QUOTE stands for omitted words. With --batch FILE, check every quote of the file:
    one row of results per quote (verdict, best match, citation, first said) as CSV or JSON Lines."""
    if batch is not None or resume is not None:
        if quote is not None:
            _fail(SearchError("give either QUOTE or --batch/--resume, not both", code="invalid_request"))
        from .batch_cli import run_batch

        run_batch(batch, resume, index, model, fmt, out, quiet)
        return
    if quote is None:
        _fail(SearchError("give a QUOTE to check, or --batch FILE", code="invalid_quote"))
    from search.searcher import Searcher

    from . import service
    from .schemas import VERIFY_FIELDS, VerifyResponse, dump, parse_verify, query_string_values

    try:
        fmt = _format(fmt, "json" if as_json else "text", ("text", "json", "claimreview"))
        settings = load_settings({"index": index, "model": model})
        values = MultiDict([("quote", quote), *filter_values(speaker, after, before, source),
                            *(("language", v) for v in language)])
        req = parse_verify(query_string_values(values, fields=VERIFY_FIELDS, keep_blank="quote"))
        service.check_quote_limits(settings, req)  # bad input fails before the index loads
        searcher = Searcher.load(settings)
        result = service.check_quote(searcher, req)
    except StatementSearchError as exc:
        _fail(exc)
    if fmt == "json":
        body = VerifyResponse.of(result, searcher.generation, searcher.passages)
        click.echo(json.dumps(dump(body), ensure_ascii=False, indent=2))
        return
    if fmt == "claimreview":
        from search.claimreview import claim_review

        click.echo(json.dumps(claim_review(result, searcher.generation), ensure_ascii=False, indent=2))
        return
    click.echo(click.style(f"verdict: {result.verdict}", bold=True))
    if not result.paraphrase_checked:
        click.echo("note: compared word for word only; the sentence model reads English, so a paraphrase in "
                   "this language is not recognised", err=True)
    for i, m in enumerate(result.matches):
        doc = m.document
        who = " · ".join(x for x in (doc.speaker, doc.date, doc.title or doc.id) if x)
        label = "best match" if i == 0 else "also"
        click.echo(f"{label}: {who} — paragraph {m.paragraph} of {m.of} ({m.verdict}, {m.similarity:.2f})")
        a, b = m.span.start, m.span.end
        click.echo("   " + m.text[:a] + click.style(m.text[a:b], fg="yellow", bold=True) + m.text[b:])
        for fc in m.fact_checks:
            click.echo(click.style(f"   {fc.label} <{fc.url}> (“{fc.claim}”)", fg="magenta"))
        changes = [d for d in m.diff if d.op != "equal"]
        for d in changes:
            if d.elided:
                click.echo(f"   … stands for: {d.source}")
            elif d.op == "replace":
                click.echo(f"   said “{d.source}”, quoted “{d.quote}”")
            elif d.op == "insert":
                click.echo(f"   added in the quote: “{d.quote}”")
            elif d.op == "delete":
                click.echo(f"   left out of the quote: “{d.source}”")
    if result.first_said:
        doc = result.first_said.document
        click.echo(f"first said: {doc.speaker or 'unknown speaker'}, {doc.date}, {doc.title or doc.id}")
    click.echo(f"checked in {result.took_ms:.0f} ms", err=True)


@main.command("eval")
@click.option("--dataset", required=True, type=click.Path(path_type=Path),
              help="BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
@click.option("--split", type=click.Choice(SPLITS), default="test", help="Which qrels to score.")
@setting_option("--mode", name="mode", type=click.Choice(MODES), default=None)
@setting_option("--fusion", name="fusion", type=click.Choice(METHODS), default=None)
@setting_option("--hybrid-weight", name="hybrid_weight", type=float, default=None)
@setting_option("--gate-low", name="gate_low", type=float, default=None)
@setting_option("--gate-high", name="gate_high", type=float, default=None)
@click.option("--passages", type=click.Choice(PASSAGE_CHOICES), default="all", show_default=True,
              help="all: a document scores as its best passage (the production path); first: as its first "
                   "passage only, what a model truncating long texts sees (the published setups).")
@model_option
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Where evaluation indexes are cached, keyed by corpus and model [default: state/eval].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def evaluate_command(dataset, split, mode, fusion, hybrid_weight, gate_low, gate_high, passages, model, cache,
                     as_json) -> None:
    """Score retrieval on a BEIR dataset: nDCG@10, Recall@10/100, MRR@10 and query latency."""
    from search.evaluate import CACHE_ROOT, evaluate

    try:
        settings = load_settings({"model": model, "mode": mode, "fusion": fusion, "hybrid_weight": hybrid_weight,
                                  "gate_low": gate_low, "gate_high": gate_high})
        with click.progressbar(length=0, label=f"{split} queries", file=sys.stderr) as bar:
            last = [0]

            def advance(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - last[0])
                last[0] = done

            result = evaluate(dataset, settings, split=split, mode=mode, cache=cache or CACHE_ROOT,
                              progress=advance, passages=passages)
    except StatementSearchError as exc:
        _fail(exc)
    if as_json:
        keys = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms_p50", "latency_ms_p95", "queries")
        click.echo(json.dumps({k: result[k] for k in keys} | {"mode": result["mode"], "split": split,
                                                               "passages": passages}))
        return
    click.echo(f"{Path(dataset).name} {split}, mode {result['mode']}, {result['queries']} queries"
               + (", first passage of each document only" if passages == "first" else ""))
    for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
        click.echo(f"  {key:<11} {result[key]:.4f}")
    click.echo(f"  latency     p50 {result['latency_ms_p50']:.1f} ms, p95 {result['latency_ms_p95']:.1f} ms")


@main.command("serve")
@index_option
@setting_option("--host", name="host")
@setting_option("--port", name="port", type=int, extra="0 picks a free port.")
@setting_option("--workers", name="workers", type=click.IntRange(1, 64))
@setting_option("--threads", name="threads", type=click.IntRange(0, 256))
@model_option
def serve_command(index, host, port, workers, threads, model) -> None:
    """Serve the search page and JSON API with gunicorn (index loaded before fork, hot reload)."""
    from web.serve import serve

    try:
        settings = load_settings({"index": index, "host": host, "port": port, "workers": workers,
                                  "threads": threads, "model": model})
        serve(settings, echo=click.echo)
    except StatementSearchError as exc:
        _fail(exc)


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the defaults as the README's markdown table.")
def settings_command(markdown: bool) -> None:
    """Show every setting: its current value, environment variable and help."""
    try:
        current = load_settings()
    except StatementSearchError as exc:
        _fail(exc)
    if markdown:
        click.echo(settings_table())
        return
    for name, help in HELP.items():
        value = "(set)" if name == "api_key" and current.api_key else getattr(current, name)  # never print a key
        click.echo(f"{name} = {value}  [{Settings.env_name(name)}]")
        click.echo(f"    {help}")


def settings_table() -> str:
    """The defaults as a markdown table (paths are relative to the working directory)."""
    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, default in Settings.defaults().items():
        shown = default.as_posix() if isinstance(default, Path) else default
        rows.append(f"| `{name}` | `{Settings.env_name(name)}` | `{shown}` | {HELP[name]} |")
    return "\n".join(rows)


main.add_command(watchlist)
main.add_command(factchecks)

if __name__ == "__main__":
    main()
