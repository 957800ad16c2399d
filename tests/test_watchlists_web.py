"""Saved searches over HTTP: the JSON API, the Atom feed (parsed by feedparser), the pages, and webhook
delivery through a durable outbox to a real local receiver that fails, goes away and comes back."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from test_watchlists import ENV, NEW_TEXT, QUESTION

from index.build import build_index
from search.errors import SearchError
from search.live import LiveSearcher
from search.settings import load_settings
from search.watchlists import MatchDraft, WatchlistStore, make_saved_search
from search.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, backoff, check_url, deliver_due, verify_signature
from web import create_app


@pytest.fixture
def site(tmp_path, corpus, embedder):
    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    settings = load_settings({"index": index, "watchlists": str(tmp_path / "w.sqlite"), "reload_interval": -1},
                             environ={})
    app = create_app({"SETTINGS": settings, "LIVE_SEARCHER": LiveSearcher(settings, embedder).load()})
    return app, index, tmp_path


def _error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code, body


def test_api_save_add_feed_and_page(site):
    from web.cli import main

    app, index, tmp = site
    client = app.test_client()
    created = client.post("/api/watchlists", json={"name": "puffins", "q": QUESTION, "after": "2020"})
    assert created.status_code == 201 and created.headers["Location"] == "/api/watchlists/puffins"
    assert created.get_json()["filters"]["after"] == "2020" or created.get_json()["filters"]["after"] == "2020-01-01"
    assert "secret" not in created.get_json()  # no webhook, no secret
    assert client.get("/api/watchlists/puffins").get_json()["recent"] == []

    new = tmp / "lighthouse.txt"
    new.write_text(NEW_TEXT)
    result = CliRunner().invoke(main, ["add", str(new), "--index", str(index)],
                                env={**ENV, "STATEMENT_SEARCH_WATCHLISTS": str(tmp / "w.sqlite")})
    assert result.exit_code == 0 and "new matches (puffins:" in result.output, result.output

    detail = client.get("/api/watchlists/puffins").get_json()
    assert detail["matches"] >= 1 and detail["new"] == detail["matches"]
    assert {m["document"]["id"] for m in detail["recent"]} == {"lighthouse"}
    assert any("417 puffins" in m["text"] for m in detail["recent"])
    listed = client.get("/api/watchlists").get_json()["watchlists"]
    assert [(w["name"], w["matches"]) for w in listed] == [("puffins", detail["matches"])]

    feed = client.get("/api/watchlists/puffins/feed.atom")
    assert feed.status_code == 200 and feed.content_type.startswith("application/atom+xml")
    parsed = feedparser.parse(feed.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and parsed.feed.title == "statement-search: puffins"
    assert len(parsed.entries) == detail["matches"]
    assert {e.id for e in parsed.entries} == {f"urn:uuid:{m['id']}" for m in detail["recent"]}
    assert any("417 puffins" in e.summary for e in parsed.entries)
    assert all("/documents/lighthouse" in e.link for e in parsed.entries)

    # the page shows the new matches once; opening it marks them seen
    page = client.get("/watchlists/puffins").get_data(as_text=True)
    assert "417 puffins" in page and 'class="new-tag"' in page
    assert "new match" in page
    assert client.get("/api/watchlists/puffins").get_json()["new"] == 0
    again = client.get("/watchlists/puffins").get_data(as_text=True)
    assert 'class="new-tag"' not in again and "No new matches since you last opened it" in again

    assert client.delete("/api/watchlists/puffins").status_code == 204
    _error(client.get("/api/watchlists/puffins/feed.atom"), 404, "watchlist_not_found")


def test_api_bad_input_is_one_error_shape_and_stores_nothing(site):
    app, _, _ = site
    client = app.test_client()
    assert client.post("/api/watchlists", json={"name": "one", "q": "encryption keys"}).status_code == 201
    _error(client.post("/api/watchlists", json={"name": "one", "q": "other"}), 409, "name_taken")
    long_q = "x" * 1001
    cases = [({"name": "two", "q": ""}, "invalid_query"), ({"name": "two", "q": long_q}, "query_too_long"),
             ({"name": "two"}, "missing_query"), ({"name": "bad name", "q": "ok"}, "invalid_name"),
             ({"q": "ok"}, "invalid_name"), ({"name": "two", "q": "ok", "after": "2020-13"}, "invalid_after"),
             ({"name": "two", "q": "ok", "mode": "fuzzy"}, "invalid_mode"),
             ({"name": "two", "q": "ok", "colour": "red"}, "unknown_parameter"),
             ({"name": "two", "q": "ok", "webhook": "ftp://example.org/x"}, "invalid_webhook"),
             ({"name": "two", "q": "ok", "webhook": "http://169.254.169.254/latest/meta-data"}, "disallowed_webhook"),
             ({"name": "two", "q": "ok", "webhook": "http://127.0.0.1:9/hook"}, "disallowed_webhook"),
             ({"name": "two", "q": "ok", "secret": "s" * 20}, "invalid_secret"),
             ({"name": "two", "q": "ok", "webhook": "http://10.0.0.1/", "secret": "short"}, "invalid_secret"),
             ({"name": "two", "q": '"the of"'}, "stopword_phrase")]
    for body, code in cases:
        _error(client.post("/api/watchlists", json=body), 400, code)
    _error(client.post("/api/watchlists", data="name=x", content_type="application/x-www-form-urlencoded"), 400,
           "invalid_content_type")
    _error(client.post("/api/watchlists", data=b"\xff\xfe", content_type="application/json"), 400, "invalid_json")
    _error(client.get("/api/watchlists/nobody"), 404, "watchlist_not_found")
    _error(client.delete("/api/watchlists/nobody"), 404, "watchlist_not_found")
    _error(client.get("/api/watchlists/nobody/feed.atom"), 404, "watchlist_not_found")
    assert [w["name"] for w in client.get("/api/watchlists").get_json()["watchlists"]] == ["one"]
    # the page's form: a cross-site post is refused, a bad one re-renders with the message
    cross = client.post("/watchlists", data={"name": "three", "q": "ok"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 400 and "only be sent from this site" in cross.get_data(as_text=True)
    dup = client.post("/watchlists", data={"name": "one", "q": "ok"})
    assert dup.status_code == 409 and "already exists" in dup.get_data(as_text=True)
    ok = client.post("/watchlists", data={"name": "three", "q": "encryption", "speaker": ["Pavel Durov"]})
    assert ok.status_code == 303 and ok.headers["Location"].endswith("/watchlists/three")
    assert client.get("/api/watchlists/three").get_json()["filters"]["speaker"] == ["Pavel Durov"]


def test_openapi_documents_the_watchlist_routes(site):
    app, _, _ = site
    doc = app.test_client().get("/api/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/watchlists"])
    assert {"get", "delete"} <= set(doc["paths"]["/api/watchlists/{name}"])
    feed = doc["paths"]["/api/watchlists/{name}/feed.atom"]["get"]
    assert "application/atom+xml" in feed["responses"]["200"]["content"]
    assert doc["components"]["schemas"]["WatchlistCreate"]["properties"]["q"]["maxLength"] == 1000


# -- webhooks -----------------------------------------------------------------------------------------
def test_address_policy():
    for url in ("http://169.254.169.254/latest", "http://[fe80::1]/", "http://0.0.0.0/", "http://224.0.0.1/",
                "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(SearchError):
            check_url(url, allow_private=True)  # never, whatever the setting
    for url in ("http://127.0.0.1:8080/x", "http://[::1]/", "http://10.1.2.3/", "http://192.168.0.10/",
                "http://100.64.0.1/"):
        with pytest.raises(SearchError) as err:
            check_url(url)
        assert err.value.code == "disallowed_webhook"
        assert check_url(url, allow_private=True)[0] == url
    for url in ("ftp://example.org/", "file:///etc/passwd", "http://user:pw@8.8.8.8/", "http:///nohost", "", None,
                "http://" + "a" * 3000 + ".org/", "http://8.8.8.8:99999/"):
        with pytest.raises(SearchError):
            check_url(url)
    assert check_url("https://8.8.8.8/hook?x=1")[1:3] == ("8.8.8.8", 443)


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records what it is sent; `fail` makes it answer 500."""

    def __init__(self, port: int = 0, fail: bool = False):
        received, outer = [], self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if outer.fail else 200
                received.append((status, self.headers[DELIVERY_HEADER], self.headers[SIGNATURE_HEADER], body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.fail, self.received = fail, received
        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _outbox_with_alerts(tmp_path: Path, url: str, count: int) -> tuple[WatchlistStore, str]:
    settings = load_settings({"index": tmp_path / "index"}, environ={})
    store = WatchlistStore(tmp_path / "w.sqlite")
    name, q, mode, f = make_saved_search(settings, "hook", "encryption keys")
    saved = store.add(name, q, mode, f, check_url(url, allow_private=True)[0])
    assert saved.secret and len(saved.secret) == 64
    for generation in range(2):  # two generations' worth of matches
        drafts = [MatchDraft(saved.id, f"doc-{generation}-{i}", f"hash-{i}", i, 0.5, f"text {generation} {i}", 1, 1)
                  for i in range(count // 2)]
        store.record(f"gen-{generation}", len(drafts), drafts)
    store.record("gen-1", 0, drafts)  # the same generation again: ignored
    return store, saved.secret


def test_webhook_outage_then_recovery_delivers_every_alert_once(tmp_path):
    receiver = Receiver(fail=True)
    url = f"http://127.0.0.1:{receiver.port}/hook"
    store, secret = _outbox_with_alerts(tmp_path, url, 6)
    clock = [time.time() + 1]
    deliver = lambda: deliver_due(store, allow_private=True, timeout=5, now=lambda: clock[0])  # noqa: E731
    assert store.outbox()["pending"] == 6

    first = deliver()  # the receiver answers 500: one attempt, the rest wait behind it in order
    assert (first.delivered, first.failed, first.pending) == (0, 1, 6)
    assert [r[0] for r in receiver.received] == [500]
    assert deliver().failed == 0  # not due yet: backing off
    receiver.stop()  # now nobody listens: connection refused
    clock[0] += backoff(1)
    down = deliver()
    assert (down.delivered, down.failed) == (0, 1) and "refused" in (store.outbox()["last_error"] or "").lower()

    receiver = Receiver(port=receiver.port)  # back, healthy, on the same address
    try:
        clock[0] += backoff(2)
        up = deliver()
        assert (up.delivered, up.failed, up.pending) == (6, 0, 0)
        assert deliver().delivered == 0  # nothing is sent twice
    finally:
        receiver.stop()
    ok = [r for r in receiver.received if r[0] == 200]
    ids = [r[1] for r in ok]
    assert len(ids) == len(set(ids)) == 6  # every alert, once
    bodies = [json.loads(r[3]) for r in ok]
    assert [b["delivery"] for b in bodies] == ids
    assert len({b["match"]["id"] for b in bodies}) == 6
    assert all(verify_signature(secret, r[3], r[2]) for r in ok)
    assert not verify_signature("another secret value", ok[0][3], ok[0][2])


def test_a_crash_after_the_receiver_got_it_resends_the_same_delivery_id(tmp_path):
    receiver = Receiver()
    try:
        store, _ = _outbox_with_alerts(tmp_path, f"http://127.0.0.1:{receiver.port}/", 2)
        from search import webhooks

        def crash_after_send(delivery, allow_private, timeout):
            webhooks.post(delivery, allow_private, timeout)
            raise KeyboardInterrupt  # the process dies before it marks the delivery

        with pytest.raises(KeyboardInterrupt):
            deliver_due(store, allow_private=True, send=crash_after_send)
        assert store.outbox()["pending"] == 2  # nothing marked: nothing lost
        assert deliver_due(store, allow_private=True).delivered == 2
    finally:
        receiver.stop()
    ids = [r[1] for r in receiver.received]
    assert len(ids) == 3 and len(set(ids)) == 2 and ids[0] == ids[1]  # the repeat carries the same id


def test_cli_deliver(tmp_path):
    from web.cli import main

    receiver = Receiver()
    try:
        store, _ = _outbox_with_alerts(tmp_path, f"http://127.0.0.1:{receiver.port}/", 4)
        env = {"STATEMENT_SEARCH_WEBHOOK_ALLOW_PRIVATE": "1"}
        result = CliRunner().invoke(main, ["watchlist", "deliver", "--watchlists", str(store.path)], env=env)
        assert result.exit_code == 0 and "delivered 4, failed 0 (retried later), 0 pending" in result.output
    finally:
        receiver.stop()
    assert len(receiver.received) == 4
