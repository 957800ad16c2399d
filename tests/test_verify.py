"""Quote checking: normalisation, word diff, verdicts (fast, fake encoder) and the calibration set (real model)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_SOTU, needs_shared

from search.errors import SearchError
from search.quotes import align, quote_tokens, tokens
from search.types import DocumentInfo
from search.verify import Candidate, Pool, first_said, judge, validate_quote, verify
from web.schemas import DiffOp, VerifyResponse, dump

QUOTES = Path(__file__).parent / "data" / "quotes.jsonl"
SEED_ID = "durov-2024-09-06"
RUSSIA = "When Russia asked us to hand over “encryption keys” for surveillance, we refused — Telegram was banned for that."


def served(op):
    """A diff step as the API sends it (web.schemas.DiffOp)."""
    return dump(DiffOp.model_validate(op))


def words(text):
    return [t.word for t in tokens(text)]


def test_normalisation_ignores_case_punctuation_quotes_dashes_and_variants():
    assert words("“Can not” — U.S. can't 12,000 Honour to-day") == ["cannot", "us", "cant", "12000", "honor", "today"]
    assert words("people’s") == words("people's") == ["peoples"]
    toks = tokens("Say “encryption keys”, then")
    assert [(t.start, t.end) for t in toks][1] == (5, 15)  # offsets point into the original text


def test_ellipsis_splits_a_quote_into_segments():
    assert [t.segment for t in quote_tokens("we refused ... Telegram was banned")] == [0, 0, 1, 1, 1]
    assert [t.segment for t in quote_tokens("we refused … banned [...] that")] == [0, 0, 1, 2]


def check(quote, passage=RUSSIA):
    return align(quote, quote_tokens(quote), passage, tokens(passage))


def test_verbatim_span_covers_the_quoted_words():
    a = check('asked us to hand over "encryption keys" for surveillance')
    assert a.verbatim and a.similarity == 1.0
    assert RUSSIA[a.span.start:a.span.end] == "asked us to hand over “encryption keys” for surveillance"


def test_ellipsis_may_omit_words_and_is_marked_elided():
    a = check("When Russia asked us ... we refused")
    assert a.verbatim
    gap = [d for d in a.diff if d.elided]
    assert len(gap) == 1 and gap[0].source == "to hand over “encryption keys” for surveillance"
    assert served(gap[0])["elided"] is True and not any("elided" in served(d) for d in a.diff if not d.elided)


def test_changed_word_shows_in_the_diff():
    a = check("When Russia asked us to hand over encryption keys for surveillance, we agreed")
    assert not a.verbatim and a.similarity > 0.9
    changes = [served(d) for d in a.diff if d.op != "equal"]
    assert changes == [{"op": "replace", "quote": "agreed", "source": "refused"}]


def test_negation_is_an_insert():
    a = check("Telegram was not banned for that")
    assert [served(d) for d in a.diff if d.op != "equal"] == [{"op": "insert", "quote": "not", "source": ""}]


def doc(doc_id, date):
    return DocumentInfo(doc_id, title=doc_id, speaker="X", date=date)


def pool(fake_encoder, *candidates):
    return Pool(list(candidates), fake_encoder.encode, {c.id: 0.9 for c in candidates})


def test_judge_verbatim_lists_the_oldest_first_after_the_best(fake_encoder):
    text = "We cannot escape history. We of this Congress will be remembered."
    p = pool(fake_encoder, Candidate(1, "Yes. " + text, doc("late", "1982-01-26")),
             Candidate(2, "Something else entirely about farming.", doc("other", "1700-01-01")),
             Candidate(3, text, doc("middle", "1900-01-01")), Candidate(4, text, doc("early", "1862-12-01")))
    quote = "We can not escape history"
    verdict, matches = judge(quote, quote_tokens(quote), p)
    assert verdict == "verbatim"
    assert [m.document.id for m in matches] == ["late", "early", "middle"]
    assert first_said(verdict, matches).document.id == "early"


def test_judge_altered_and_not_found(fake_encoder):
    p = pool(fake_encoder, Candidate(1, RUSSIA, doc(SEED_ID, "2024-09-06")))
    quote = "When Russia asked us to hand over encryption keys for surveillance, we agreed"
    verdict, matches = judge(quote, quote_tokens(quote), p)
    assert verdict == "altered" and matches[0].similarity < 1
    off = "The recipe calls for two cups of flour"
    assert judge(off, quote_tokens(off), p) == ("not_found", ())


@pytest.mark.parametrize("quote, code", [("", "invalid_quote"), ("   ", "invalid_quote"), ("— … !", "invalid_quote"),
                                         ("x" * 10_000, "quote_too_long"), (42, "invalid_quote")])
def test_bad_quotes_are_refused(quote, code):
    with pytest.raises(SearchError) as err:
        validate_quote(quote, 1000)
    assert err.value.code == code


def test_result_json_shape(seed_searcher):
    """The shape POST /api/verify and `verify --json` serve (web.schemas.VerifyResponse)."""
    checked = verify(seed_searcher, "We remove thousands of harmful posts and channels every day.")
    result = dump(VerifyResponse.of(checked, seed_searcher.generation, seed_searcher.passages))
    assert result["verdict"] == "altered"
    best = result["matches"][0]
    assert set(best) >= {"id", "text", "span", "similarity", "diff", "document"}
    assert {"op": "replace", "quote": "thousands", "source": "millions"} in best["diff"]
    assert best["text"][best["span"]["start"]:best["span"]["end"]].startswith("We remove millions")
    assert result["first_said"]["document"]["id"] == SEED_ID and result["took_ms"] > 0


def load(seed_only: bool):
    rows = [json.loads(line) for line in QUOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    if seed_only:
        rows = [r for r in rows if r["document"] in (None, SEED_ID) and int(r["id"][1:]) <= 38]
    return rows


def assert_verdicts(searcher, rows):
    wrong = []
    for r in rows:
        res = verify(searcher, r["quote"])
        if r["category"] in ("invented", "offtopic"):  # the hard rule
            assert res.verdict in ("not_found", "paraphrase"), r
        if res.verdict not in r.get("acceptable", [r["expected"]]):
            wrong.append((r["id"], r["expected"], res.verdict))
        elif r["document"] and res.verdict != "not_found":
            assert r["document"] in {m.document.id for m in res.matches}, r
        if "first_said" in r:
            assert res.first_said is not None and res.first_said.document.id == r["first_said"], r
    return wrong


def test_calibration_set_on_the_seed(seed_searcher):
    rows = load(seed_only=True)
    assert len(rows) >= 30
    wrong = assert_verdicts(seed_searcher, rows)
    # Measured (bench/verify.py): the two seed paraphrases that miss, q30 (taken as altered: 7 of
    # its 10 words are the source's) and q31 (cosine 0.51); every other verdict is as expected.
    assert {w[0] for w in wrong} <= {"q30", "q31"}, wrong


@pytest.mark.slow
@needs_shared(SHARED_SOTU)  # without it the index would hold the seed alone and the SOTU quotes fail
def test_calibration_set_on_seed_and_sotu(tmp_path_factory, embedder):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from verify import corpus_for  # bench/verify.py: the same corpus the benchmark uses

    from index.build import build_index
    from search.searcher import Searcher
    from search.settings import load_settings

    rows = load(seed_only=False)
    folder = tmp_path_factory.mktemp("quotes")
    build_index(corpus_for(rows, folder / "corpus"), folder / "index", embedder)
    searcher = Searcher(folder / "index", load_settings({"index": folder / "index"}, environ={}), embedder)
    wrong = assert_verdicts(searcher, rows)
    # Measured (bench/verify.py, docs/quality.md): four paraphrases missed out of 72 quotes.
    assert {w[0] for w in wrong} <= {"q30", "q31", "q62", "q66"}, wrong
