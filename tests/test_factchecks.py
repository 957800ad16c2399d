"""Published fact-checks (ClaimReview): reading HTML (JSON-LD, microdata) and record files, linking claims to
passages with the quote check's rules, hits and verdicts that show the check, the checked= filter, and the
verdict as valid ClaimReview JSON-LD (against a vendored subset of the schema.org vocabulary)."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from search.errors import SearchError
from search.factchecks import FactCheckStore, read_file
from search.sidecar import session

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "factchecks"
VOCABULARY = json.loads((DATA / "schemaorg-claimreview.json").read_text())
SEED_ID = "durov-2024-09-06"
RUSSIA = "When Russia asked us to hand over encryption keys for surveillance, we refused"


def test_html_page_gives_its_json_ld_and_microdata_reviews():
    page = FIXTURES / "review-page.html"
    records = read_file(page, page.read_bytes(), 1 << 20)
    by_author = {r["author"]: r for r in records}
    assert set(by_author) == {"Example Fact Desk", "Checkers Network"}
    ld = by_author["Example Fact Desk"]
    assert ld["claim"] == RUSSIA and ld["date"] == "2024-09-10" and ld["rating"] == "Mostly true"
    assert ld["claimant"] == "Pavel Durov" and ld["claim_date"] == "2024-09-06" and ld["best_rating"] == "5"
    md = by_author["Checkers Network"]  # microdata, nested Organization / Rating / Claim items
    assert md["claim"].startswith("Telegram takes down") and md["rating"] == "Unproven"
    assert md["url"] == "https://checkers.example.net/telegram-moderation" and md["date"] == "2024-09-12"
    assert md["claimant"] == "Pavel Durov"


def test_record_files_flat_and_nested():
    jsonl = read_file(FIXTURES / "records.jsonl", (FIXTURES / "records.jsonl").read_bytes(), 1 << 20)
    assert [r["rating"] for r in jsonl] == ["True", "1 of 5"]
    assert [r["claimant"] for r in jsonl] == ["Pavel Durov", "Someone"] and jsonl[1]["author"] == "Third Desk"
    rows = read_file(FIXTURES / "records.csv", (FIXTURES / "records.csv").read_bytes(), 1 << 20)
    assert rows[0]["author"] == "CSV Desk" and rows[0]["rating"] == "Accurate"


@pytest.mark.parametrize("name, content, code, where", [
    ("a.jsonl", b'{"claimReviewed": "x", "author": "A", "url": "https://e.org/1"}\n{"claimReviewed": "y"}\n',
     "invalid_factcheck", "line 2"),
    ("a.jsonl", b'{"claimReviewed": "x", "author": "A", "url": "javascript:alert(1)"}\n', "invalid_factcheck",
     "line 1"),
    ("a.csv", b"claimReviewed,author,rating\nx,A,True\n", "unknown_column", "'rating'"),
    ("a.csv", b"claimReviewed,author,url\nx,A,https://e.org\n\xff,B,https://e.org/2\n", "invalid_encoding", "line 3"),
    ("a.html", b"<html><body><p>No markup here</p></body></html>", "no_factchecks", "a.html"),
    ("a.txt", b"claimReviewed", "invalid_format", "a.txt"),
    ("a.jsonl", b"", "empty_file", "a.jsonl"),
])
def test_bad_fact_check_files_are_refused_naming_the_record(name, content, code, where):
    with pytest.raises(SearchError) as err:
        read_file(Path(name), content, 1 << 20)
    assert err.value.code == code and where in err.value.message


@pytest.fixture(scope="module")
def fc_index(seed_index, tmp_path_factory):
    """A copy of the seed index with its own fact-check store beside it (the shared seed index stays clean)."""
    root = tmp_path_factory.mktemp("factchecks")
    generation = Path(os.path.realpath(seed_index))
    shutil.copytree(generation, root / generation.name)
    (root / "index").symlink_to(generation.name)
    return root / "index"


@pytest.fixture(scope="module")
def added(fc_index):
    from web.cli import main

    files = [str(FIXTURES / n) for n in ("review-page.html", "records.jsonl", "records.csv")]
    result = CliRunner().invoke(main, ["factchecks", "add", *files, "--index", str(fc_index)])
    assert result.exit_code == 0, result.output
    return result


def test_factchecks_add_links_claims_by_the_quote_rules(added, fc_index):
    assert "records.jsonl: 2 fact-checks, 1 linked" in added.output  # the invented claim links nothing
    store = FactCheckStore.beside(fc_index)
    items, total = store.all()
    assert total == 5
    linked = {fc.author: n for fc, n in items}
    assert linked["Example Fact Desk"] >= 1 and linked["Checkers Network"] >= 1 and linked["CSV Desk"] >= 1
    with session(store.path) as db:
        verdicts = {r[0]: r[1] for r in db.execute(
            "SELECT f.author, l.verdict FROM factcheck_links l JOIN factchecks f ON f.id = l.factcheck")}
    assert verdicts["Example Fact Desk"] == "verbatim" and verdicts["Checkers Network"] == "paraphrase"
    assert verdicts["Third Desk"] == "verbatim"
    listed = CliRunner().invoke(__import__("web.cli", fromlist=["main"]).main,
                                ["factchecks", "list", "--index", str(fc_index), "--json"])
    body = json.loads(listed.stdout)
    assert body["total"] == 5 and body["fact_checks"][0]["label"].startswith("checked by ")


def test_adding_a_file_with_a_bad_record_stores_nothing(fc_index, tmp_path, added):
    from web.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"claimReviewed": "ok", "author": "A", "url": "https://a.example/1"}\n{"author": "B"}\n')
    before = FactCheckStore.beside(fc_index).all()[1]
    result = CliRunner().invoke(main, ["factchecks", "add", str(FIXTURES / "records.csv"), str(bad),
                                       "--index", str(fc_index)])
    assert result.exit_code == 2 and "bad.jsonl line 2" in result.stderr
    assert FactCheckStore.beside(fc_index).all()[1] == before


@pytest.fixture(scope="module")
def fc_searcher(fc_index, added, embedder):
    from search.searcher import Searcher
    from search.settings import load_settings

    return Searcher.load(load_settings({"index": fc_index}, environ={}), embedder)


def test_hits_show_the_check_and_the_checked_filter_splits_them(fc_searcher):
    from search.filters import make_filters

    everything = fc_searcher.search("encryption keys Russia surveillance", k=20).hits
    russia = next(h for h in everything if "encryption keys" in h.text)
    labels = [fc.label for fc in russia.fact_checks]
    assert "checked by Example Fact Desk on 2024-09-10: Mostly true" in labels
    checked = fc_searcher.search("encryption keys Russia surveillance", k=20, filters=make_filters(checked="yes")).hits
    unchecked = fc_searcher.search("encryption keys Russia surveillance", k=20,
                                   filters=make_filters(checked="no")).hits
    assert checked and all(h.fact_checks for h in checked)
    assert unchecked and not any(h.fact_checks for h in unchecked)
    assert {h.id for h in checked} | {h.id for h in unchecked} >= {h.id for h in everything}
    with pytest.raises(SearchError) as err:
        make_filters(checked="maybe")
    assert err.value.code == "invalid_checked"


def test_verify_result_shows_the_published_check(fc_searcher):
    from search.verify import verify

    result = verify(fc_searcher, "When Russia asked us to hand over encryption keys, we refused")
    assert result.verdict in ("verbatim", "altered")
    assert any(fc.author == "Example Fact Desk" and fc.url.startswith("https://factcheck.example.org")
               for fc in result.matches[0].fact_checks)


def test_cli_query_shows_the_check_and_filters(fc_index, added):
    from web.cli import main

    shown = CliRunner().invoke(main, ["query", "encryption keys Russia", "--index", str(fc_index), "--checked", "yes"])
    assert shown.exit_code == 0, shown.output
    assert "checked by Example Fact Desk on 2024-09-10: Mostly true <https://factcheck.example.org" in shown.stdout
    bad = CliRunner().invoke(main, ["query", "x", "--index", str(fc_index), "--checked", "maybe"])
    assert bad.exit_code == 2


# -- API ---------------------------------------------------------------------------------------------------
@pytest.fixture
def fc_client(fc_index, added, embedder):
    from search.live import LiveSearcher
    from search.settings import load_settings
    from web import create_app

    live = LiveSearcher(load_settings({"index": fc_index}, environ={}), embedder).load()
    return create_app({"TESTING": True, "SETTINGS": live.settings, "LIVE_SEARCHER": live}).test_client()


def test_api_hits_checked_filter_and_list(fc_client):
    from test_web import assert_error, validator

    body = fc_client.get("/api/search?q=encryption+keys+Russia&checked=yes").get_json()
    validator("SearchResponseBody").validate(body)
    assert body["results"] and all(h["fact_checks"] for h in body["results"])
    assert body["filters"]["checked"] == "yes"
    first = body["results"][0]["fact_checks"][0]
    assert first["label"].startswith("checked by ") and first["url"].startswith("https://")
    none = fc_client.get("/api/search?q=encryption+keys+Russia&checked=no").get_json()
    assert not any("fact_checks" in h for h in none["results"])
    assert_error(fc_client.get("/api/search?q=x&checked=maybe"), 400, "invalid_checked")
    listed = fc_client.get("/api/factchecks?limit=2").get_json()
    validator("FactCheckList").validate(listed)
    assert listed["total"] == 5 and len(listed["fact_checks"]) == 2
    assert_error(fc_client.get("/api/factchecks?limit=0"), 400, "invalid_limit")


def test_api_verify_shows_the_check(fc_client):
    from test_web import validator

    body = fc_client.post("/api/verify", json={"quote": RUSSIA}).get_json()
    validator("VerifyResponse").validate(body)
    assert any(fc["author"] == "Example Fact Desk" for fc in body["fact_checks"])
    assert body["matches"][0]["fact_checks"]


# -- ClaimReview output --------------------------------------------------------------------------------------
def test_vendored_vocabulary_names_only_schema_org_terms():
    from rdflib.namespace import (
        SDO,  # rdflib (an extruct dependency) ships schema.org's term list
    )

    terms = set(SDO.__annotations__) | set(getattr(SDO, "_extras", []))
    names = (set(VOCABULARY["classes"]) | set(VOCABULARY["datatypes"]) | set(VOCABULARY["properties"])
             | {t for p in VOCABULARY["properties"].values() for t in p["domain"] + p["range"]})
    assert names <= terms, names - terms


def _ancestors(kind: str) -> set[str]:
    out = set()
    table = {**VOCABULARY["classes"], **VOCABULARY["datatypes"]}
    while kind:
        out.add(kind)
        kind = table.get(kind)
    return out


def _literal_fits(value, ranges: list[str]) -> bool:
    checks = {"Text": lambda v: isinstance(v, str),
              "URL": lambda v: isinstance(v, str) and re.match(r"https?://\S+$", v),
              "Number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "Date": lambda v: isinstance(v, str) and re.match(r"\d{4}(-\d{2}(-\d{2})?)?$", v),
              "DateTime": lambda v: isinstance(v, str) and re.match(r"\d{4}-\d{2}-\d{2}T", v)}
    return any(checks[r](value) for r in ranges if r in checks)


def schema_errors(node: dict, path: str = "$") -> list[str]:
    """Every @type known; every property known, allowed on the node's type, with a value in its range."""
    errors = []
    kind = node.get("@type")
    if kind not in VOCABULARY["classes"]:
        return [f"{path}: unknown type {kind!r}"]
    for key, value in node.items():
        if key in ("@context", "@type"):
            continue
        prop = VOCABULARY["properties"].get(key)
        if prop is None:
            errors.append(f"{path}.{key}: not a property in the vocabulary")
            continue
        if not _ancestors(kind) & set(prop["domain"]):
            errors.append(f"{path}.{key}: not a property of {kind}")
        for i, v in enumerate(value if isinstance(value, list) else [value]):
            where = f"{path}.{key}[{i}]"
            if isinstance(v, dict):
                if not _ancestors(v.get("@type", "")) & set(prop["range"]):
                    errors.append(f"{where}: a {v.get('@type')} is not in the range {prop['range']}")
                errors += schema_errors(v, where)
            elif not _literal_fits(v, prop["range"]):
                errors.append(f"{where}: {v!r} is not one of {prop['range']}")
    return errors


def test_the_validator_catches_wrong_markup():
    bad = {"@context": "https://schema.org", "@type": "ClaimReview", "claimReviewed": 5,
           "reviewRating": {"@type": "Person", "name": "x"}, "ratingValue": 3, "appearance": []}
    errors = schema_errors(bad)
    assert any("claimReviewed" in e for e in errors) and any("Person is not in the range" in e for e in errors)
    assert any("ratingValue: not a property of ClaimReview" in e for e in errors)
    assert any("appearance: not a property of ClaimReview" in e for e in errors)


@pytest.mark.parametrize("quote, verdict", [
    ("When Russia asked us to hand over encryption keys for surveillance, we agreed.", "altered"),
    ("Balancing privacy and security is not easy.", "verbatim"),
    ("Telegram plans to move its headquarters from Dubai to Paris next year.", "not_found"),
])
def test_claimreview_output_is_valid_schema_org(seed_searcher, quote, verdict):
    from search.claimreview import claim_review
    from search.verify import verify

    result = verify(seed_searcher, quote)
    assert result.verdict == verdict
    review = claim_review(result, seed_searcher.generation)
    assert review["@context"] == "https://schema.org" and review["claimReviewed"] == quote
    assert schema_errors(review) == []
    assert review["reviewRating"]["ratingValue"] == {"verbatim": 4, "altered": 2, "not_found": 1}[verdict]
    if verdict != "not_found":
        assert review["itemReviewed"]["appearance"][0]["identifier"].startswith(SEED_ID)
    if verdict == "verbatim":
        assert review["itemReviewed"]["firstAppearance"]["datePublished"] == "2024-09-06"


def test_claimreview_from_cli_and_api(fc_index, added, fc_client):
    from web.cli import main

    cli = CliRunner().invoke(main, ["verify", RUSSIA, "--index", str(fc_index), "--format", "claimreview"])
    assert cli.exit_code == 0, cli.output
    assert schema_errors(json.loads(cli.stdout)) == []
    api = fc_client.post("/api/verify", json={"quote": RUSSIA, "format": "claimreview"})
    assert api.status_code == 200 and api.mimetype == "application/ld+json"
    body = api.get_json(force=True)
    assert schema_errors(body) == [] and body["reviewRating"]["alternateName"] == "Said word for word"


def test_search_page_shows_the_check_and_the_filter(fc_client):
    page = fc_client.get("/?q=encryption+keys+Russia&checked=yes").get_data(as_text=True)
    assert 'name="checked"' in page and '<option value="yes" selected>' in page
    assert "checked by Example Fact Desk on 2024-09-10: Mostly true" in page
    assert 'href="https://factcheck.example.org/2024/09/telegram-russia-keys"' in page
    verify_page = fc_client.get("/verify?quote=" + RUSSIA.replace(" ", "+")).get_data(as_text=True)
    assert "checked by Example Fact Desk" in verify_page


def test_batch_rows_carry_the_published_check(fc_searcher, tmp_path):
    from search.batch import rows_of, run_job
    from search.claims import parse_claims
    from search.jobs import JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    text = f"quote\n\"{RUSSIA}\"\nTelegram plans to move its headquarters to Paris next year.\n"
    claims = parse_claims(text.encode(), "csv", 10, 1000)
    job = store.create(claims, "c.csv", "csv")
    store.claim("me", 60)
    run_job(store, job.id, "me", lambda: fc_searcher, 60)
    found, missing = rows_of(store.results(job.id))
    assert found.checked_by == "Example Fact Desk" and found.rating == "Mostly true"
    assert found.check_url.startswith("https://factcheck.example.org") and found.checked_on == "2024-09-10"
    assert missing.checked_by is None


def test_relink_checks_every_claim_again(fc_index, added):
    from web.cli import main

    store = FactCheckStore.beside(fc_index)
    before = {fc.id: n for fc, n in store.all()[0]}
    with session(store.path) as db:
        db.execute("DELETE FROM factcheck_links")  # as if the passages had changed (another connection)
    assert all(n == 0 for _, n in store.all()[0])
    result = CliRunner().invoke(main, ["factchecks", "relink", "--index", str(fc_index)])
    assert result.exit_code == 0, result.output
    assert "5 fact-checks, 4 linked" in result.stdout
    assert {fc.id: n for fc, n in store.all()[0]} == before


def test_a_statement_added_later_is_linked_to_a_kept_claim(tmp_path):
    """Every new generation (here `add`) links the kept fact-checks again: a claim no statement made when it
    was added is shown on the statement that makes it later, without `factchecks relink`."""
    from conftest import SEED_CORPUS

    from web.cli import main

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEED_CORPUS, corpus)
    runner = CliRunner()
    assert runner.invoke(main, ["rebuild-index", "--corpus", str(corpus), "--index", str(index), "--quiet"]).exit_code == 0
    result = runner.invoke(main, ["factchecks", "add", str(FIXTURES / "records.jsonl"), "--index", str(index)])
    assert result.exit_code == 0, result.output
    store = FactCheckStore.beside(index)
    moved = next(fc for fc, _ in store.all()[0] if "headquarters" in fc.claim)
    assert dict((fc.id, n) for fc, n in store.all()[0])[moved.id] == 0  # nobody said it yet
    later = tmp_path / "later.txt"
    later.write_text("Speaker: Someone\nTitle: Plans\nDate: 2024-10-01\n\n"
                     "Telegram plans to move its headquarters from Dubai to Paris next year.\n")
    result = runner.invoke(main, ["add", str(later), "--index", str(index), "--corpus", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "fact-checks: 2 checked again" in result.output
    assert dict((fc.id, n) for fc, n in store.all()[0])[moved.id] == 1


def _store_with_links(tmp_path, n_keys: int) -> tuple[FactCheckStore, list[tuple[str, str]]]:
    """A store holding three fact-checks (dates 2020, 2022, undated) linked to `n_keys` passages: every key
    to the 2020 one, even keys also to the 2022 one, keys divisible by 3 to the undated one."""
    from search.factchecks import Link

    store = FactCheckStore(tmp_path / "fc.sqlite")
    made = store.add([{"claim": f"claim {d}", "author": "Desk", "url": f"https://example.org/{d}", "date": d,
                       "rating": "False", "claimant": None, "claim_date": None, "rating_value": None,
                       "best_rating": None, "worst_rating": None} for d in ("2020-01-01", "2022-01-01", None)],
                      origin="test")
    keys = [(f"doc{i % 7}", f"{i:064x}") for i in range(n_keys)]
    old, new, undated = made
    store.set_links(old.id, [Link(old.id, d, h, "verbatim", 1.0) for d, h in keys])
    store.set_links(new.id, [Link(new.id, d, h, "verbatim", 1.0) for d, h in keys[::2]])
    store.set_links(undated.id, [Link(undated.id, d, h, "verbatim", 1.0) for d, h in keys[::3]])
    return store, keys


def test_fact_checks_for_many_passages_in_one_read_match_one_query_per_passage(tmp_path, monkeypatch):
    import search.factchecks as fc

    store, keys = _store_with_links(tmp_path, 23)
    unknown = [("doc-none", "0" * 64), (keys[1][0], "f" * 64)]  # an unknown statement; a known one, other text
    asked = keys + unknown + keys[:3]  # repeated keys are answered once
    with session(store.path) as db:
        expected = {}
        for doc_id, sha in keys:
            rows = db.execute("SELECT f.id FROM factcheck_links l JOIN factchecks f ON f.id = l.factcheck "
                              "WHERE l.doc_id = ? AND l.sha256 = ? ORDER BY f.date DESC, f.id DESC",
                              (doc_id, sha)).fetchall()
            expected[(doc_id, sha)] = [r[0] for r in rows]
    for chunk in (fc.IN_PAIRS, 5):  # one query, then several (the chunking at its edge)
        monkeypatch.setattr(fc, "IN_PAIRS", chunk)
        found = store.for_passages(asked)
        assert {k: [f.id for f in v] for k, v in found.items()} == expected
    assert [len(expected[k]) for k in keys[:4]] == [3, 1, 2, 2] and unknown[0] not in found
    assert store.for_passages([]) == {}


def test_the_store_keeps_one_reader_per_thread_that_sees_other_writers_and_closes(tmp_path):
    import threading

    store, keys = _store_with_links(tmp_path, 4)
    first = store._read()
    assert store._read() is first and len(store.for_passages(keys)) == 4
    other: list = []
    thread = threading.Thread(target=lambda: other.append(store._read()))
    thread.start()
    thread.join(timeout=30)
    assert other and other[0] is not first
    with session(store.path) as db:  # a write by another connection (another process's, say)
        db.execute("DELETE FROM factcheck_links WHERE sha256 = ?", (keys[0][1],))
    assert keys[0] not in store.for_passages(keys) and len(store.for_passages(keys)) == 3
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        first.execute("SELECT 1")
    assert len(store.for_passages(keys)) == 3  # reading after close opens a new reader
    store.close()
