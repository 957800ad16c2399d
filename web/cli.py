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
    from index.embedder import Embedder

    try:
        settings = load_settings({"corpus": corpus, "index": index, "model": model, "batch_size": batch_size})
        if not settings.corpus.is_dir():
            raise SearchError(f"corpus folder {settings.corpus} does not exist", code="bad_corpus")
        encoder = Embedder(settings.model, threads=0)
        report = build_index(settings.corpus, settings.index, encoder, batch_size=settings.batch_size,
                             progress=not quiet)
    except SearchError as exc:
        _fail(exc)
    for path, why in report.skipped:
        click.echo(f"warning: skipped {path}: {why}", err=True)
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
@click.option("--context", is_flag=True, help="Also show the neighbouring paragraphs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def query(text, index, model, k, offset, mode, context, as_json) -> None:
    """Answer a question from the index: ranked paragraphs with the best sentence highlighted."""
    from search.searcher import Searcher

    try:
        settings = load_settings({"index": index, "model": model, "mode": mode})
        from search.searcher import validate

        validate(settings, text, settings.default_k if k is None else k, offset)  # fail before loading the model
        response = Searcher.load(settings).search(text, k=k, offset=offset, neighbours=context)
    except SearchError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(response.to_dict(neighbours=context), ensure_ascii=False, indent=2))
        return
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


if __name__ == "__main__":
    main()
