"""The saved-search API: POST/GET /api/watchlists, GET/DELETE /api/watchlists/NAME and the Atom feed
/api/watchlists/NAME/feed.atom, as entries of the API's route table (web/api.ROUTES), so each is served
and documented in the OpenAPI document together. The store (search/watchlists.py) is opened on first
use, so an app that never touches saved searches creates no file."""
from __future__ import annotations

from threading import Lock
from typing import Any

from flask import Flask, Response, current_app, request, url_for

from search.errors import SearchError
from search.watchlists import SavedSearch, WatchlistStore, make_saved_search
from search.webhooks import check_url

from . import schemas, security
from .api import ROUTES
from .extension import live_searcher
from .feeds import atom
from .routes import Reply
from .schemas import dump
from .watchlist_schemas import (
    Watchlist,
    WatchlistCreate,
    WatchlistDetail,
    WatchlistLinks,
    WatchlistList,
    WatchlistMatch,
    parse_create,
)

EXTENSION = "statement_search_watchlists"
RECENT = 50  # matches in a detail answer and in a feed
ATOM = {"application/atom+xml": {"schema": {"type": "string"}}}
_open_lock = Lock()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = None


def watchlist_store() -> WatchlistStore:
    """The app's saved-search store (settings.watchlists_path), opened once."""
    with _open_lock:
        store = current_app.extensions.get(EXTENSION)
        if store is None:
            store = WatchlistStore(live_searcher().settings.watchlists_path)
            current_app.extensions[EXTENSION] = store
    return store


def links(name: str) -> WatchlistLinks:
    return WatchlistLinks(self=url_for("api.watchlist_get", name=name),
                          feed=url_for("api.watchlist_feed", name=name),
                          page=url_for("watchlist_pages.watchlist_page", name=name))


def create(values: Any) -> SavedSearch:
    """Validate and store a saved search from JSON-like values (the API's body, the page's form)."""
    req = parse_create(values)
    settings = live_searcher().settings
    name, question, mode, filters = make_saved_search(settings, req.name, req.q, req.mode, req.speaker or None,
                                                      req.after, req.before, req.source or None,
                                                      req.language or None)
    url = check_url(req.webhook, settings.webhook_allow_private)[0] if req.webhook is not None else None
    if req.secret is not None and url is None:
        raise SearchError("a secret signs webhook calls: give a webhook URL too", code="invalid_secret")
    try:
        generation = live_searcher().get().generation
    except Exception:  # no index loaded yet: saving still works
        generation = None
    return watchlist_store().add(name, question, mode, filters, url, req.secret, generation=generation)


@ROUTES.post("/watchlists", "watchlistsCreate", "Save a search (alerts on new statements)", body=WatchlistCreate,
             responses={"201": Reply("Saved; `secret` is returned here only.", Watchlist),
                        "409": Reply("A saved search with this name exists (code name_taken).", schemas.Error)})
def watchlist_create():
    if not request.is_json:
        raise SearchError("POST /api/watchlists needs Content-Type: application/json", code="invalid_content_type")
    saved = create(security.decode_json_body(security.read_body()))
    body = dump(Watchlist.of(saved, links(saved.name)))
    return body, 201, {"Location": body["links"]["self"]}


@ROUTES.get("/watchlists", "watchlistsList", "The saved searches with their match counts",
            responses={"200": Reply("Every saved search, by name.", WatchlistList)})
def watchlists_list():
    return dump(WatchlistList(watchlists=[Watchlist.of(s, links(s.name)) for s in watchlist_store().all()]))


@ROUTES.get("/watchlists/<name>", "watchlistsGet", "A saved search and its newest matches",
            responses={"200": Reply("The saved search and its 50 newest matches.", WatchlistDetail)})
def watchlist_get(name: str):
    store = watchlist_store()
    base = Watchlist.of(store.get(name), links(name))
    recent = [WatchlistMatch.from_match(m) for m in store.matches(name, RECENT)]
    return dump(WatchlistDetail(**dict(base), recent=recent))


@ROUTES.route("/watchlists/<name>", "DELETE", "watchlistsDelete", "Remove a saved search and its matches",
              responses={"204": Reply("Removed.")})
def watchlist_delete(name: str):
    watchlist_store().remove(name)
    return Response(status=204)


@ROUTES.get("/watchlists/<name>/feed.atom", "watchlistsFeed", "Atom feed of a saved search's matches",
            responses={"200": Reply("Atom 1.0 feed, newest match first.", None, ATOM)})
def watchlist_feed(name: str):
    store = watchlist_store()
    saved = store.get(name)  # NotFound: a 404 JSON error
    body = atom(saved, store.matches(name, RECENT), url_for("api.watchlist_feed", name=name, _external=True),
                url_for("watchlist_pages.watchlist_page", name=name, _external=True),
                lambda m: url_for("pages.document", doc_id=m.doc_id, hit=m.paragraph, _external=True)
                + f"#p{m.paragraph}")
    return Response(body, content_type="application/atom+xml; charset=utf-8")
