"""Saved searches and percolation (search/watchlists.py, search/percolate.py): real model, real index."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import wait_until

from index import layout
from index.build import build_index
from index.update import add_statements, remove_statements
from search.errors import Conflict, NotFound, SearchError
from search.percolate import new_passage_ids, percolate
from search.searcher import Searcher
from search.settings import load_settings
from search.watchlists import WatchlistStore, make_saved_search

NEW_TEXT = ("Title: Lighthouse log\nSpeaker: Keeper Anwen\nDate: 2024-05-01\n\n"
            "On Vell Island the lighthouse keeper counted 417 puffins at dawn.\n\n"
            "The fog horn was repaired by the harbour master. It sounded twice at noon.\n")
OTHER_TEXT = ("Title: Harbour notice\nSpeaker: Harbour Master Ines\nDate: 2023-02-11\n\n"
              "The ferry to the mainland leaves at seven every morning except on public holidays.\n")
QUESTION = "how many puffins did the lighthouse keeper count?"
ENV = {"STATEMENT_SEARCH_EMBEDDING_BACKEND": "torch"}


def settings_for(index: Path, **more):
    return load_settings({"index": index, **more}, environ={})


def save(store: WatchlistStore, settings, name: str, question: str, **filters):
    n, q, mode, f = make_saved_search(settings, name, question, filters.pop("mode", None), **filters)
    return store.add(n, q, mode, f)


@pytest.fixture
def built(tmp_path, corpus, embedder):
    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    return corpus, index


def test_saved_searches_live_beside_the_index_and_survive_a_rebuild(built, embedder):
    corpus, index = built
    settings = settings_for(index)
    assert settings.watchlists_path == index.parent / "index.watchlists.sqlite"
    store = WatchlistStore(settings.watchlists_path)
    save(store, settings, "puffins", QUESTION, speaker=["Keeper Anwen"], after="2020")
    build_index(corpus, index, embedder)  # a new generation; the old one is cleaned up later
    layout.cleanup(index, keep=1)
    got = WatchlistStore(settings.watchlists_path).get("puffins")
    assert got.question == QUESTION and got.filters.speakers == ("Keeper Anwen",) and got.filters.after == "2020-01-01"
    assert [p.name for p in index.parent.iterdir() if p.name.startswith(".index.gen-")]  # generations beside it


def test_bad_input_is_refused_and_nothing_is_stored(tmp_path):
    settings = settings_for(tmp_path / "index")
    store = WatchlistStore(settings.watchlists_path)
    save(store, settings, "one", "encryption keys")
    with pytest.raises(Conflict):
        save(store, settings, "one", "something else")
    bad = [dict(name="two", question=""), dict(name="two", question="x" * (settings.max_query_chars + 1)),
           dict(name="two", question="ok", after="2020-13-01"), dict(name="two", question="ok", mode="fuzzy"),
           dict(name="bad name!", question="ok"), dict(name="", question="ok"),
           dict(name="two", question='"the of"'), dict(name="two", question="ok", after="2021", before="2020")]
    for case in bad:
        with pytest.raises(SearchError) as err:
            make_saved_search(settings, **case)
        assert err.value.code != "invalid_request" or case  # each names what is wrong
    with pytest.raises(SearchError):
        store.add("three", "ok", "hybrid", make_saved_search(settings, "x", "ok")[3], secret="s" * 20)  # no URL
    with pytest.raises(NotFound):
        store.remove("missing")
    assert [s.name for s in store.all()] == ["one"]


def test_add_records_a_new_match_once_and_remove_records_nothing(built, embedder, tmp_path):
    corpus, index = built
    settings = settings_for(index)
    store = WatchlistStore(settings.watchlists_path)
    save(store, settings, "puffins", QUESTION)
    save(store, settings, "elsewhere", QUESTION, speaker=["Somebody Else"])  # filtered out
    save(store, settings, "phrase", '"fog horn" -puffins')                   # phrase + exclusion
    save(store, settings, "russian", QUESTION, language=["ru"])               # another language: filtered out
    save(store, settings, "english", QUESTION, language=["en"])
    new = tmp_path / "lighthouse.txt"
    new.write_text(NEW_TEXT)

    before = layout.current_generation(index)
    report = add_statements([new], index, embedder)
    current = report.path
    assert len(new_passage_ids(before, current)) == report.passages_added == 2
    result = percolate(store, current, before, settings, embedder)
    assert result.new_passages == 2 and result.searches == 5
    puffins = sorted(store.matches("puffins"), key=lambda m: -m.score)
    assert {m.doc_id for m in puffins} == {"lighthouse"} and "417 puffins" in puffins[0].text
    assert puffins[0].new and puffins[0].paragraph == 1 and puffins[0].speaker == "Keeper Anwen"
    # the same "strong match" rule as the search: what it shows above the line, percolation recorded
    shown = Searcher(index, settings, embedder).search(QUESTION, k=20)
    assert {m.paragraph for m in puffins} == {h.paragraph for h in shown.hits
                                              if h.document.id == "lighthouse" and not h.weak}
    assert store.matches("elsewhere") == [] and store.matches("russian") == []
    assert {m.paragraph for m in store.matches("english")} == {m.paragraph for m in puffins}
    fog = store.matches("phrase")
    assert [m.paragraph for m in fog] == [2]
    assert store.get("puffins").new == len(puffins)

    # the same generation again: nothing twice
    again = percolate(store, current, before, settings, embedder)
    assert again.skipped and again.matches == 0 and len(store.matches("puffins")) == len(puffins)

    # re-adding the same statement unchanged: its passages are not new content, no second alert
    before = current
    report = add_statements([new], index, embedder)
    current = report.path
    assert len(new_passage_ids(before, current)) == 0
    assert percolate(store, current, before, settings, embedder).matches == 0

    # a removal-only generation has no new passages and records nothing
    before = current
    report = remove_statements([next(corpus.glob("durov-*.txt")).stem], index, embedder)
    current = report.path
    removal = percolate(store, current, before, settings, embedder)
    assert removal.new_passages == 0 and removal.matches == 0
    assert len(store.matches("puffins")) == len(puffins)

    store.mark_seen("puffins")
    assert store.get("puffins").new == 0 and not store.matches("puffins")[0].new


def test_a_full_rebuild_percolates_only_changed_paragraphs(built, embedder):
    corpus, index = built
    settings = settings_for(index)
    store = WatchlistStore(settings.watchlists_path)
    save(store, settings, "ferry", "when does the ferry to the mainland leave?")
    (corpus / "harbour.txt").write_text(OTHER_TEXT)
    before = layout.current_generation(index)
    report = build_index(corpus, index, embedder)  # renumbers every passage
    current = report.path
    ids = new_passage_ids(before, current)
    assert len(ids) == 1  # only the harbour notice's paragraph is new
    result = percolate(store, current, before, settings, embedder)
    assert result.matches == 1 and store.matches("ferry")[0].doc_id == "harbour"
    before, report = current, build_index(corpus, index, embedder)  # nothing changed: nothing new
    current = report.path
    assert len(new_passage_ids(before, current)) == 0
    assert percolate(store, current, before, settings, embedder).matches == 0


def test_question_vectors_are_cached_per_model(built, embedder, tmp_path):
    corpus, index = built
    settings = settings_for(index)
    store = WatchlistStore(settings.watchlists_path)
    save(store, settings, "puffins", QUESTION)
    (tmp_path / "lighthouse.txt").write_text(NEW_TEXT)
    before = layout.current_generation(index)
    report = add_statements([tmp_path / "lighthouse.txt"], index, embedder)
    percolate(store, report.path, before, settings, embedder)
    cached = store.question_vectors(f"{embedder.sha256}:{embedder.backend}")
    saved = store.get("puffins")
    assert saved.id in cached
    np.testing.assert_allclose(cached[saved.id], embedder.encode([QUESTION])[0], atol=1e-5)


def test_cli_watchlist_save_add_list_matches_remove(built, tmp_path):
    from web.cli import main

    corpus, index = built
    runner = CliRunner()
    args = ["--index", str(index)]
    result = runner.invoke(main, ["watchlist", "add", "puffins", QUESTION, "--after", "2020", *args], env=ENV)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["watchlist", "add", "puffins", "again", *args], env=ENV)
    assert result.exit_code == 2 and "already exists" in result.output
    for bad in (["watchlist", "add", "x", "", *args], ["watchlist", "add", "x", "ok", "--after", "nope", *args],
                ["watchlist", "add", "x", "ok", "--webhook", "ftp://example.org/", *args],
                ["watchlist", "add", "x", "ok", "--webhook", "http://169.254.169.254/latest", *args],
                ["watchlist", "add", "x", "ok", "--webhook", "http://127.0.0.1:9/hook", *args],
                ["watchlist", "remove", "nobody", *args], ["watchlist", "matches", "nobody", *args]):
        result = runner.invoke(main, bad, env=ENV)
        assert result.exit_code == 2, (bad, result.output)
        assert result.output.startswith("error: ")
    new = tmp_path / "lighthouse.txt"
    new.write_text(NEW_TEXT)
    result = runner.invoke(main, ["add", str(new), *args], env=ENV)
    assert result.exit_code == 0, result.output
    found = re.search(r"2 new passages × 1 searches → ([12]) new matches \(puffins: \1\)", result.output)
    assert found, result.output
    n = int(found.group(1))
    result = runner.invoke(main, ["add", str(new), *args], env=ENV)  # same text again: nothing new
    assert result.exit_code == 0 and "→ 0 new matches" in result.output
    listed = json.loads(runner.invoke(main, ["watchlist", "list", "--json", *args], env=ENV).output)
    assert [(s["name"], s["matches"], s["new"], s["filters"]["after"]) for s in listed] == [
        ("puffins", n, n, "2020-01-01")]
    shown = json.loads(runner.invoke(main, ["watchlist", "matches", "puffins", "--json", *args], env=ENV).output)
    assert [m["document"] for m in shown] == ["lighthouse"] * n
    assert runner.invoke(main, ["watchlist", "remove", "puffins", *args], env=ENV).exit_code == 0
    assert "no saved searches" in runner.invoke(main, ["watchlist", "list", *args], env=ENV).output
    for command in ("add", "list", "remove", "matches", "deliver"):
        assert runner.invoke(main, ["watchlist", command, "--help"]).exit_code == 0


def test_watch_loop_percolates_each_generation(built, embedder):
    import threading
    import time

    from index.watch import watch_corpus
    from web.cli_watchlists import after_generation

    corpus, index = built
    settings = settings_for(index)
    store = WatchlistStore(settings.watchlists_path)
    save(store, settings, "puffins", QUESTION)
    stop, lines = threading.Event(), []

    def on_batch(report):
        if report.published:
            after_generation(settings, report, embedder, echo=lambda text, **_: lines.append(text))

    thread = threading.Thread(target=watch_corpus, args=(corpus, index, embedder),
                              kwargs={"debounce_ms": 200, "stop": stop, "on_batch": on_batch}, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # the watcher is set up
        (corpus / "lighthouse.txt").write_text(NEW_TEXT)
        wait_until(lambda: store.matches("puffins"), 60, "the watch loop's generation to be percolated")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert {m.doc_id for m in store.matches("puffins")} == {"lighthouse"}
    assert any("new matches (puffins: " in line for line in lines), lines
    shutil.rmtree(corpus / "unused", ignore_errors=True)
