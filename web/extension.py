"""The live searcher's lifecycle on the app: created or adopted by `init_app`, fetched by `live_searcher`."""
from __future__ import annotations

from flask import Flask, current_app

from search.live import LiveSearcher
from search.settings import Settings

EXTENSION = "statement_search"


def init_app(app: Flask, settings: Settings) -> LiveSearcher:
    """Adopt app.config["LIVE_SEARCHER"] (tests, the pre-fork server) or create one, loading it unless
    app.config["LOAD_INDEX"] is False."""
    live = app.config.get("LIVE_SEARCHER")
    if live is None:
        live = LiveSearcher(settings)
        if app.config["LOAD_INDEX"]:
            live.load()
    app.extensions[EXTENSION] = live
    return live


def live_searcher() -> LiveSearcher:
    """The current app's LiveSearcher."""
    return current_app.extensions[EXTENSION]
