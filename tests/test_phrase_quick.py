"""The phrase matcher's quick tests (search/phrases.py) and the faster `search.quotes.words` decide exactly as
the token comparison does: random texts built from the cases that break naive matching (apostrophes, dotted
initialisms, digit groups, %, joins such as "can not", -our/-ize spellings, words inside words, fused
separators), and phrases and exclusions cut from them."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.highlight import _shared, ascii_term_spans, question_terms, terms
from search.phrases import (
    ParsedQuestion,
    PhraseMatcher,
    _sure_pattern,
    _term_spans_slow,
    _unvaried,
    keyword_spans,
)
from search.quotes import located_words, tokens, words
from search.types import Span

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


@BOUNDED
@given(text_and_parts(), st.sampled_from(["", " running", " banned taxes", " o'clock it's", " 12,000 people"]))
def test_keyword_spans_shortcut_marks_what_the_word_scan_marks(case, extra):
    """`ascii_term_spans` (reads only words that start like a wanted term) marks exactly the words the full scan
    marks, or hands the text to the scan (None)."""
    text, phrases, excluded = case
    question = " ".join((*phrases, *excluded)) + extra
    wanted = question_terms(question)
    if not wanted:
        return
    fast = ascii_term_spans(text, wanted)
    slow = _term_spans_slow(text, wanted)
    assert fast is None or fast == slow
    if fast is None:  # only for a non-ASCII text or a word after an apostrophe
        assert not text.isascii() or "'" in text


@BOUNDED
@given(text_and_parts(), st.sampled_from(["", " running", " banned taxes", " o'clock it's", " 12,000 people"]))
def test_highlight_counts_the_shared_terms_the_word_scan_counts(case, extra):
    """The highlighter's count of question terms a sentence holds, read through `ascii_term_spans`, is the
    count of the full scan (`terms` of the whole sentence)."""
    text, phrases, excluded = case
    wanted = question_terms(" ".join((*phrases, *excluded)) + extra)
    assert _shared(wanted, text) == len(wanted & terms(text))


def test_keyword_spans_shortcut_is_taken_and_its_edges():
    wanted = question_terms("taxes on the nation banned")
    text = "Taxes, taxation and surtaxes; the nation's nations ban. TAXED"
    assert ascii_term_spans(text, wanted) == _term_spans_slow(text, wanted)
    assert [text[s.start:s.end] for s in ascii_term_spans(text, wanted)] == ["Taxes", "nations"]
    assert ascii_term_spans("the o'taxes", wanted) is None  # a word's tail after an apostrophe: scanned
    assert ascii_term_spans("the café taxes", wanted) is None  # not ASCII: scanned
    assert keyword_spans("taxes", "New taxes.") == [Span(4, 9)]


@BOUNDED
@given(text_and_parts())
def test_phrase_spans_are_the_token_spans(case):
    """phrase_spans (offsets read only at the occurrences) gives the spans of `tokens` at every occurrence."""
    text, phrases, excluded = case
    matcher = PhraseMatcher(ParsedQuestion(" ".join(phrases), phrases, excluded))
    toks = tokens(text)
    words_ = [t.word for t in toks]
    want = sorted({Span(toks[i].start, toks[i + len(p) - 1].end) for p in matcher._phrases
                   for i in range(len(words_) - len(p) + 1) if p and words_[i:i + len(p)] == p},
                  key=lambda s: (s.start, s.end))
    assert matcher.phrase_spans(text) == want
    got_words, first, last, found = located_words(text)
    assert got_words == words_
    assert [(found[a].start(), found[b].end()) for a, b in zip(first, last)] == [(t.start, t.end) for t in toks]


def test_phrase_spans_cover_joined_words():
    matcher = PhraseMatcher(ParsedQuestion("cannot wait", ("cannot wait",)))
    text = "We can not wait; we cannot wait."
    assert [text[s.start:s.end] for s in matcher.phrase_spans(text)] == ["can not wait", "cannot wait"]


def test_a_phrase_with_a_variant_word_still_needs_its_plain_words():
    """"labor" may be spelled "labour", so no pattern covers it, but "unions" must still be in the text."""
    matcher = PhraseMatcher(ParsedQuestion("labor unions", ("labor unions",)))
    assert [q.pattern for q in matcher._needed] == ["unions"] and matcher._sure is None
    assert not matcher.matches("The labor movement and its allies.")  # rejected before tokenising
    assert matcher.matches("Labour unions grew.") and matcher.matches("the labor-unions of 1900")
    assert not matcher.matches("unions of labor")
