"""Citations (text, CSL-JSON, BibTeX) and result exports (CSV, JSON Lines)."""
from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from search.citation import Citation, permalink_path
from search.errors import SearchError
from search.export import COLUMNS, render, rows_of
from search.types import DocumentInfo, SearchHit, Span
from web import schemas

DOC = DocumentInfo("1790-01-08_george-washington", title="State of the Union Address, January 8, 1790",
                   speaker="George Washington", date="1790-01-08",
                   source="https://github.com/GITenberg/State-of-the-Union-Addresses_5010/blob/x/5010.txt")
TEXT = "To be prepared for war is one of the most effectual means of preserving peace. A second sentence."


def cite(**changes):
    document = DocumentInfo(**{**DOC.__dict__, **changes})
    return Citation.of_passage(12, TEXT, document, 4, 24, "gen-abc")


def test_citation_fields():
    c = schemas.dump(schemas.Citation.model_validate(cite()))  # what /api/passages/{id}/cite sends
    assert c["sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert c["permalink"] == "/documents/1790-01-08_george-washington?hit=4#p4"
    assert c["url"] == DOC.source and (c["paragraph"], c["of"], c["generation"]) == (4, 24, "gen-abc")
    assert cite(source="DuRove's Channel").url is None


def test_text_csl_and_bibtex():
    c = cite()
    assert c.render("text").startswith("George Washington, “State of the Union Address, January 8, 1790”, "
                                       "1790-01-08, paragraph 4 of 24.")
    item = json.loads(c.render("csl-json"))[0]
    assert item["author"] == [{"literal": "George Washington"}] and item["issued"] == {"date-parts": [[1790, 1, 8]]}
    assert item["URL"] == DOC.source and "gen-abc" in item["note"]
    bib = cite(title="R&D at 100% {now}").render("bibtex")
    assert bib.startswith("@misc{washington1790p12,") and r"R\&D at 100\% \{now\}" in bib
    assert bib.count("{") == bib.count("}")


def test_undated_speakerless_citation_and_bad_format():
    c = cite(speaker=None, date=None, title=None)
    assert "Unknown speaker" in c.text() and "undated" in c.text()
    assert "issued" not in c.csl_json()[0] and c.bibtex().startswith("@misc{statementp12,")
    with pytest.raises(SearchError) as err:
        c.render("ris")
    assert err.value.code == "invalid_format"


def hit(text, score=0.8, weak=False):
    return SearchHit(id=3, score=score, text=text, context="", highlight=Span(0, 5), document=DOC,
                     paragraph=2, of=9, start=0, end=len(text), weak=weak)


def test_csv_neutralises_formulas_and_round_trips():
    rows = rows_of([hit("=HYPERLINK(\"http://evil\")"), hit('plain, with "quotes"\nand a newline', -0.25, True)],
                   offset=10)
    out = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert tuple(out[0]) == COLUMNS
    assert out[0]["text"].startswith("'=HYPERLINK") and out[0]["rank"] == "11"
    assert out[1]["text"] == 'plain, with "quotes"\nand a newline' and out[1]["weak"] == "True"
    assert out[1]["score"] == "-0.25"  # numbers stay numbers
    assert out[1]["permalink"] == permalink_path(DOC.id, 2) and out[1]["url"] == DOC.source


def test_jsonl_keeps_values():
    lines = render(rows_of([hit("-1 is a number")]), "jsonl").splitlines()
    row = json.loads(lines[0])
    assert len(lines) == 1 and row["text"] == "-1 is a number" and row["highlight"] == "-1 is"
    with pytest.raises(SearchError):
        render([], "xlsx")
