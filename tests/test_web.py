"""The Flask app through its test client: every route, every error code, HTML and JSON in agreement."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from html import unescape

import jsonschema
import pytest
from conftest import SEED_CORPUS

from search.settings import load_settings
from search.types import DocumentInfo, Facet, SearchHit, SearchResponse, Span
from web import create_app
from web.api import ROUTES
from web.openapi import document as openapi_document
from web.routes import Reply, RouteTable
from web.schemas import SearchResults, dump

XSS = """Title: <script>alert('title')</script> Notes
Speaker: Mallory <b>Bold</b>
Date: 2021-03-04
Source: javascript:alert(1)

<script>alert('x')</script> Our bakery guild will raise the price of rye bread by ten cents next spring.
"""
QUESTION = "privacy and security"


@pytest.fixture(scope="session")
def web_index(tmp_path_factory, embedder):
    """The demo corpus plus a hostile statement, indexed with the real model once per session."""
    from index.build import build_index

    root = tmp_path_factory.mktemp("web")
    corpus = root / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    (corpus / "mallory.txt").write_text(XSS)
    index = root / "index"
    build_index(corpus, index, embedder)
    return index


@pytest.fixture(scope="session")
def live(web_index, embedder):
    from search.live import LiveSearcher

    return LiveSearcher(load_settings({"index": web_index}, environ={}), embedder).load()


@pytest.fixture
def app(live):
    return create_app({"TESTING": True, "SETTINGS": live.settings, "LIVE_SEARCHER": live})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def seed_doc_id(live):
    return live.get().search(QUESTION, k=1).hits[0].document.id


def validator(name: str) -> jsonschema.Validator:
    doc = openapi_document(load_settings(environ={}), ROUTES)
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **doc})


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    validator("Error").validate(body)
    if code:
        assert body["error"]["code"] == code


def hit_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<article class="hit[^"]*" id="hit-(\d+)"', html)]


# -- every route ------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, kind", [
    ("/", "text/html"), (f"/?q={QUESTION}", "text/html"), ("/api/health", "application/json"),
    ("/api/stats", "application/json"), (f"/api/search?q={QUESTION}", "application/json"),
    ("/api/openapi.json", "application/json"), ("/static/style.css", "text/css"),
])
def test_routes_answer(client, url, kind):
    r = client.get(url)
    assert r.status_code == 200
    assert r.mimetype == kind


def test_document_routes(client, seed_doc_id):
    page = client.get(f"/documents/{seed_doc_id}")
    api = client.get(f"/api/documents/{seed_doc_id}")
    assert page.status_code == api.status_code == 200
    body = api.get_json()
    assert body["document"]["id"] == seed_doc_id and len(body["passages"]) > 3
    validator("DocumentBody").validate(body)
    for p in body["passages"]:
        assert f'id="p{p["paragraph"]}"' in page.get_data(as_text=True)


def test_health_and_stats(client, live):
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok" and health["generation"] == live.get().generation
    validator("Health").validate(health)
    stats = client.get("/api/stats").get_json()
    assert stats["passages"] == health["passages"] and stats["documents"] == 2
    assert 0.3 <= stats["weak_line"] < 1
    validator("Stats").validate(stats)


# -- one search function behind the page and the API ------------------------------------------------
@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_html_and_json_show_the_same_passages(client, mode):
    api = client.get("/api/search", query_string={"q": QUESTION, "k": 5, "mode": mode}).get_json()
    page = client.get("/", query_string={"q": QUESTION, "k": 5, "mode": mode}).get_data(as_text=True)
    ids = [h["id"] for h in api["results"]]
    assert ids and hit_ids(page) == ids
    assert api["mode"] == mode


def test_post_answers_like_get(client):
    got = client.get("/api/search", query_string={"q": QUESTION, "k": 3, "offset": 1}).get_json()
    posted = client.post("/api/search", json={"q": QUESTION, "k": 3, "offset": 1}).get_json()
    assert [h["id"] for h in got["results"]] == [h["id"] for h in posted["results"]]
    assert got["k"] == 3 and got["offset"] == 1


def test_api_result_is_shaped_like_the_cli_json(client, live):
    api = client.get("/api/search", query_string={"q": QUESTION, "k": 2, "context": "true"}).get_json()
    cli = dump(SearchResults.of(live.get().search(QUESTION, k=2, neighbours=True), neighbours=True))
    assert api["results"] == cli["results"]
    assert api["index"] == {"generation": live.get().generation, "passages": live.get().passages}
    assert all("neighbours" in h for h in api["results"])


def test_responses_match_the_openapi_document(client, seed_doc_id):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/search", "/api/documents/{id}", "/api/health", "/api/stats"} <= set(doc["paths"])
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    search = validator("SearchResponseBody")
    search.validate(client.get("/api/search", query_string={"q": QUESTION, "context": "1"}).get_json())
    search.validate(client.post("/api/search", json={"q": QUESTION, "k": 1, "mode": "keyword"}).get_json())
    validator("SearchRequest").validate({"q": QUESTION, "k": 3, "speaker": ["a"], "sort": "newest"})
    with pytest.raises(jsonschema.ValidationError):
        search.validate({"query": "x"})


# -- errors: one shape, the right status, never a 500 -----------------------------------------------
@pytest.mark.parametrize("method, url, kwargs, status, code", [
    ("get", "/api/search", {}, 400, "missing_query"),
    ("get", "/api/search?q=", {}, 400, "invalid_query"),
    ("get", "/api/search?q=%20%20", {}, 400, "invalid_query"),
    ("get", "/api/search?q=" + "x" * 1001, {}, 400, "query_too_long"),
    ("get", "/api/search?q=tax&k=ten", {}, 400, "invalid_k"),
    ("get", "/api/search?q=tax&k=0", {}, 400, "invalid_k"),
    ("get", "/api/search?q=tax&k=101", {}, 400, "invalid_k"),
    ("get", "/api/search?q=tax&k=2.5", {}, 400, "invalid_k"),
    ("get", "/api/search?q=tax&offset=-1", {}, 400, "invalid_offset"),
    ("get", "/api/search?q=tax&offset=100000", {}, 400, "invalid_offset"),
    ("get", "/api/search?q=tax&mode=magic", {}, 400, "invalid_mode"),
    ("get", "/api/search?q=tax&context=maybe", {}, 400, "invalid_context"),
    ("get", "/api/search?q=tax&colour=red", {}, 400, "unknown_parameter"),
    ("post", "/api/search", {"data": "{\"q\": ", "content_type": "application/json"}, 400, "invalid_json"),
    ("post", "/api/search", {"data": "q=tax", "content_type": "application/x-www-form-urlencoded"}, 400,
     "invalid_content_type"),
    ("post", "/api/search", {"data": "q=tax", "content_type": "text/plain"}, 400, "invalid_content_type"),
    ("post", "/api/search", {"json": ["tax"]}, 400, "invalid_json"),
    ("post", "/api/search", {"json": {"q": 3}}, 400, "invalid_query"),
    ("post", "/api/search", {"json": {"q": "tax", "k": True}}, 400, "invalid_k"),
    ("post", "/api/search", {"json": {"q": "tax", "k": 1.5}}, 400, "invalid_k"),
    ("post", "/api/search", {"json": {"q": "tax", "pages": 2}}, 400, "unknown_parameter"),
    ("post", "/api/search", {"json": {"q": "tax", "speaker": 7}}, 400, "invalid_speaker"),
    ("post", "/api/search", {"data": "{\"q\": \"" + "x" * 20000 + "\"}", "content_type": "application/json"},
     413, None),
    ("get", "/api/nothing-here", {}, 404, "not_found"),
    ("get", "/api", {}, 404, None),
    ("get", "/api/documents/no-such-statement", {}, 404, "document_not_found"),
    ("put", "/api/search", {}, 405, None),
    ("delete", "/api/health", {}, 405, None),
    ("post", "/api/stats", {"json": {}}, 405, None),
])
def test_errors_have_one_shape(client, method, url, kwargs, status, code):
    assert_error(getattr(client, method)(url, **kwargs), status, code)


def test_405_lists_the_allowed_methods(client):
    r = client.put("/api/search")
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["Allow"].split(",")}


def test_no_index_is_503_not_500(tmp_path):
    app = create_app({"TESTING": True, "SETTINGS": load_settings({"index": tmp_path / "missing"}, environ={})})
    client = app.test_client()
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
    validator("Health").validate(health.get_json())
    assert_error(client.get("/api/search?q=tax"), 503, "index_missing")
    page = client.get("/?q=tax")
    assert page.status_code == 503 and "rebuild-index" in page.get_data(as_text=True)


# -- the page ---------------------------------------------------------------------------------------
def test_empty_state_has_a_labelled_autofocused_box(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<label for="q">', html)
    assert re.search(r'<input id="q" name="q" type="search"[^>]*autofocus', html)
    assert 'method="get"' in html and "Search statements by meaning" in html
    assert "http://" not in html.replace('href="http', "") and "https://" not in html  # no CDN assets


def test_results_show_highlight_score_metadata_and_position(client, live):
    hit = live.get().search(QUESTION, k=1).hits[0]
    html = client.get("/", query_string={"q": QUESTION, "k": 1}).get_data(as_text=True)
    marked = re.sub(r"<[^>]+>", "", re.search(r"<p class=\"passage\">.*?<mark>(.*?)</mark>", html, re.S).group(1))
    assert unescape(marked) == hit.text[hit.highlight.start:hit.highlight.end]
    assert f"{hit.score:.3f}" in html
    assert f"paragraph {hit.paragraph} of {hit.of}" in html
    doc = hit.document
    assert (doc.title or doc.id) in unescape(html)
    for value in (doc.speaker, doc.date, doc.source):
        assert value is None or value in unescape(html)
    assert "Show context" in html and 'class="neighbour current"' in html


def test_corpus_text_is_escaped(client):
    html = client.get("/", query_string={"q": "price of rye bread"}).get_data(as_text=True)
    assert "bakery guild" in html
    assert "<script>" not in html and "<b>Bold" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    doc = client.get("/documents/mallory?hit=1&hl=0-20").get_data(as_text=True)
    assert "<script>" not in doc and "&lt;script&gt;" in doc and "<mark>" in doc


def test_document_page_anchors_and_highlights_the_hit(client, seed_doc_id):
    html = client.get(f"/documents/{seed_doc_id}?hit=2&hl=0-12&q=tax").get_data(as_text=True)
    para = re.search(r'<p id="p2" class="paragraph hit" aria-current="true">(.*?)</p>', html, re.S)
    assert para and "<mark>" in para.group(1)
    assert 'id="p1" class="paragraph"' in html  # other paragraphs are not marked


def test_result_links_to_the_anchored_document(client):
    html = client.get("/", query_string={"q": QUESTION, "k": 1}).get_data(as_text=True)
    link = unescape(re.search(r'<h2><span class="rank">1\.</span>\s*<a href="([^"]+)"', html).group(1))
    assert re.search(r"^/documents/[^?]+\?hit=\d+&hl=\d+-\d+&q=.+#p\d+$", link)


def test_pagination(client):
    first = client.get("/", query_string={"q": QUESTION, "k": 2}).get_data(as_text=True)
    second = client.get("/", query_string={"q": QUESTION, "k": 2, "offset": 2}).get_data(as_text=True)
    assert 'rel="next"' in first and "offset=2" in first and 'rel="prev"' not in first
    assert 'rel="prev"' in second and "Results 3–4" in second
    assert not set(hit_ids(first)) & set(hit_ids(second))


def test_no_results_state(client):
    r = client.get("/", query_string={"q": "zzqxvw", "mode": "keyword"})
    assert r.status_code == 200 and "No results" in r.get_data(as_text=True)


@pytest.mark.parametrize("query, message", [
    ({"q": "tax", "k": "lots"}, "k must be an integer"),
    ({"q": "x" * 1001}, "the limit is 1000"),
    ({"q": "tax", "mode": "magic"}, "mode must be one of"),
])
def test_invalid_input_page(client, query, message):
    r = client.get("/", query_string=query)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and message in unescape(html) and "Traceback" not in html
    assert 'role="alert"' in html


def test_unknown_page_is_a_friendly_404(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404 and r.mimetype == "text/html" and "Back to search" in r.get_data(as_text=True)
    assert client.get("/documents/none-such").status_code == 404


# -- weak matches and duplicates, rendered from a fixed response ------------------------------------
class StubSearcher:
    generation, passages = "stub-gen", 3

    def __init__(self, settings, response):
        self.settings, self.response = settings, response

    def search(self, query, k=None, offset=0, neighbours=False, mode=None, filters=None, sort="relevance",
               deadline=None, exact=False):
        return self.response


class StubLive:
    loading = False

    def __init__(self, searcher):
        self.searcher, self.settings = searcher, searcher.settings

    def get(self):
        return self.searcher


def _hit(pid, weak, duplicates=()):
    doc = DocumentInfo(id=f"doc{pid}", title=f"Title {pid}", speaker="A Speaker", date="2020-01-02")
    return SearchHit(id=pid, score=0.5, text="First sentence. Second <i>one</i>.", context="", highlight=Span(16, 34),
                     document=doc, paragraph=1, of=1, start=0, end=34, weak=weak, duplicates=duplicates)


def stub_client(hits, **extra):
    settings = load_settings({}, environ={})
    response = SearchResponse(query="q", hits=tuple(hits), took_ms=1.0, generation="stub-gen", passages=3,
                              k=10, offset=0, **extra)
    return create_app({"TESTING": True, "SETTINGS": settings,
                       "LIVE_SEARCHER": StubLive(StubSearcher(settings, response))}).test_client()


def test_weak_results_sit_below_a_no_strong_match_line():
    html = stub_client([_hit(1, False), _hit(2, True), _hit(3, True)]).get("/?q=q").get_data(as_text=True)
    line = html.index("No strong match below this line")
    assert html.index('id="hit-1"') < line < html.index('id="hit-2"')
    assert html.count("weak match</span>") == 2
    assert "<mark>Second &lt;i&gt;one&lt;/i&gt;.</mark>" in html


def test_all_weak_says_no_strong_match_first():
    html = stub_client([_hit(1, True)]).get("/?q=q").get_data(as_text=True)
    assert html.index("No strong match") < html.index('id="hit-1"')
    body = stub_client([_hit(1, True)]).get("/api/search?q=q").get_json()
    assert body["strong"] is False and body["results"][0]["weak"] is True


def test_duplicates_are_listed():
    other = DocumentInfo(id="copy-1", title="Reprint <1>", speaker="B", date="2020-02-02")
    html = stub_client([_hit(1, False, (other,))]).get("/?q=q").get_data(as_text=True)
    assert "Also in:" in html and 'href="/documents/copy-1"' in html and "Reprint &lt;1&gt;" in html


def test_facets_are_refinement_links():
    facets = {"speaker": (Facet("A Speaker", 2),), "year": (Facet("2020", 2),)}
    html = stub_client([_hit(1, False)], facets=facets).get("/?q=q").get_data(as_text=True)
    assert 'href="/?q=q&amp;speaker=A+Speaker"' in html
    assert 'href="/?q=q&amp;after=2020&amp;before=2020"' in html


def test_filter_chips_are_removable():
    html = stub_client([_hit(1, False)]).get("/?q=q&speaker=A&speaker=B&after=2020").get_data(as_text=True)
    assert 'href="/?q=q&amp;speaker=B&amp;after=2020" aria-label="Remove filter speaker: A"' in html
    assert 'href="/?q=q&amp;speaker=A&amp;speaker=B" aria-label="Remove filter after: 2020"' in html


# -- filters and facets through the API and the page ------------------------------------------------
MALLORY = "Mallory <b>Bold</b>"


def test_speaker_filter_in_query_string_and_body(client):
    got = client.get("/api/search", query_string={"q": QUESTION, "speaker": MALLORY}).get_json()
    posted = client.post("/api/search", json={"q": QUESTION, "speaker": [MALLORY]}).get_json()
    for body in (got, posted):
        assert body["results"] and {h["document"]["speaker"] for h in body["results"]} == {MALLORY}
        assert body["filters"]["speaker"] == [MALLORY]
        validator("SearchResponseBody").validate(body)


def test_date_filter_and_facets(client):
    body = client.get("/api/search", query_string={"q": "bread", "after": "2021", "before": "2021-12"}).get_json()
    assert body["results"] and all(h["document"]["date"].startswith("2021") for h in body["results"])
    assert body["facets"]["year"] and {f["value"] for f in body["facets"]["year"]} == {"2021"}
    validator("SearchResponseBody").validate(body)


@pytest.mark.parametrize("query, code", [
    ({"after": "2021-13-01"}, "invalid_after"), ({"before": "yesterday"}, "invalid_before"),
    ({"after": "2022", "before": "2021"}, "invalid_date_range"), ({"sort": "random"}, "invalid_sort"),
])
def test_bad_filters_are_400(client, query, code):
    assert_error(client.get("/api/search", query_string={"q": "bread", **query}), 400, code)


def test_page_filter_bar_keeps_the_question(client):
    html = client.get("/", query_string={"q": "bread", "speaker": MALLORY, "sort": "newest"}).get_data(as_text=True)
    assert 'value="bread"' in html and "Remove filter speaker" in html
    assert '<input type="hidden" name="speaker" value="Mallory &lt;b&gt;Bold&lt;/b&gt;">' in html
    assert '<option value="newest" selected>' in html
    assert hit_ids(html)


def test_an_unexpected_failure_is_a_clean_500():
    class Broken(StubSearcher):
        def search(self, *args, **kwargs):
            raise RuntimeError("disk on fire")

    settings = load_settings({}, environ={})
    client = create_app({"SETTINGS": settings, "LIVE_SEARCHER": StubLive(Broken(settings, None))}).test_client()
    assert_error(client.get("/api/search?q=tax"), 500, "internal_error")
    page = client.get("/?q=tax")
    assert page.status_code == 500 and "disk on fire" not in page.get_data(as_text=True)


def test_openapi_limits_follow_environment_overrides(monkeypatch):
    monkeypatch.setenv("STATEMENT_SEARCH_MAX_K", "42")
    monkeypatch.setenv("STATEMENT_SEARCH_MAX_OFFSET", "7")
    doc = create_app({"TESTING": True, "LOAD_INDEX": False}).test_client().get("/api/openapi.json").get_json()
    fields = doc["components"]["schemas"]["SearchRequest"]["properties"]
    assert fields["k"]["maximum"] == 42 and fields["offset"]["maximum"] == 7
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/search"]["get"]["parameters"]}
    assert params["k"]["maximum"] == 42
    assert doc["servers"] == [{"url": "/"}]


def test_every_api_route_is_documented_and_every_documented_path_is_served():
    """The route table is the one source of both: Flask's URL map and the OpenAPI paths agree, methods too."""
    app = create_app({"TESTING": True, "LOAD_INDEX": False})
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            served.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    doc = app.test_client().get("/api/openapi.json").get_json()
    documented = {path: set(ops) for path, ops in doc["paths"].items()}
    assert served == documented
    assert {"/api/search", "/api/verify", "/api/passages/{id}/cite", "/api/documents/{id}"} <= set(served)
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for op in ops.values():  # each path variable is a required path parameter of every operation
            assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == names
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_route_table_refuses_a_second_entry_for_one_route():
    table = RouteTable()
    table.get("/x/<int:id>", "x", "X", responses={"200": Reply("x")})(lambda id: "")
    with pytest.raises(ValueError, match="already in the route table"):
        table.get("/x/<int:id>", "other", "X", responses={"200": Reply("x")})(lambda id: "")
    with pytest.raises(ValueError, match="already in the route table"):
        table.post("/y", "x", "X", responses={"200": Reply("x")})(lambda: "")
    assert table.endpoints[0].path == "/x/{id}"
    assert table.endpoints[0].path_parameters() == [{"name": "id", "in": "path", "required": True,
                                                     "schema": {"type": "integer", "minimum": 0}}]


# -- fact-checker routes (issue 14) -----------------------------------------------------------------
ALTERED = "Telegram deletes thousands of harmful posts and channels every day"


def test_verify_round_trip_matches_the_openapi_document(client):
    response = client.post("/api/verify", json={"quote": ALTERED})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    validator("VerifyResponse").validate(body)
    assert body["verdict"] == "altered"
    best = body["matches"][0]
    assert {"op": "replace", "quote": "thousands", "source": "millions"} in best["diff"]
    assert best["citation"]["passage"] == best["id"]
    validator("VerifyRequest").validate({"quote": ALTERED, "speaker": ["x"], "after": "2020"})


def test_verify_respects_filters(client):
    body = client.post("/api/verify", json={"quote": ALTERED, "before": "2000"}).get_json()
    assert body["verdict"] == "not_found" and body["matches"] == [] and body["filters"]["before"] == "2000-12-31"


def test_search_returns_matches_citations_and_timeline(client):
    body = client.get("/api/search", query_string={"q": '"encryption keys" Russia', "k": 5}).get_json()
    validator("SearchResponseBody").validate(body)
    assert body["results"]
    for hit in body["results"]:
        assert "encryption keys" in hit["text"].replace("“", "").replace("”", "")
        spans = [hit["text"][m["start"]:m["end"]] for m in hit["matches"]]
        assert "encryption keys" in spans
        assert hit["citation"]["sha256"] == hashlib.sha256(hit["text"].encode()).hexdigest()
    years = body["timeline"]["years"]
    assert sum(y["total"] for y in years) == sum(f["count"] for f in body["facets"]["year"])


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_phrases_and_exclusions_in_every_mode(client, mode):
    body = client.get("/api/search", query_string={"q": "Telegram -Russia", "mode": mode, "k": 20}).get_json()
    assert body["results"] and all("russia" not in h["text"].lower() for h in body["results"])
    body = client.get("/api/search", query_string={"q": '"harmful posts"', "mode": mode}).get_json()
    assert [h for h in body["results"] if "harmful posts" in h["text"]] == body["results"] != []


def test_cite_formats(client):
    hit = client.get("/api/search", query_string={"q": QUESTION, "k": 1}).get_json()["results"][0]
    url = f"/api/passages/{hit['id']}/cite"
    as_json = client.get(url).get_json()
    validator("Citation").validate(as_json)
    assert as_json == hit["citation"]
    text = client.get(url, query_string={"format": "text"})
    assert text.mimetype == "text/plain" and as_json["sha256"] in text.get_data(as_text=True)
    csl = client.get(url, query_string={"format": "csl-json"})
    assert csl.mimetype == "application/vnd.citationstyles.csl+json" and json.loads(csl.data)[0]["type"] == "speech"
    bib = client.get(url, query_string={"format": "bibtex"}).get_data(as_text=True)
    assert bib.startswith("@misc{") and f"paragraph {hit['position']['paragraph']}" in bib.lower()


def test_search_downloads(client):
    csv_response = client.get("/api/search", query_string={"q": QUESTION, "k": 3, "format": "csv"})
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert 'filename="statement-search-results.csv"' in csv_response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True))))
    ids = [h["id"] for h in client.get("/api/search", query_string={"q": QUESTION, "k": 3}).get_json()["results"]]
    assert len(rows) == len(ids) == 3 and [r["rank"] for r in rows] == ["1", "2", "3"]
    jsonl = client.post("/api/search", json={"q": QUESTION, "k": 2, "format": "jsonl"})
    assert jsonl.mimetype == "application/x-ndjson"
    assert [json.loads(line)["rank"] for line in jsonl.get_data(as_text=True).splitlines()] == [1, 2]


@pytest.mark.parametrize("method, url, kwargs, code", [
    ("post", "/api/verify", {"json": {"quote": ""}}, "invalid_quote"),
    ("post", "/api/verify", {"json": {"quote": "   "}}, "invalid_quote"),
    ("post", "/api/verify", {"json": {}}, "invalid_quote"),
    ("post", "/api/verify", {"json": {"quote": 5}}, "invalid_quote"),
    ("post", "/api/verify", {"json": {"quote": "x" * 10_000}}, "quote_too_long"),
    ("post", "/api/verify", {"json": {"quote": "hello", "k": 3}}, "unknown_parameter"),
    ("post", "/api/verify", {"json": {"quote": "hello", "after": "2020-02-31"}}, "invalid_after"),
    ("post", "/api/verify", {"data": "quote=x", "content_type": "text/plain"}, "invalid_content_type"),
    ("get", '/api/search?q="the of" Telegram', {}, "stopword_phrase"),
    ("get", "/api/search?q=-Telegram", {}, "invalid_query"),
    ("get", "/api/search?q=tax&format=xml", {}, "invalid_format"),
    ("get", "/api/passages/0/cite?format=mla", {}, "invalid_format"),
])
def test_factcheck_bad_input_is_400(client, method, url, kwargs, code):
    assert_error(getattr(client, method)(url, **kwargs), 400, code)


def test_unknown_passage_is_404(client):
    assert_error(client.get("/api/passages/99999/cite"), 404, "passage_not_found")
    assert_error(client.get(f"/api/passages/{2**100}/cite"), 404, "passage_not_found")  # past SQLite's 64 bits


def test_page_marks_keywords_links_citations_downloads_and_timeline(client):
    html = client.get("/", query_string={"q": '"encryption keys" Russia'}).get_data(as_text=True)
    assert '<b class="kw">encryption keys</b>' in html
    assert 'data-cite' in html and "/cite?format=text" in html
    assert "format=csv" in html and "format=jsonl" in html
    assert '<svg class="timeline"' in html and "after=2024" in html


def test_verify_page(client):
    html = client.get("/verify", query_string={"quote": ALTERED}).get_data(as_text=True)
    assert 'data-verdict="altered"' in html and "<del" in html and ">millions</del>" in html
    assert ">thousands</ins>" in html
    bad = client.get("/verify", query_string={"quote": "x" * 10_000})
    assert bad.status_code == 400 and "limit is 1000" in bad.get_data(as_text=True)
    assert client.get("/verify").status_code == 200


@pytest.mark.parametrize("params", [{"q": QUESTION}, {"q": QUESTION, "context": "true", "k": 3, "offset": 1},
                                    {"q": "alert(1) script", "mode": "keyword"}, {"q": '"privacy" -encryption'},
                                    {"q": "Дуров и Telegram", "after": "2000"}])
def test_search_json_is_the_compact_dump_of_its_model(client, live, params):
    """/api/search writes its model with pydantic-core in one pass (web/api.reply): the text is what Flask's
    compact json.dumps of `dump` gave (key order, separators, non-ASCII as is), ending in a newline."""
    r = client.get("/api/search", query_string=params)
    assert r.status_code == 200 and r.mimetype == "application/json" and r.data.endswith(b"}\n")
    assert r.data.decode() == json.dumps(r.get_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
    from web.schemas import SearchResponseBody, dump_json

    response = live.get().search(params["q"], k=3, neighbours=True)
    model = SearchResponseBody.of(response, neighbours=True)
    assert dump_json(model) == json.dumps(dump(model), ensure_ascii=False, separators=(",", ":"))


def test_verify_json_is_the_compact_dump_of_its_model(client):
    r = client.post("/api/verify", json={"quote": "privacy and security matter"})
    assert r.status_code == 200 and r.data.endswith(b"}\n")
    assert r.data.decode() == json.dumps(r.get_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
