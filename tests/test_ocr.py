"""OCR of scanned PDFs and images (index/readers/ocr.py): findable, marked with confidence, and bad input.

Tests that run Tesseract skip when it (or pytesseract, or its English data) is missing here; CI sets
REQUIRE_OCR=1 (.ci/run installs tesseract-ocr), so a missing engine fails there instead of skipping.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3

import pytest
from make_documents import make_scanned_pdf, text_image

from index.build import build_index
from index.layout import current_generation
from index.readers import ocr
from index.statements import Statement, scan_corpus
from index.store import DOC_COLUMNS, PASSAGE_COLUMNS, SCHEMA, PassageStore, StoreWriter


def _tesseract_ready() -> bool:
    try:
        import pytesseract  # noqa: F401
        return shutil.which("tesseract") is not None and "eng" in ocr.engine()["languages"]
    except Exception:
        return False


needs_tesseract = pytest.mark.skipif(not _tesseract_ready() and os.environ.get("REQUIRE_OCR") != "1",
                                     reason="Tesseract with English data is not installed (apt-get install "
                                            "tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus; CI sets REQUIRE_OCR=1)")

SCAN = ["Harbour notice", "The lighthouse keeper counted seventeen wrecks near Carrow Point during the winter gales.",
        "Fishermen should keep well clear of the northern reef until the new beacon is lit."]
TEXT_PAGE = ["This first page of the council minutes was typed on a computer and carries a text layer.",
             "The budget for the swimming pool was approved without a vote against."]


@pytest.fixture(autouse=True)
def english_ocr(monkeypatch):
    """English only: the tests' pages are English (eng+rus reads a capital I as a Cyrillic letter more often)."""
    monkeypatch.setattr(ocr, "_languages", "eng")


def _squash(text: str) -> str:
    return " ".join(text.split())


@needs_tesseract
def test_png_scan_is_read_marked_and_findable(tmp_path, fake_encoder, monkeypatch):
    from search.searcher import Searcher
    from search.settings import load_settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text_image(SCAN).save(corpus / "harbour-notice.png")
    (corpus / "other.txt").write_text("The library opens at nine on Sundays.\n")
    scan = scan_corpus(corpus)
    [st] = [s for s in scan.statements if s.id == "harbour-notice"]
    assert "seventeen wrecks near Carrow Point" in _squash(st.text)
    assert st.extra["ocr"]["pages"] == [1] and st.extra["ocr"]["languages"] == "eng"
    assert 60 <= st.extra["ocr"]["confidence"] <= 100
    build_index(corpus, tmp_path / "index", fake_encoder)
    settings = load_settings({"index": tmp_path / "index", "mode": "keyword"}, environ={})
    hits = Searcher(tmp_path / "index", settings, fake_encoder).search("lighthouse keeper wrecks").hits
    assert hits[0].document.id == "harbour-notice" and "lighthouse" in hits[0].text
    assert hits[0].ocr_confidence is not None and 60 <= hits[0].ocr_confidence <= 100
    [other] = Searcher(tmp_path / "index", settings, fake_encoder).search("library Sundays").hits[:1]
    assert other.document.id == "other" and other.ocr_confidence is None  # text is never marked

    # The same mark on the results page, in the API hit and on the statement page.
    from search.live import LiveSearcher
    from web import create_app

    client = create_app({"TESTING": True, "SETTINGS": settings,
                         "LIVE_SEARCHER": LiveSearcher(settings, fake_encoder).load()}).test_client()
    api = client.get("/api/search", query_string={"q": "lighthouse keeper", "mode": "keyword"}).get_json()
    assert api["results"][0]["ocr_confidence"] == hits[0].ocr_confidence
    page = client.get("/", query_string={"q": "lighthouse keeper", "mode": "keyword"}).get_data(as_text=True)
    assert f"OCR {hits[0].ocr_confidence:.0f}%" in page and 'class="ocr-tag"' in page
    doc = client.get("/documents/harbour-notice").get_data(as_text=True)
    assert 'class="ocr-tag"' in doc
    body = client.get("/api/documents/harbour-notice").get_json()
    assert all(p["ocr_confidence"] is not None for p in body["passages"])
    assert client.get("/api/documents/other").get_json()["passages"][0].get("ocr_confidence") is None

    # ... and in the CLI's query output (the index was built with the fake encoder: load it with that).
    from click.testing import CliRunner

    from web.cli import main

    monkeypatch.setattr(Searcher, "load", classmethod(lambda cls, st, embedder=None: cls(st.index, st, fake_encoder)))
    out = CliRunner().invoke(main, ["query", "lighthouse keeper", "--index", str(tmp_path / "index"),
                                    "--mode", "keyword", "-k", "1"])
    assert out.exit_code == 0 and f"OCR, confidence {hits[0].ocr_confidence:.0f}%" in out.output


@needs_tesseract
def test_image_only_pdf_is_ocrd(tmp_path):
    make_scanned_pdf(tmp_path / "scan.pdf", text_image(SCAN))
    [st] = scan_corpus(tmp_path).statements
    assert "keep well clear of the northern reef" in _squash(st.text)
    assert st.extra["ocr"]["pages"] == [1]
    assert st.ocr and all(st.text[a:b].strip() for a, b, _ in st.ocr)
    assert st.ocr_confidence(0, len(st.text)) is not None


@needs_tesseract
def test_mixed_pdf_ocrs_only_the_scanned_page(tmp_path, monkeypatch):
    calls = []
    real = ocr.read_image

    def counting(image, languages):
        calls.append(image.size)
        return real(image, languages)

    monkeypatch.setattr(ocr, "read_image", counting)
    make_scanned_pdf(tmp_path / "minutes.pdf", text_image(SCAN), text_page=TEXT_PAGE)
    [st] = scan_corpus(tmp_path).statements
    assert len(calls) == 1  # the text page stays on the fast path
    assert st.extra["ocr"]["pages"] == [2]
    typed = st.text.index(TEXT_PAGE[0])
    scanned = _squash(st.text).index("lighthouse keeper")
    assert typed < scanned  # page order kept
    assert st.ocr_confidence(typed, typed + len(TEXT_PAGE[0])) is None
    start = st.text.index("lighthouse")
    assert st.ocr_confidence(start, start + 10) is not None


def test_missing_tesseract_warns_skips_the_scan_and_indexes_the_rest(tmp_path, monkeypatch, caplog, fake_encoder):
    text_image(SCAN).save(tmp_path / "harbour-notice.png")
    make_scanned_pdf(tmp_path / "scan.pdf", text_image(SCAN))
    make_scanned_pdf(tmp_path / "minutes.pdf", text_image(SCAN), text_page=TEXT_PAGE)
    (tmp_path / "good.txt").write_text("A statement that is fine.\n")
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no tesseract (and no pdftoppm) on PATH
    with caplog.at_level(logging.WARNING):
        scan = scan_corpus(tmp_path)
    assert sorted(s.id for s in scan.statements) == ["good", "minutes"]  # the text page of the mixed PDF too
    [minutes] = [s for s in scan.statements if s.id == "minutes"]
    assert TEXT_PAGE[1] in _squash(minutes.text) and not minutes.ocr and "ocr" not in minutes.extra
    reasons = dict(scan.skipped)
    assert {p.rsplit("/", 1)[-1] for p in reasons} == {"harbour-notice.png", "scan.pdf", "minutes.pdf#page=2"}
    for why in reasons.values():
        assert "tesseract" in why and "apt-get install tesseract-ocr" in why
    assert "tesseract-ocr" in caplog.text
    build_index(tmp_path, tmp_path.parent / "index", fake_encoder)  # the build goes on without them
    assert current_generation(tmp_path.parent / "index") is not None


def test_encrypted_scan_is_skipped_with_a_clear_reason(tmp_path):
    make_scanned_pdf(tmp_path / "locked.pdf", text_image(SCAN[:2]), password="secret")
    (tmp_path / "good.txt").write_text("A statement that is fine.\n")
    scan = scan_corpus(tmp_path)
    assert [s.id for s in scan.statements] == ["good"]
    [(path, why)] = scan.skipped
    assert path.endswith("locked.pdf") and why.startswith("encrypted PDF")


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20, b"\xff\xd8\xff\xe0truncated jpeg"])
def test_unreadable_image_is_skipped_with_a_clear_reason(tmp_path, data):
    (tmp_path / "broken.png").write_bytes(data)
    (tmp_path / "good.txt").write_text("A statement that is fine.\n")
    scan = scan_corpus(tmp_path)
    assert [s.id for s in scan.statements] == ["good"]
    [(path, why)] = scan.skipped
    assert path.endswith("broken.png") and why.startswith("unreadable image")


@needs_tesseract
def test_blank_image_is_skipped_as_no_text(tmp_path):
    from PIL import Image

    Image.new("L", (600, 400), 255).save(tmp_path / "blank.png")
    scan = scan_corpus(tmp_path)
    assert not scan.statements
    assert scan.skipped[0][1].startswith("no text found by OCR")


def test_telegram_export_photos_are_attachments_not_statements(tmp_path):
    export = tmp_path / "channel"
    (export / "photos").mkdir(parents=True)
    (export / "result.json").write_text('{"name": "c", "type": "public_channel", "id": 5, "messages": '
                                        '[{"id": 1, "type": "message", "date": "2024-01-01T00:00:00", '
                                        '"text": "A post with a photo.", "photo": "photos/p.jpg"}]}')
    text_image(["A photo with words on it"]).convert("RGB").save(export / "photos" / "p.jpg")
    scan = scan_corpus(tmp_path)
    assert [s.id for s in scan.statements] == ["tg-5-1"] and not scan.skipped


def test_languages_from_settings_and_sidecar():
    assert ocr.normalise_languages("ru, English") == "rus+eng"
    assert ocr.normalise_languages("eng+rus") == "eng+rus"
    assert ocr.languages_for({"language": "ru"}) == "rus+eng"
    assert ocr.languages_for({"ocr_languages": "ukr"}) == "ukr"
    assert ocr.languages_for({}) == "eng"  # the english_ocr fixture's configured value
    ocr.configure("deu+fra")
    assert ocr.languages_for({}) == "deu+fra"


def test_settings_carry_ocr_languages():
    from search.errors import SettingError
    from search.settings import load_settings

    assert load_settings({}, environ={}).ocr_languages == "eng+rus"
    assert load_settings({}, environ={"STATEMENT_SEARCH_OCR_LANGUAGES": "ukr+eng"}).ocr_languages == "ukr+eng"
    with pytest.raises(SettingError):
        load_settings({"ocr_languages": "eng; rm -rf /"}, environ={})


def test_statement_ocr_confidence_weights_overlap():
    st = Statement(id="s", text="x" * 100, ocr=[(0, 50, 90.0), (52, 100, 60.0)])
    assert st.ocr_confidence(0, 10) == 90.0
    assert st.ocr_confidence(40, 62) == round((10 * 90 + 10 * 60) / 20, 1)
    assert Statement(id="t", text="plain").ocr_confidence(0, 5) is None


def test_paragraphs_of_groups_words_and_joins_run_on_lines():
    data = {"text": ["", "The", "quay", "is", "closed", "until", "Monday.", "Boats", "wait."],
            "conf": [-1, 90, 80, 95, 85, 70, 60, 96, 94],
            "block_num": [1, 1, 1, 1, 1, 2, 2, 3, 3], "par_num": [1] * 9, "line_num": [1, 1, 1, 2, 2, 1, 1, 1, 1]}
    out = ocr.paragraphs_of(data)
    assert [p.text for p in out] == ["The quay\nis closed\nuntil Monday.", "Boats wait."]
    assert out[0].confidence == round((90 + 80 + 95 + 85 + 70 + 60) / 6, 1) and out[1].confidence == 95.0


def test_an_older_generation_gets_the_ocr_column_on_update(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute("ALTER TABLE passages DROP COLUMN ocr")  # as built before the column existed
    assert "ocr" not in {r[1] for r in conn.execute("PRAGMA table_info(passages)")}
    values = {"id": 0, "doc_id": "d", "ordinal": 1, "paragraph": 0, "part": 0, "start": 0, "end": 4, "context": "",
              "text": "text", "hash": "h", "ocr": 88.5, "extra": "{}", "path": "d.txt", "passages": 1,
              "language": "en"}
    conn.commit()
    writer = StoreWriter(path, conn)  # what a live update does to its copy of the live generation's store
    writer.write(documents=[tuple({**values, "id": "d"}.get(c) for c in DOC_COLUMNS)],
                 passages=[tuple(values.get(c) for c in PASSAGE_COLUMNS)])
    writer.close()
    store = PassageStore(path)
    assert store.has_column("ocr") and store.passages([0])[0]["ocr"] == 88.5
    store.close()


def test_hit_schema_and_page_show_the_mark():
    from search.types import DocumentInfo, SearchHit, Span
    from web.schemas import Hit, dump

    hit = SearchHit(id=1, score=0.5, text="The quay is closed.", context="", highlight=Span(0, 5),
                    document=DocumentInfo(id="scan"), paragraph=1, of=1, start=0, end=19, ocr_confidence=91.3)
    assert dump(Hit.of(hit))["ocr_confidence"] == 91.3
    plain = SearchHit(**{**hit.__dict__, "ocr_confidence": None})
    assert "ocr_confidence" not in dump(Hit.of(plain))


def test_image_reader_sniffs_content():
    from index.readers import image, reader_for

    buf = io.BytesIO()
    text_image(["x"]).save(buf, "PNG")
    assert image.looks_like(buf.getvalue())
    assert reader_for(__import__("pathlib").Path("scan.bin"), buf.getvalue()) is image


def test_missing_language_data_is_named(monkeypatch, caplog):
    monkeypatch.setattr(ocr, "engine", lambda: {"version": "tesseract 5", "languages": ["eng", "osd"]})
    with caplog.at_level(logging.WARNING):
        assert ocr.usable_languages("eng+rus") == "eng"
    assert "tesseract-ocr-rus" in caplog.text
    with pytest.raises(ocr.OcrUnavailable, match="tesseract-ocr-ukr"):
        ocr.usable_languages("ukr")
