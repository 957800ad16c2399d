"""End to end: an index built over a folder mixing every format keeps text, offsets and metadata."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from index.build import DB_FILE, build_index
from index.layout import current_generation
from index.statements import scan_corpus
from make_documents import HTML_PAGE, make_docx, make_pdf

TELEGRAM = Path(__file__).parent / "data" / "telegram"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A mixed-format corpus (with two bad files) built with the fake encoder."""
    from conftest import FakeEncoder

    root = tmp_path_factory.mktemp("mixed")
    corpus = root / "corpus"
    shutil.copytree(TELEGRAM, corpus / "harbour")
    (corpus / "water.html").write_text(HTML_PAGE)
    make_pdf(corpus / "release.pdf")
    make_docx(corpus / "meals.docx")
    (corpus / "meals.docx.meta.json").write_text('{"speaker": "Minister Amal Haddad", "url": "https://gov.example/m"}')
    (corpus / "note.txt").write_text("Speaker: Jo Bloggs\nDate: 2021-01-02\n\nA plain text statement.\n")
    make_pdf(corpus / "locked.pdf", password="secret")
    (corpus / "fake.docx").write_bytes(b"PK\x03\x04 not really a zip")
    report = build_index(corpus, root / "index", FakeEncoder())
    conn = sqlite3.connect(current_generation(root / "index") / DB_FILE)
    conn.row_factory = sqlite3.Row
    yield report, conn
    conn.close()


def test_every_format_is_a_document(mixed):
    report, conn = mixed
    ids = {r["id"] for r in conn.execute("SELECT id FROM documents")}
    assert ids == {"water", "release", "meals", "note"} | {f"tg-1712345678-{n}" for n in (2, 3, 4, 7, 9)}
    assert report.documents == len(ids)
    assert {Path(p).name.split("#")[0] for p, _ in report.skipped} == {"locked.pdf", "fake.docx", "result.json"}


def test_metadata_lands_in_the_store(mixed):
    _, conn = mixed
    rows = {r["id"]: r for r in conn.execute("SELECT * FROM documents")}
    assert rows["meals"]["speaker"] == "Minister Amal Haddad"
    assert json.loads(rows["meals"]["extra"])["url"] == "https://gov.example/m"
    assert (rows["release"]["title"], rows["release"]["date"]) == ("Water supply", "2022-03-04")
    assert rows["tg-1712345678-4"]["speaker"] == "Coastal Weather Service"
    assert rows["tg-1712345678-7"]["source"] == "https://t.me/harbourcouncil/7"
    assert json.loads(rows["tg-1712345678-3"]["extra"])["links"] == [
        "https://harbour.example.org/reports/dredging-2024.pdf"]
    assert rows["water"]["source"] == "https://water.example.gov/press/supply"


def test_passage_offsets_point_into_the_stored_text(mixed):
    _, conn = mixed
    texts = {r["id"]: r["text"] for r in conn.execute("SELECT id, text FROM documents")}
    count = 0
    for p in conn.execute('SELECT doc_id, start, "end", text FROM passages'):
        assert " ".join(texts[p["doc_id"]][p["start"]:p["end"]].split()) == p["text"]
        count += 1
    per_doc = dict(conn.execute("SELECT doc_id, COUNT(*) FROM passages GROUP BY doc_id").fetchall())
    assert set(per_doc) == set(texts) and count == sum(per_doc.values())


def test_nothing_readable_leaves_the_previous_generation(tmp_path, fake_encoder):
    from index.statements import CorpusError  # the error scan/build raise today

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("A statement.\n")
    build_index(corpus, tmp_path / "index", fake_encoder)
    live = current_generation(tmp_path / "index")
    (corpus / "note.txt").unlink()
    make_pdf(corpus / "scan.pdf", text=False)
    with pytest.raises(CorpusError):
        build_index(corpus, tmp_path / "index", fake_encoder)
    assert current_generation(tmp_path / "index") == live
    assert scan_corpus(corpus).skipped[0][1].startswith("no text layer")


def test_demo_corpus_shows_every_format():
    from conftest import DEMO_CORPUS

    scan = scan_corpus(DEMO_CORPUS)
    ids = {st.id for st in scan.statements}
    assert {"durov-2024-09-06", "1863-11-19_gettysburg-address", "library-opening-hours",
            "eastbrook-bridge-2024-05-20"} <= ids
    assert len([i for i in ids if i.startswith("us-sotu/")]) == 12
    assert {st.date[:2] for st in scan.statements if st.id.startswith("us-sotu/")} == {"17", "18", "19", "20"}
    assert len([i for i in ids if i.startswith("tg-1800000001-")]) == 4
    assert len([i for i in ids if i.startswith("tg-1800000002-")]) == 15  # the Russian channel
    letter = [st for st in scan.statements if st.id == "1951-11-14_harbour-master-letter-scan"]
    if shutil.which("tesseract") or os.environ.get("REQUIRE_OCR") == "1":  # the scanned letter, by OCR
        assert letter and letter[0].ocr and "Halvorsen" in letter[0].text
        assert all(why.startswith(("service message", "no text")) for _, why in scan.skipped)  # nothing else lost
    else:
        assert not letter and any("tesseract" in why for _, why in scan.skipped)
