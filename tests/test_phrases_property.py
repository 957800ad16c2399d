"""Property tests of the question parser and the phrase matcher (issue 23: a phrase that occurs twice in a
hit crashed the highlighter with a 500).

Random texts and random questions with 0-3 quoted phrases (often taken from the text, so they match,
repeatedly), repeated words, -exclusions, punctuation and non-Latin words. Every question is either
answered with valid hits or refused with one of the documented 400 codes, in the library, the API and the
command line. Derandomised and bounded so the default suite stays fast; a longer run:
STATEMENT_SEARCH_FUZZ_EXAMPLES=2000 pytest tests/test_phrases_property.py.
"""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings

from search.errors import SearchError
from search.live import LiveSearcher
from search.phrases import PhraseMatcher, keyword_spans, parse_question
from search.settings import load_settings
from web import create_app
from web.cli import main
from question_strategies import questions, text_and_question

EXAMPLES = int(os.environ.get("STATEMENT_SEARCH_FUZZ_EXAMPLES", "60"))
# What a question may be refused for (docs/web.md "Errors"): anything else is a defect.
QUESTION_CODES = {"stopword_phrase", "invalid_query", "query_too_long"}

def _bounded(**extra):
    return settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), **extra)


@_bounded()
@given(text_and_question())
def test_parser_and_matcher_never_fail_on_any_text(pair):
    text, question = pair
    try:
        parsed = parse_question(question)
    except SearchError as exc:
        assert exc.code in QUESTION_CODES, exc.code
        return
    matcher = PhraseMatcher(parsed)
    assert isinstance(matcher.matches(text), bool)
    spans = matcher.phrase_spans(text)
    assert [(s.start, s.end) for s in spans] == sorted((s.start, s.end) for s in spans)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    if parsed.phrases and matcher.matches(text):
        assert spans, "a matching phrase must be marked"
    marked = keyword_spans(question, text, parsed)
    assert all(0 <= s.start < s.end <= len(text) for s in marked)
    assert all(a.end < b.start for a, b in zip(marked, marked[1:])), "merged spans are disjoint and in order"


def test_a_phrase_twice_in_one_passage_is_marked_twice():
    """The reported crash: sorting two Span objects of one phrase."""
    text = "Telegram was banned. Telegram stayed banned in Russia."
    spans = PhraseMatcher(parse_question('"Telegram" Russia')).phrase_spans(text)
    assert [text[s.start:s.end] for s in spans] == ["Telegram", "Telegram"]
    assert [text[s.start:s.end] for s in keyword_spans('"Telegram" Russia', text)] == ["Telegram", "Telegram",
                                                                                       "Russia"]


def _check_response(payload: dict, question: str) -> None:
    assert isinstance(payload["results"], list), question
    for hit in payload["results"]:
        assert 0 <= hit["highlight"]["start"] <= hit["highlight"]["end"] <= len(hit["text"])
        assert isinstance(hit["score"], float)


@pytest.fixture(scope="module")
def client(seed_index, embedder):
    config = load_settings({"index": seed_index, "reload_interval": -1}, environ={})
    app = create_app({"SETTINGS": config, "LIVE_SEARCHER": LiveSearcher(config, embedder).load()})
    return app.test_client()


def test_seed_question_with_a_repeated_phrase_answers(seed_searcher, client):
    """`"Telegram" Russia` over the seed statement, where "Telegram" stands twice in a paragraph."""
    response = seed_searcher.search('"Telegram" Russia', k=3)
    assert response.hits and all("telegram" in h.text.lower() for h in response.hits)
    answer = client.get("/api/search", query_string={"q": '"Telegram" Russia', "k": 3})
    assert answer.status_code == 200, answer.get_json()
    _check_response(answer.get_json(), "Telegram")


@_bounded()
@given(question=questions("Telegram was banned in Russia when we refused to hand over encryption keys"))
def test_library_answers_or_refuses_every_question(seed_searcher, question):
    try:
        response = seed_searcher.search(question, k=5)
    except SearchError as exc:
        assert exc.code in QUESTION_CODES, (question, exc.code)
        return
    for hit in response.hits:
        assert 0 <= hit.highlight.start <= hit.highlight.end <= len(hit.text)


@_bounded()
@given(question=questions("Telegram was banned in Russia when we refused to hand over encryption keys"))
def test_api_answers_200_or_a_documented_400(client, question):
    for answer in (client.get("/api/search", query_string={"q": question, "k": 5}),
                   client.post("/api/search", json={"q": question, "k": 5})):
        body = answer.get_json()
        if answer.status_code == 400:
            assert body["error"]["code"] in QUESTION_CODES, (question, body)
            continue
        assert answer.status_code == 200, (question, answer.status_code, body)
        _check_response(body, question)


@settings(max_examples=min(EXAMPLES, 8), deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(question=questions("Telegram was banned in Russia when we refused to hand over encryption keys"))
@example(question='"Telegram" Russia')  # the reported command
def test_cli_answers_or_exits_2(seed_index, question):
    """Fewer examples: each invocation loads the model, as a user's does."""
    if not question.strip() or question.lstrip().startswith("-"):
        question = "Telegram " + question  # click would read a leading -word as an option
    result = CliRunner().invoke(main, ["query", question, "--index", str(seed_index), "-k", "3", "--json"])
    assert result.exit_code in (0, 2), (question, result.output, result.exception)
    if result.exit_code == 0:
        _check_response(json.loads(result.stdout), question)
    else:
        assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, result.output
