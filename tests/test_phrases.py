"""Exact phrases, exclusions and keyword spans."""
from __future__ import annotations

import pytest

from search.errors import SearchError
from search.phrases import PhraseMatcher, keyword_spans, parse_question

PASSAGE = "When Russia asked us to hand over “encryption keys” for surveillance, we refused — Telegram was banned."


def test_parse_phrases_exclusions_and_rest():
    parsed = parse_question('"encryption keys" Russia -Iran -“web app” end-to-end')
    assert parsed.phrases == ("encryption keys",)
    assert parsed.excluded == ("Iran", "web app")
    assert parsed.text == "encryption keys Russia end-to-end"


def test_plain_question_has_no_constraints():
    parsed = parse_question("Why was Telegram banned in Russia?")
    assert not parsed and parsed.text == "Why was Telegram banned in Russia?"


@pytest.mark.parametrize("question, code", [('"of the" Russia', "stopword_phrase"), ("-Iran", "invalid_query")])
def test_bad_questions(question, code):
    with pytest.raises(SearchError) as err:
        parse_question(question)
    assert err.value.code == code


@pytest.mark.parametrize("question, ok", [
    ('"encryption keys"', True), ('"Encryption-keys" Russia', True), ('"keys encryption"', False),
    ('"encryption keys" "was banned"', True), ('"encryption keys" -Iran', True), ('"encryption keys" -russia', False),
    ('Telegram -"we refused"', False), ('"hand over" -"hand out"', True)])
def test_matcher(question, ok):
    assert PhraseMatcher(parse_question(question)).matches(PASSAGE) is ok


def test_keyword_spans_mark_terms_and_phrases_not_exclusions():
    spans = keyword_spans('"encryption keys" banning -Russia', PASSAGE)
    marked = [PASSAGE[s.start:s.end] for s in spans]
    assert marked == ["encryption keys", "banned"]
