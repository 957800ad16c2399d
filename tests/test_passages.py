import re

import pytest

from index.passages import is_lead_in, is_noise, sentence_spans, split_statement, statement_heading
from index.statements import scan_corpus
from conftest import ENCRYPTION_PARAGRAPH, SEED_CORPUS


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def seed_passages(embedder):
    st = scan_corpus(SEED_CORPUS).statements[0]
    return st, split_statement(st.text, embedder.passage_limit, embedder.count_tokens)


def test_seed_passages(seed_passages):
    st, drafts = seed_passages
    texts = [d.text for d in drafts]
    assert not any("jpeg" in t for t in texts)
    assert not any(t.startswith("Source:") for t in texts)
    assert "Read DuRove's full article below:" not in texts
    assert "This is surprising for several reasons:" not in texts
    first_reason = next(d for d in drafts if d.text.startswith("1. Telegram has an official"))
    assert first_reason.context == "This is surprising for several reasons:"
    assert sum(ENCRYPTION_PARAGRAPH in t for t in texts) == 1
    for d in drafts:  # offsets point at the passage in the statement text
        assert squash(st.text[d.start:d.end]) == squash(d.text)


def test_noise_lines():
    assert is_noise("5ngh2y9nmCr3liXQh62dR3fNDkUfJ4KCNnzirYBJ.jpeg")
    assert is_noise("12.")
    assert is_noise("IV")
    assert is_noise("Section 3")
    assert not is_noise("1. Telegram has an official representative in the EU.")


def test_lead_ins():
    assert is_lead_in("This is surprising for several reasons:")
    assert is_lead_in("Foreign Affairs")
    assert not is_lead_in("We refused.")  # short but a sentence


def test_tricky_inputs(fake_encoder):
    text = ("Header Line\n\nhard\nwrapped “quoted” line\nends here.\n\n"
            "abc123DEF.png\n\n7\n\nAnother paragraph with ‘curly’ quotes.")
    drafts = split_statement(text, 254, fake_encoder.count_tokens)
    assert [d.text for d in drafts] == ["hard wrapped “quoted” line ends here.",
                                        "Another paragraph with ‘curly’ quotes."]
    assert drafts[0].context == "Header Line"
    assert split_statement("", 254, fake_encoder.count_tokens) == []


def test_long_paragraph_is_split_at_sentences_and_fits(embedder):
    sentence = "The committee reviewed the appropriations for the fiscal year and found them adequate. "
    para = (sentence * 120).strip()  # about 10,000 characters
    assert len(para) > 10_000
    drafts = split_statement(para, embedder.passage_limit, embedder.count_tokens)
    assert len(drafts) > 1
    for d in drafts:
        assert embedder.count_tokens(d.embed_text) <= embedder.passage_limit
        assert d.text.endswith(".")  # cut at a sentence boundary
    # nothing is lost: the parts cover the whole paragraph
    assert squash(" ".join(d.text for d in drafts)) == squash(para)
    assert drafts[0].start == 0 and drafts[-1].end == len(para)


def test_sentence_without_boundaries_is_cut_at_words(fake_encoder):
    para = " ".join(["word"] * 1000)
    drafts = split_statement(para, 100, fake_encoder.count_tokens)
    assert all(fake_encoder.count_tokens(d.text) <= 100 for d in drafts)
    assert sum(len(d.text.split()) for d in drafts) == 1000


def test_sentence_spans():
    text = "Mr. Smith went to Washington. He said “no.” Then he left!"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Mr. Smith went to Washington.", "He said “no.”", "Then he left!"]


def test_statement_heading_names_speaker_and_title_once():
    assert statement_heading("John F. Kennedy", "State of the Union Address, January 11, 1962",
                             "Mr. Vice President, my old colleague") == \
        "John F. Kennedy, State of the Union Address, January 11, 1962"
    assert statement_heading("  Pavel \n Durov ", None) == "Pavel Durov"
    assert statement_heading(None, None, "Some text.") == ""
    # a title the body opens with (a lead-in line, as the eval corpora write it) is not repeated
    assert statement_heading(None, "Plant cells divide.", "Plant cells divide:\n\nAbstract text.") == ""
    assert statement_heading("A. Person", "Plant cells", "Plant cells:\n\nAbstract text.") == "A. Person"


def test_heading_is_indexed_not_shown_and_counts_against_the_limit(fake_encoder):
    heading = "Jane Q. Example, Budget Speech, March 3, 2024"
    text = "Foreign Affairs\n\n" + "We spent the money on roads and bridges this year. " * 40
    drafts = split_statement(text, 100, fake_encoder.count_tokens, heading)
    assert len(drafts) > 1
    for d in drafts:
        assert d.heading == heading and "Example" not in d.text
        assert d.embed_text.startswith(f"{heading}\nForeign Affairs\nWe spent")
        assert fake_encoder.count_tokens(d.embed_text) <= 100
    assert split_statement(text, 100, fake_encoder.count_tokens)[0].embed_text.startswith("Foreign Affairs\n")
