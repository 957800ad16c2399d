"""Headless Chromium (Debian's `chromium`, driven by Playwright): type a question, see the highlighted answer."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from search.settings import load_settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

# CI sets REQUIRE_BROWSER=1, so a missing chromium fails there instead of skipping quietly.
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif((not CHROMIUM.exists() or shutil.which("chromium") is None)
                                 and os.environ.get("REQUIRE_BROWSER") != "1",
                                 reason="Debian chromium is not installed (.ci/run installs it)")]


@pytest.fixture(scope="module")
def site(seed_index, embedder):
    """The app on a werkzeug server in a thread on a free loopback port (the page needs a real URL)."""
    from werkzeug.serving import make_server

    from search.live import LiveSearcher
    from web import create_app

    live = LiveSearcher(load_settings({"index": seed_index}, environ={}), embedder).load()
    server = make_server("127.0.0.1", 0, create_app({"SETTINGS": live.settings, "LIVE_SEARCHER": live}),
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", live
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS, timeout=60_000)
        yield context
        context.close()


def test_ask_a_question_and_follow_context(site, browser):
    base, live = site
    question = "Why was the founder arrested in France?"
    expected = live.get().search(question, k=1).hits[0]
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(base)
    assert page.evaluate("document.activeElement.id") == "q"  # the box has focus: type straight away
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    page.wait_for_selector("article.hit")
    first = page.locator("article.hit").first
    assert first.get_attribute("id") == f"hit-{expected.id}"
    mark = first.locator("p.passage mark")
    assert mark.inner_text().strip() == expected.text[expected.highlight.start:expected.highlight.end].strip()
    assert f"paragraph {expected.paragraph} of {expected.of}" in first.inner_text()
    assert "q=Why+was+the+founder" in page.url  # a shareable URL

    context = first.locator("details.neighbours")
    assert not context.locator(".context-paragraphs").is_visible()
    first.locator("summary").focus()
    page.keyboard.press("Enter")  # keyboard alone opens it
    assert context.locator(".context-paragraphs").is_visible()
    if expected.neighbours:
        assert expected.neighbours[0].text[:40] in context.inner_text()

    context.get_by_text("Read the whole statement").click()
    page.wait_for_url("**/documents/**")
    anchored = page.locator(f"#p{expected.paragraph}")
    assert "hit" in anchored.get_attribute("class")
    assert anchored.locator("mark").count() == 1
    page.close()


def test_phone_width_has_no_horizontal_scroll(site, browser):
    base, _ = site
    page = browser.new_page()
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(base + "?q=privacy+and+security")
    page.wait_for_selector("article.hit")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.close()


def test_check_a_quote_round_trip(site, browser):
    base, live = site
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(base)
    page.get_by_role("link", name="Check a quote").click()
    page.wait_for_selector("textarea#quote")
    page.fill("textarea#quote", "Telegram deletes thousands of harmful posts and channels every day")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector(".verdict-label")
    assert page.locator(".verdict-label").get_attribute("data-verdict") == "altered"
    best = page.locator("article.quote-match").first
    assert best.locator("del").first.inner_text() == "millions"
    assert best.locator("ins").first.inner_text() == "thousands"
    # the form keeps the quote, and the URL can be shared
    assert "thousands" in page.input_value("textarea#quote") and "quote=Telegram+deletes" in page.url


def test_phrase_query_and_csv_download(site, browser):
    base, live = site
    page = browser.new_page()
    page.set_default_timeout(60_000)
    page.goto(base)
    page.fill("#q", '"harmful posts" Telegram')
    page.keyboard.press("Enter")
    page.wait_for_selector("article.hit")
    passages = page.locator("article.hit p.passage").all_inner_texts()
    assert passages and all("harmful posts" in p for p in passages)
    assert page.locator("article.hit p.passage b.kw").first.inner_text() in ("harmful posts", "Telegram")
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename == "statement-search-results.csv"
    import csv

    with open(download.path(), encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[:4] == ["rank", "score", "weak", "text"] and len(rows) == len(passages)
    assert "harmful posts" in rows[0][3]
