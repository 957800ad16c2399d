"""Headless Chromium: upload a file of quotes on the "Check a file" page, watch the job page until the rows show."""
from __future__ import annotations

import threading

import pytest
from test_batch import ROWS, claims_csv
from test_browser import ARGS, CHROMIUM, pytestmark  # noqa: F401 (the same skip rule and browser flags)

from search.settings import load_settings


@pytest.fixture(scope="module")
def batch_site(seed_index, embedder, tmp_path_factory):
    from werkzeug.serving import make_server

    from search.live import LiveSearcher
    from web import create_app

    live = LiveSearcher(load_settings({"index": seed_index}, environ={}), embedder).load()
    app = create_app({"SETTINGS": live.settings, "LIVE_SEARCHER": live, "BATCH_POLL": 0.05,
                      "JOBS_DB": tmp_path_factory.mktemp("jobs") / "jobs.sqlite"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["statement_search_batch"].stop()


def test_upload_a_file_and_see_progress_then_rows(batch_site, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    claims = tmp_path / "claims.csv"
    claims.write_bytes(claims_csv(ROWS[:4]))
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(CHROMIUM),
                                                       headless=True, args=ARGS, timeout=60_000)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(batch_site + "verify")
        page.get_by_role("link", name="Check a file of quotes").click()
        page.set_input_files("input#file", str(claims))
        page.get_by_role("button", name="Check them all").click()
        page.wait_for_url("**/verify/batch/*")
        assert page.locator("progress#batch-progress").get_attribute("max") == "4"
        page.wait_for_selector("table.batch-rows", timeout=120_000)  # the page refreshes itself until done
        assert page.locator("progress#batch-progress").get_attribute("value") == "4"
        verdicts = page.locator("table.batch-rows .verdict-label").all_inner_texts()
        assert verdicts == [r[3] for r in ROWS[:4]]
        assert page.get_by_role("link", name="CSV").get_attribute("href").endswith("format=csv")
        context.close()
