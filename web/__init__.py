"""The web front end: `create_app()` builds a Flask app with a search page and a JSON API."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from search.settings import MODES, Settings, load_settings

# batch and factchecks add their routes to api.ROUTES when imported
from . import (  # noqa: F401
    api,
    batch,
    batch_pages,
    errors,
    extension,
    factchecks,
    limits,
    metrics,
    pages,
    security,
    watchlist_pages,
    watchlists,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """An application: defaults, then STATEMENT_SEARCH_* environment, then `config`.

    `config` may hold Flask settings and, for this app: SETTINGS (a Settings, or a mapping of
    overrides), LIVE_SEARCHER (an already loaded search.live.LiveSearcher, shared by tests and by
    the pre-fork server) and LOAD_INDEX (False: load nothing; the API answers 503).
    """
    app = Flask(__name__)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=16 * 1024,   # a question is at most a few KiB of JSON: refuse more with 413
        JSON_AS_ASCII=False,
        LOAD_INDEX=True,
    )
    if config:
        app.config.update(config)
    settings = app.config.get("SETTINGS")
    if not isinstance(settings, Settings):
        settings = load_settings(settings)
    app.config["SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has both; the
    app.json.sort_keys = False  # type: ignore[attr-defined]  # app.json annotation names the base class
    app.jinja_env.globals["MODES"] = MODES

    live = extension.init_app(app, settings)
    metrics.init_app(app, live)
    errors.init_app(app)
    security.init_app(app)
    batch.init_app(app, settings, live)
    app.register_blueprint(pages.bp)
    app.register_blueprint(batch_pages.bp)
    app.register_blueprint(api.ROUTES.blueprint("api", api.__name__), url_prefix=api.ROUTES.prefix)
    watchlists.init_app(app)
    app.register_blueprint(watchlist_pages.bp)
    # after the routes: it puts settings.batch_rate_limit on the upload routes
    limits.init_app(app, settings, open_paths=api.ROUTES.public_paths())
    return app
