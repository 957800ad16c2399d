"""Saved-search pages: the list with each one's count of new matches, one saved search's matches (opening
it marks them seen), and the form the search page's "Save this search" control posts to."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from search.errors import SearchError, StatementSearchError

from .errors import http_status, public_message
from .watchlists import RECENT, create, watchlist_store

bp = Blueprint("watchlist_pages", __name__)
FORM_KEYS = ("name", "q", "mode", "after", "before")


def _same_origin() -> None:
    """Refuse a form posted from another site (the browser says so in Sec-Fetch-Site / Origin): a saved
    search is a change, and the page has no login that a CSRF token would tie to."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site:  # the browser's own word (Origin is "null" under Referrer-Policy: no-referrer)
        foreign = site not in ("same-origin", "none")
    else:
        foreign = origin is not None and origin not in ("", "null") \
            and origin.rstrip("/") != request.host_url.rstrip("/")
    if foreign:
        raise SearchError("this form can only be sent from this site", code="cross_site_form")


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {k: request.form[k] for k in FORM_KEYS if request.form.get(k, "") != ""}
    for key in ("speaker", "source", "language"):
        listed = [v for v in request.form.getlist(key) if v.strip()]
        if listed:
            values[key] = listed
    return values


@bp.get("/watchlists")
def watchlists_page(error: StatementSearchError | None = None, status: int = 200, form: dict | None = None):
    return render_template("watchlists.html", saved=watchlist_store().all(), error=error, form=form or {},
                           public_message=public_message), status


@bp.post("/watchlists")
def save_search():
    values = _form_values()
    try:
        _same_origin()
        saved = create(values)
    except StatementSearchError as exc:
        return watchlists_page(error=exc, status=http_status(exc), form=values)
    return redirect(url_for("watchlist_pages.watchlist_page", name=saved.name), code=303)


@bp.get("/watchlists/<name>")
def watchlist_page(name: str):
    store = watchlist_store()
    saved = store.get(name)
    matches = store.matches(name, RECENT)
    if matches:  # opening the page marks what it shows as seen
        store.mark_seen(name, up_to=max(m.id for m in matches))
    search_args = {"q": saved.question, "mode": saved.mode, **{k: v for k, v in saved.filter_values().items() if v}}
    return render_template("watchlist.html", saved=saved, matches=matches, search_args=search_args)


@bp.post("/watchlists/<name>/delete")
def delete_search(name: str):
    try:
        _same_origin()
        watchlist_store().remove(name)
    except StatementSearchError as exc:
        return watchlists_page(error=exc, status=http_status(exc))
    return redirect(url_for("watchlist_pages.watchlists_page"), code=303)
