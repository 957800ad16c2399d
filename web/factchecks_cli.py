"""`statement-search factchecks add | list | relink`: published fact-checks (ClaimReview) beside the index."""
from __future__ import annotations

import json
from pathlib import Path

import click

from search.errors import SearchError, StatementSearchError
from search.settings import Settings, load_settings

from .cli_options import fail as _fail
from .cli_options import index_option, model_option


@click.group("factchecks")
def factchecks() -> None:
    """Published fact-checks (schema.org ClaimReview), linked to the passages that carry their claims."""


@factchecks.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@index_option
@model_option
def add_command(files, index, model) -> None:
    """Read ClaimReview records from HTML pages (JSON-LD, microdata), .jsonl or .csv files (claimReviewed,
    author, datePublished, reviewRating, itemReviewed.author, url), keep them beside the index and link each
    claim to the passages that carry it (verbatim, altered or paraphrase). Every file is read before any
    record is kept: one bad file or row stores nothing (exit 2)."""
    from search.factchecks import FactCheckStore, link, read_file
    from search.searcher import Searcher

    try:
        settings = load_settings({"index": index, "model": model})
        records = []
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SearchError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable_file") from None
            records.append((path, read_file(path, data, settings.max_batch_bytes)))
        searcher = Searcher.load(settings)
        store = FactCheckStore.beside(settings.index, create=True)
        assert store is not None
        for path, rows in records:
            added = store.add(rows, path.name)
            linked = link(searcher, store, added)
            click.echo(f"{path}: {len(added)} fact-checks, "
                       f"{sum(1 for n in linked.values() if n)} linked to {sum(linked.values())} passages")
    except StatementSearchError as exc:
        _fail(exc)


@factchecks.command("list")
@index_option
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="How many.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON object instead of text.")
def list_command(index, limit, as_json) -> None:
    """The fact-checks kept beside the index, newest review first, with how many passages each is linked to."""
    from search.factchecks import FactCheckStore

    from .factchecks import list_body

    try:
        settings = load_settings({"index": index})
    except StatementSearchError as exc:
        _fail(exc)
    store = FactCheckStore.beside(settings.index)
    items, total = store.all(limit) if store else ([], 0)
    if as_json:
        click.echo(json.dumps(list_body(items, total, 0), ensure_ascii=False, indent=2))
        return
    for fc, passages in items:
        click.echo(f"“{fc.claim}” — {fc.label} <{fc.url}> ({passages} passages)")
    click.echo(f"{total} fact-checks", err=True)


@factchecks.command("relink")
@index_option
@model_option
def relink_command(index, model) -> None:
    """Check every kept claim against the current index again (after statements were added or removed)."""
    from search.factchecks import FactCheckStore, link
    from search.searcher import Searcher

    try:
        settings = load_settings({"index": index, "model": model})
        store = FactCheckStore.beside(settings.index)
        if store is None:
            raise SearchError("no fact-checks yet: statement-search factchecks add FILE", code="no_factchecks")
        items, _ = store.all(1_000_000)
        linked = link(Searcher.load(settings), store, [fc for fc, _ in items])
    except StatementSearchError as exc:
        _fail(exc)
    click.echo(f"{len(linked)} fact-checks, {sum(1 for n in linked.values() if n)} linked to "
               f"{sum(linked.values())} passages")


def relink_after_generation(settings: Settings, embedder=None, echo=click.echo) -> None:
    """Link every kept fact-check again against the generation a build or an update just published, so a
    statement added later that carries a reviewed claim shows the check (one quote check per claim). A
    failure is reported and never undoes the generation; `factchecks relink` does the same by hand."""
    import logging

    from search.factchecks import FactCheckStore, link
    from search.searcher import Searcher

    store = FactCheckStore.beside(settings.index)
    if store is None:
        return
    try:
        items, _ = store.all(1_000_000)
        if not items:
            return
        searcher = Searcher.load(settings, embedder)
        try:
            linked = link(searcher, store, [fc for fc, _ in items])
        finally:
            searcher.close()
        echo(f"fact-checks: {len(linked)} checked again, {sum(1 for n in linked.values() if n)} linked to "
             f"{sum(linked.values())} passages")
    except Exception as exc:  # the new generation stands; say why the links are stale
        logging.getLogger(__name__).exception("relinking fact-checks failed")
        echo(f"warning: fact-checks were not linked to this generation: {exc}; run statement-search factchecks "
             "relink", err=True)
