"""Filters restrict the candidates inside both halves of the ranking, never after it."""
import pytest

from index.build import build_index
from search.errors import SearchError
from search.filters import make_filters
from search.searcher import Searcher
from search.settings import load_settings

TOPICS = ["the harbour and its ships", "taxes on tea and sugar", "the railway to the west",
          "schools for every child", "the army and the navy", "treaties with foreign powers"]


@pytest.fixture(scope="module")
def many(tmp_path_factory, embedder):
    """150 statements by 30 speakers over 150 years (300 passages), plus one undated statement."""
    corpus = tmp_path_factory.mktemp("many")
    for i in range(150):
        topic = TOPICS[i % len(TOPICS)]
        (corpus / f"s{i:03d}.txt").write_text(
            f"Speaker: Speaker {i % 30}\nDate: {1850 + i}-03-0{1 + i % 9}\nSource: archive-{i % 3}\n\n"
            f"In this address number {i} we speak about {topic} and the duties of government.\n\n"
            f"Statement {i} closes with thanks to the people for their patience about {topic}.\n")
    (corpus / "undated.txt").write_text("Speaker: Speaker 0\n\nAn undated note about the harbour and ships.\n")
    index = corpus.parent / "many-index"
    build_index(corpus, index, embedder)
    return Searcher(index, load_settings({"index": index}, environ={}), embedder)


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_narrow_filter_still_returns_k_results(many, mode):
    # Speaker 7, before 1880: statements 7 and 37 → 4 of 302 passages (1.3%); one year: 2 passages (<1%).
    filters = make_filters(speaker="Speaker 7", after="1857", before="1857")
    assert len(many.table.subset(filters)[0]) / many.passages < 0.01
    unfiltered_top = {h.id for h in many.search("railway to the west", k=100, mode=mode).hits}
    response = many.search("railway to the west", k=2, mode=mode, filters=filters)
    assert len(response.hits) == 2  # although neither passage is in the unfiltered top 100
    assert not unfiltered_top & {h.id for h in response.hits}
    assert all(h.document.speaker == "Speaker 7" and h.document.date.startswith("1857") for h in response.hits)


def test_keyword_half_honours_the_subset(many):
    filters = make_filters(speaker=["Speaker 6", "Speaker 12"], before="1899")
    hits = many.search("harbour ships", k=10, mode="keyword", filters=filters).hits
    assert len(hits) == 8  # statements 6, 12, 36, 42: about the harbour, two passages each
    assert all(h.document.speaker in {"Speaker 6", "Speaker 12"} for h in hits)
    assert all(h.document.date <= "1899-12-31" for h in hits)


def test_source_filter_and_facets(many):
    response = many.search("taxes on tea", k=5, filters=make_filters(source="archive-1"))
    assert all(h.document.source == "archive-1" for h in response.hits)
    years = {f.value for f in response.facets["year"]}
    assert years and all(int(y) >= 1850 for y in years)
    speakers = response.facets["speaker"]
    assert {f.value for f in speakers} <= {f"Speaker {i}" for i in range(1, 30, 3)}
    assert sum(f.count for f in speakers) <= len(many.table.subset(make_filters(source="archive-1"))[0])
    assert [f.count for f in speakers] == sorted((f.count for f in speakers), reverse=True)


def test_date_filter_reports_undated(many):
    response = many.search("harbour", k=5, filters=make_filters(speaker="Speaker 0", after="1800"))
    assert response.undated_excluded == 1
    assert all(h.document.id != "undated" for h in response.hits)
    assert "undated" in {h.document.id for h in many.search("undated note harbour", k=3).hits}


def test_sort_by_date(many):
    newest = many.search("the railway to the west", k=5, sort="newest").hits
    dates = [h.document.date for h in newest]
    assert dates == sorted(dates, reverse=True)
    oldest = many.search("the railway to the west", k=5, sort="oldest").hits
    assert [h.document.date for h in oldest] == sorted(h.document.date for h in oldest)


@pytest.mark.parametrize("kwargs,message", [
    ({"after": "1990-02-30"}, "YYYY-MM-DD"), ({"before": "yesterday"}, "YYYY-MM-DD"),
    ({"after": "2001", "before": "2000"}, "later than"), ({"speaker": [1, 2]}, "list of strings"),
])
def test_bad_filters(kwargs, message):
    with pytest.raises(SearchError, match=message):
        make_filters(**kwargs)


def test_partial_dates_expand_to_whole_periods():
    f = make_filters(after="1999-02", before="2000-02")
    assert (f.after, f.before) == ("1999-02-01", "2000-02-29")
