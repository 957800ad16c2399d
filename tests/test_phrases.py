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


def test_phrase_matching_reads_only_what_the_answer_uses_and_answers_the_same(tmp_path, fake_encoder, monkeypatch):
    """Past the page's head only strong passages are matched: the whole response (hits, their duplicates,
    weak marks, facets, timeline) equals matching every ranked passage, including with duplicated paragraphs."""
    import random

    from index.build import build_index
    from search.searcher import Searcher
    from search.settings import load_settings

    rng = random.Random(3)
    words = "budget army navy tariffs schools railroads treaty banks farmers courts taxes ports".split()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shared = [f"The public schools and the {w} deserve the attention of Congress this year." for w in words]
    for n in range(4):
        paragraphs = [" ".join(rng.choice(words) for _ in range(12)) + (" public schools" if rng.random() < 0.6
                                                                          else " schools public") + "."
                      for _ in range(70)] + shared[n::2]
        rng.shuffle(paragraphs)
        (corpus / f"s{n}.txt").write_text(f"Speaker: Speaker {n % 3}\nDate: 19{10 + n}-01-01\n\n"
                                          + "\n\n".join(paragraphs) + "\n")
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    searcher = Searcher(index, load_settings({"index": index}, environ={}), fake_encoder)
    lazy = Searcher._matching
    early = []

    def full(self, ranked, matcher, weak_ids, need):
        texts = self.store.texts([pid for pid, _ in ranked])
        return [(p, s) for p, s in ranked if p in texts and matcher.matches(texts[p][1])]

    def spy(self, ranked, matcher, weak_ids, need):
        out = lazy(self, ranked, matcher, weak_ids, need)
        early.append(len(out) < len(full(self, ranked, matcher, weak_ids, need)))
        return out

    def answer(question, k, **kw):
        r = searcher.search(question, k=k, **kw)
        return ([(h.id, h.weak, h.duplicates, h.matches) for h in r.hits], r.facets, r.timeline)

    for question in ['"public schools" budget', '"public schools" -navy', 'taxes "the public schools"']:
        for k, kw in [(1, {}), (5, {"offset": 3}), (10, {"sort": "newest"}), (3, {"mode": "keyword"})]:
            monkeypatch.setattr(Searcher, "_matching", spy)
            got = answer(question, k, **kw)
            monkeypatch.setattr(Searcher, "_matching", full)
            assert got == answer(question, k, **kw), (question, k, kw)
    assert any(early)  # the shortcut was taken
