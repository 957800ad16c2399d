"""The `statement-search` command line: thin click commands over the library functions."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from search.errors import SearchError
from search.settings import Settings, load_settings

HELP = Settings.help()


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    return load_settings(overrides)


def _fail(exc: SearchError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(exc.exit_code)


def _version() -> str:
    from index.build import package_version

    return package_version()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="statement-search", prog_name="statement-search")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
def main(verbose: bool) -> None:
    """Semantic search over public statements: what was said, by whom, when and where."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s")


@main.command("rebuild-index")
@click.option("--corpus", type=click.Path(path_type=Path), help=HELP["corpus"] + " [env STATEMENT_SEARCH_CORPUS]")
@click.option("--index", type=click.Path(path_type=Path), help=HELP["index"] + " [env STATEMENT_SEARCH_INDEX]")
@click.option("--model", help=HELP["model"] + " [env STATEMENT_SEARCH_MODEL]")
@click.option("--batch-size", type=int, help=HELP["batch_size"])
@click.option("--quiet", is_flag=True, help="No progress bar.")
def rebuild_index(corpus, index, model, batch_size, quiet) -> None:
    """Index a folder of statements into a new index generation, swapped in atomically."""
    from index.build import build_index
    from index.embedder import make_embedder

    try:
        settings = load_settings({"corpus": corpus, "index": index, "model": model, "batch_size": batch_size})
        if not settings.corpus.is_dir():
            raise SearchError(f"corpus folder {settings.corpus} does not exist", code="bad_corpus")
        encoder = make_embedder(settings, threads=0)
        report = build_index(settings.corpus, settings.index, encoder, batch_size=settings.batch_size,
                             progress=not quiet, index_type=settings.index_type,
                             ann_threshold=settings.ann_threshold)
    except SearchError as exc:
        _fail(exc)
    for path, why in report.skipped:
        click.echo(f"warning: skipped {path}: {why}", err=True)
    if report.skipped:
        click.echo(f"warning: {len(report.skipped)} files or messages skipped (reasons above)", err=True)
    click.echo(f"indexed {report.documents} statements, {report.passages} passages "
               f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f}s "
               f"→ {report.index} (generation {report.generation})")


@main.command("query")
@click.argument("text")
@click.option("--index", type=click.Path(path_type=Path), help=HELP["index"] + " [env STATEMENT_SEARCH_INDEX]")
@click.option("--model", help=HELP["model"])
@click.option("-k", "--k", "k", default=None, help="Number of results (1–100).")
@click.option("--offset", default=0, help="Skip this many results (for paging).")
@click.option("--mode", type=click.Choice(["hybrid", "vector", "keyword"]), default=None,
              help=HELP["mode"] + " [env STATEMENT_SEARCH_MODE]")
@click.option("--speaker", multiple=True, help="Only statements by this speaker (repeatable; any of).")
@click.option("--after", help="Only statements dated on or after this day (YYYY-MM-DD, YYYY-MM or YYYY).")
@click.option("--before", help="Only statements dated on or before this day (YYYY-MM-DD, YYYY-MM or YYYY).")
@click.option("--source", multiple=True, help="Only statements whose source contains this text (repeatable).")
@click.option("--sort", default="relevance", type=click.Choice(["relevance", "newest", "oldest", "date"]),
              help="Order: relevance, or newest/oldest first among the relevant results (date = newest).")
@click.option("--context", is_flag=True, help="Also show the neighbouring paragraphs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def query(text, index, model, k, offset, mode, speaker, after, before, source, sort, context, as_json) -> None:
    """Answer a question from the index: ranked paragraphs with the best sentence highlighted."""
    from search.searcher import Searcher

    try:
        settings = load_settings({"index": index, "model": model, "mode": mode})
        from search.searcher import validate

        from search.filters import make_filters

        # Validate before loading the model, so bad input fails fast.
        validate(settings, text, settings.default_k if k is None else k, offset)
        filters = make_filters(speaker=list(speaker), after=after, before=before, source=list(source))
        response = Searcher.load(settings).search(text, k=k, offset=offset, neighbours=context,
                                                  filters=filters, sort=sort)
    except SearchError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(response.to_dict(neighbours=context), ensure_ascii=False, indent=2))
        return
    if response.undated_excluded:
        click.echo(f"note: {response.undated_excluded} undated statements left out by the date filter", err=True)
    if not response.hits:
        click.echo("no results")
    for rank, hit in enumerate(response.hits, response.offset + 1):
        doc = hit.document
        who = " · ".join(x for x in (doc.speaker, doc.date, doc.title or doc.id) if x)
        click.echo(click.style(f"{rank}. [{hit.score:.3f}] {who} — paragraph {hit.paragraph} of {hit.of}", bold=True))
        if doc.source:
            click.echo(f"   source: {doc.source}")
        a, b = hit.highlight.start, hit.highlight.end
        click.echo("   " + hit.text[:a] + click.style(hit.text[a:b], fg="yellow", bold=True) + hit.text[b:])
        for n in hit.neighbours:
            click.echo(click.style(f"   · paragraph {n.paragraph}: ", dim=True) + n.text[:200])
        click.echo()
    click.echo(f"{len(response.hits)} results in {response.took_ms:.0f} ms", err=True)


@main.command("eval")
@click.option("--dataset", required=True, type=click.Path(path_type=Path),
              help="BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
@click.option("--split", type=click.Choice(["test", "train", "dev"]), default="test", help="Which qrels to score.")
@click.option("--mode", type=click.Choice(["hybrid", "vector", "keyword"]), default=None, help=HELP["mode"])
@click.option("--fusion", type=click.Choice(["adaptive", "weighted", "minmax", "rrf"]), default=None,
              help=HELP["fusion"])
@click.option("--hybrid-weight", type=float, default=None, help=HELP["hybrid_weight"])
@click.option("--gate-low", type=float, default=None, help=HELP["gate_low"])
@click.option("--gate-high", type=float, default=None, help=HELP["gate_high"])
@click.option("--passages", type=click.Choice(["all", "first"]), default="all", show_default=True,
              help="all: a document scores as its best passage (the production path); first: as its first "
                   "passage only, what a model truncating long texts sees (the published setups).")
@click.option("--model", help=HELP["model"])
@click.option("--cache", type=click.Path(path_type=Path), default=None,
              help="Where evaluation indexes are cached, keyed by corpus and model [default: state/eval].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def evaluate_command(dataset, split, mode, fusion, hybrid_weight, gate_low, gate_high, passages, model, cache,
                     as_json) -> None:
    """Score retrieval on a BEIR dataset: nDCG@10, Recall@10/100, MRR@10 and query latency."""
    from search.evaluate import CACHE_ROOT, evaluate, load_dataset

    try:
        settings = load_settings({"model": model, "mode": mode, "fusion": fusion, "hybrid_weight": hybrid_weight,
                                  "gate_low": gate_low, "gate_high": gate_high})
        total = len(load_dataset(dataset, split).queries)  # fail on a bad folder before loading the model
        with click.progressbar(length=total, label=f"{split} queries", file=sys.stderr) as bar:
            last = [0]

            def advance(done: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            result = evaluate(dataset, settings, split=split, mode=mode, cache=cache or CACHE_ROOT,
                              progress=advance, passages=passages)
    except SearchError as exc:
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
@click.option("--index", type=click.Path(path_type=Path), help=HELP["index"] + " [env STATEMENT_SEARCH_INDEX]")
@click.option("--host", help=HELP["host"] + " [env STATEMENT_SEARCH_HOST]")
@click.option("--port", type=int, help=HELP["port"] + " 0 picks a free port. [env STATEMENT_SEARCH_PORT]")
@click.option("--workers", type=click.IntRange(1, 64), help=HELP["workers"] + " [env STATEMENT_SEARCH_WORKERS]")
@click.option("--threads", type=click.IntRange(0, 256), help=HELP["threads"] + " [env STATEMENT_SEARCH_THREADS]")
@click.option("--model", help=HELP["model"])
def serve_command(index, host, port, workers, threads, model) -> None:
    """Serve the search page and JSON API with gunicorn (index loaded before fork, hot reload)."""
    from web.serve import serve

    try:
        settings = load_settings({"index": index, "host": host, "port": port, "workers": workers,
                                  "threads": threads, "model": model})
        serve(settings, echo=click.echo)
    except SearchError as exc:
        _fail(exc)


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the defaults as the README's markdown table.")
def settings_command(markdown: bool) -> None:
    """Show every setting: its current value, environment variable and help."""
    from dataclasses import fields

    try:
        current = load_settings()
    except SearchError as exc:
        _fail(exc)
    if markdown:
        click.echo(settings_table())
        return
    for f in fields(Settings):
        click.echo(f"{f.name} = {getattr(current, f.name)}  [{Settings.env_name(f.name)}]")
        click.echo(f"    {f.metadata['help']}")


def settings_table() -> str:
    """The defaults as a markdown table (paths shown relative to the project)."""
    from dataclasses import fields

    from search.settings import PROJECT_ROOT

    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path) and default.is_relative_to(PROJECT_ROOT):
            default = default.relative_to(PROJECT_ROOT).as_posix()
        rows.append(f"| `{f.name}` | `{Settings.env_name(f.name)}` | `{default}` | {f.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
