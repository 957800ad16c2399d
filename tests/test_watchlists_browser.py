"""Headless Chromium: save a search from the results page, add a statement with `statement-search add`,
see the new match on the saved-searches page (once)."""
from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from test_browser import browser, pytestmark  # noqa: F401  (the same browser, skip rule and marks)
from test_watchlists import ENV, NEW_TEXT, QUESTION

from index.build import build_index
from search.live import LiveSearcher
from search.settings import load_settings


@pytest.fixture
def site(tmp_path, corpus, embedder):
    from werkzeug.serving import make_server

    from web import create_app

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    settings = load_settings({"index": index, "watchlists": str(tmp_path / "w.sqlite")}, environ={})
    live = LiveSearcher(settings, embedder).load()
    server = make_server("127.0.0.1", 0, create_app({"SETTINGS": settings, "LIVE_SEARCHER": live}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", index, tmp_path
    server.shutdown()
    thread.join(timeout=10)


def test_save_a_search_add_a_statement_see_the_new_match(site, browser):
    from web.cli import main

    base, index, tmp = site
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(base)
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_selector("article.hit")
    assert "417 puffins" not in page.inner_text("main")  # not in the index yet
    page.fill("form.save-search input[name=name]", "puffins")
    page.click("form.save-search button")
    page.wait_for_url("**/watchlists/puffins")
    assert "No new matches since you last opened it" in page.inner_text("main")

    new = tmp / "lighthouse.txt"
    new.write_text(NEW_TEXT)
    result = CliRunner().invoke(main, ["add", str(new), "--index", str(index)],
                                env={**ENV, "STATEMENT_SEARCH_WATCHLISTS": str(tmp / "w.sqlite")})
    assert result.exit_code == 0 and "new matches (puffins:" in result.output, result.output

    page.goto(base)
    page.get_by_role("link", name="Saved searches").click()
    page.wait_for_url("**/watchlists")
    badge = page.locator("li.watchlist[data-name=puffins] .new-count")
    assert badge.inner_text().endswith("new") and int(badge.inner_text().split()[0]) >= 1
    page.locator("li.watchlist[data-name=puffins] a").first.click()
    page.wait_for_url("**/watchlists/puffins")
    fresh = page.locator("article.match.new")
    assert fresh.count() >= 1 and "417 puffins" in page.inner_text("main")
    assert "Keeper Anwen" in fresh.first.inner_text() or "Keeper Anwen" in page.inner_text("main")
    assert "since you last opened it" in page.inner_text("p.summary")

    page.reload()  # opened once: they are no longer new
    assert page.locator("article.match.new").count() == 0 and page.locator("article.match").count() >= 1
    assert "No new matches since you last opened it" in page.inner_text("main")
