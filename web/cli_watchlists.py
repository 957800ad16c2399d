"""`statement-search watchlist ...`: saved searches, their matches and webhook delivery (thin commands over
search/watchlists.py, search/percolate.py and search/webhooks.py), and the percolation run after every
new generation by `add`, `remove` and `rebuild-index` (with --watch too)."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from index import layout
from search.errors import StatementSearchError
from search.percolate import percolate
from search.settings import MODES, Settings, load_settings
from search.watchlists import SavedSearch, WatchlistStore, make_saved_search, open_store
from search.webhooks import check_url, deliver_due

from .cli_options import fail as _fail
from .cli_options import filter_options, index_option, language_option, setting_option

if TYPE_CHECKING:  # the reports' modules load FAISS: not at the start of every command
    from index.build import BuildReport
    from index.update import UpdateReport

log = logging.getLogger(__name__)
HELP = Settings.help()
_INDEX = index_option
_FILE = setting_option("--watchlists", name="watchlists", type=click.Path(path_type=Path))




def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(overrides)
    except StatementSearchError as exc:
        _fail(exc)
        raise  # unreachable


def saved_json(s: SavedSearch) -> dict[str, Any]:
    out = {"name": s.name, "question": s.question, "mode": s.mode, "filters": s.filter_values(),
           "webhook": s.webhook_url, "matches": s.matches, "new": s.new, "undelivered": s.undelivered,
           "created_at": _iso(s.created_at), "created_generation": s.created_generation}
    if s.secret:
        out["secret"] = s.secret
    return out


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@click.group("watchlist")
def watchlist() -> None:
    """Saved searches: each new index generation is checked against them and new strong matches are
    recorded (an Atom feed per saved search, optional signed webhooks); see docs/factcheck.md."""


@watchlist.command("add")
@click.argument("name")
@click.argument("question")
@click.option("--mode", type=click.Choice(MODES), default=None, help=HELP["mode"])
@filter_options
@language_option
@click.option("--webhook", help="POST each new match to this http(s) URL (signed; docs/factcheck.md).")
@click.option("--secret", help="The webhook's HMAC secret (16-256 characters); default: a random one, printed once.")
@_INDEX
@_FILE
def add_command(name, question, mode, speaker, after, before, source, language, webhook, secret, index,
                watchlists) -> None:
    """Save QUESTION (with its "phrases" and -exclusions, mode and filters) under NAME."""
    settings = _settings(index=index, watchlists=str(watchlists) if watchlists else None)
    try:
        name, question, mode, filters = make_saved_search(settings, name, question, mode, list(speaker), after,
                                                          before, list(source), list(language))
        url = check_url(webhook, settings.webhook_allow_private)[0] if webhook is not None else None
        live = layout.current_generation(settings.index)
        saved = open_store(settings).add(name, question, mode, filters, url, secret,
                                         generation=live.name.rsplit("gen-", 1)[-1] if live else None)
    except StatementSearchError as exc:
        _fail(exc)
    click.echo(f"saved {saved.name}: {saved.question!r} ({saved.mode}); new matches are recorded from the next "
               "index generation on")
    if saved.secret:
        click.echo(f"webhook secret (shown once; verify X-Statement-Search-Signature with it): {saved.secret}")


@watchlist.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@_INDEX
@_FILE
def list_command(as_json, index, watchlists) -> None:
    """The saved searches with their match counts."""
    settings = _settings(index=index, watchlists=str(watchlists) if watchlists else None)
    saved = open_store(settings).all()
    if as_json:
        click.echo(json.dumps([saved_json(s) for s in saved], ensure_ascii=False, indent=2))
        return
    if not saved:
        click.echo("no saved searches")
    for s in saved:
        filters = ", ".join(f"{k}={v}" for k, v in s.filter_values().items() if v)
        hook = f"; webhook {s.webhook_url}, {s.undelivered} undelivered" if s.webhook_url else ""
        click.echo(f"{s.name}: {s.question!r} ({s.mode}{'; ' + filters if filters else ''}) — {s.matches} matches, "
                   f"{s.new} new{hook}")


@watchlist.command("remove")
@click.argument("name")
@_INDEX
@_FILE
def remove_command(name, index, watchlists) -> None:
    """Remove the saved search NAME with its matches and undelivered webhook calls."""
    settings = _settings(index=index, watchlists=str(watchlists) if watchlists else None)
    try:
        open_store(settings).remove(name)
    except StatementSearchError as exc:
        _fail(exc)
    click.echo(f"removed {name}")


@watchlist.command("matches")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="Newest matches shown.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@_INDEX
@_FILE
def matches_command(name, limit, as_json, index, watchlists) -> None:
    """The newest matches of the saved search NAME, newest first."""
    settings = _settings(index=index, watchlists=str(watchlists) if watchlists else None)
    try:
        found = open_store(settings).matches(name, limit)
    except StatementSearchError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps([{"id": m.uid, "document": m.doc_id, "paragraph": m.paragraph, "of": m.of,
                                "speaker": m.speaker, "title": m.title, "date": m.date, "score": round(m.score, 4),
                                "text": m.text, "generation": m.generation, "found_at": _iso(m.found_at)}
                               for m in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("no matches yet")
    for m in found:
        who = " · ".join(x for x in (m.speaker, m.date, m.title or m.doc_id) if x)
        click.echo(f"[{m.score:.3f}] {who} — paragraph {m.paragraph} of {m.of} (generation {m.generation})")
        click.echo(f"   {m.text[:300]}")


@watchlist.command("deliver")
@click.option("--follow", is_flag=True, help="Keep running: deliver what falls due every --interval seconds "
              "(a deployment's delivery service); Ctrl-C stops.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="Seconds between outbox checks with --follow.")
@_INDEX
@_FILE
def deliver_command(follow, interval, index, watchlists) -> None:
    """Send the webhook calls that are due (retries back off exponentially; see docs/factcheck.md)."""
    settings = _settings(index=index, watchlists=str(watchlists) if watchlists else None)
    store = open_store(settings)
    try:
        while True:
            report = deliver_due(store, settings.webhook_allow_private, settings.webhook_timeout)
            if report.busy:
                click.echo("another process is delivering from this outbox", err=True)
            elif report.delivered or report.failed or not follow:
                click.echo(f"delivered {report.delivered}, failed {report.failed} (retried later), "
                           f"{report.pending} pending")
            if not follow:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


def after_generation(settings: Settings, published: BuildReport | UpdateReport, embedder=None,
                     echo: Callable[..., None] = click.echo) -> None:
    """Percolate the saved searches (if any) against the generation a build or an update just published
    (its report names the new and the previous generation, and a live update's appended passage ids), then
    send the due webhooks. A failure here is reported but never undoes the generation."""
    path = settings.watchlists_path
    if not path.exists() or published.path is None:
        return
    appended = getattr(published, "added_passage_ids", None)  # a live update's; a rebuild renumbers
    try:
        store = WatchlistStore(path)
        report = percolate(store, published.path, published.previous_path, settings, embedder, appended)
        if report.searches and not report.skipped:
            each = ", ".join(f"{k}: {v}" for k, v in report.by_watchlist.items())
            echo(f"saved searches: {report.new_passages} new passages × {report.searches} searches → "
                 f"{report.matches} new matches" + (f" ({each})" if each else "") + f" in {report.seconds:.2f}s")
        if store.outbox()["pending"]:
            sent = deliver_due(store, settings.webhook_allow_private, settings.webhook_timeout)
            echo(f"webhooks: delivered {sent.delivered}, {sent.pending} pending")
    except Exception as exc:  # the new generation stands; say why the alerts are missing
        log.exception("percolation failed")
        echo(f"warning: saved searches were not checked against this generation: {exc}", err=True)
