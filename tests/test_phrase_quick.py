"""The phrase matcher's quick tests (search/phrases.py) and the faster `search.quotes.words` decide exactly as
the token comparison does: random texts built from the cases that break naive matching (apostrophes, dotted
initialisms, digit groups, %, joins such as "can not", -our/-ize spellings, words inside words, fused
separators), and phrases and exclusions cut from them."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.phrases import PhraseMatcher, ParsedQuestion, _sure_pattern, _unvaried
from search.quotes import tokens, words

PIECES = ["tax", "taxes", "surtaxes", "Taxes", "national", "debt", "National", "can", "not", "to", "day", "u.s.",
          "U.S.", "us", "nation's", "nations", "o'clock", "honour", "honor", "honorable", "organize", "organise",
          "colour", "color", "12,000", "3.5", "%", "percent", "per", "cent", "e", "mail", "any", "more", "x", "a",
          "war", "the", "Spain", "café", "cafe", "defence", "defense", "it’s", "its", "judgement"]
SEPARATORS = [" ", " ", " ", "  ", "-", ".", ". ", "'", "’", ", ", "_", "\n", " (", ") ", '"', "", "...", "%"]


@st.composite
def text_and_parts(draw):
    n = draw(st.integers(1, 14))
    pieces = draw(st.lists(st.sampled_from(PIECES), min_size=n, max_size=n))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=n, max_size=n))
    text = "".join(p + s for p, s in zip(pieces, seps))
    def part():
        i = draw(st.integers(0, n - 1))
        j = draw(st.integers(i + 1, min(n, i + 3)))
        return " ".join(pieces[i:j]) if draw(st.booleans()) else draw(st.sampled_from(PIECES))
    phrases = tuple(part() for _ in range(draw(st.integers(0, 2))))
    excluded = tuple(part() for _ in range(draw(st.integers(0, 2))))
    return text, phrases, excluded


BOUNDED = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@BOUNDED
@given(text_and_parts())
def test_words_are_the_tokens_words(case):
    text, _, _ = case
    assert words(text) == [t.word for t in tokens(text)]


@BOUNDED
@given(text_and_parts())
def test_quick_tests_decide_as_the_token_comparison(case):
    text, phrases, excluded = case
    phrases = tuple(p for p in phrases if tokens(p))
    excluded = tuple(p for p in excluded if tokens(p))
    if not phrases and not excluded:
        return
    matcher = PhraseMatcher(ParsedQuestion(" ".join(phrases) or "x", phrases, excluded))
    assert matcher.matches(text) == matcher.matches_words([t.word for t in tokens(text)]), (text, phrases, excluded)


def test_the_quick_tests_are_used_and_keep_their_edges():
    assert all(map(_unvaried, ["taxes", "national", "debt", "war", "spain", "court"]))
    assert not any(map(_unvaried, ["honor", "honorable", "color", "organise", "defense", "cannot", "can", "percent"]))
    matcher = PhraseMatcher(ParsedQuestion("national debt", ("national debt",), ("spain",)))
    assert matcher._sure is not None and matcher._needed
    assert matcher.matches("The National-debt grew.")
    assert matcher.matches("the national. debt")
    assert not matcher.matches("the nationaldebt, and Spain")
    assert not matcher.matches("the national debt of Spain")
    assert not matcher.matches("the international debt")
    sure = _sure_pattern(["taxes"])
    assert sure is not None and not sure.search("surtaxes") and not sure.search("taxes'x") and sure.search("(taxes)")


def test_words_joins_every_pair_in_one_text():
    for text in ["can not to day, e-mail any more per cent", "to to day can can not not", "Can’t can not. To-morrow",
                 "per cent per cent per", "any more any more"]:
        assert words(text) == [t.word for t in tokens(text)], text
