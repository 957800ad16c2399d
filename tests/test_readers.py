"""Format readers: Telegram exports, HTML pages, PDF and DOCX files, metadata sidecars, bad input."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from index.passages import split_statement
from index.readers import MAX_FILE_BYTES, read_file, reader_for, telegram
from index.statements import scan_corpus
from make_documents import HTML_PAGE, PDF_HEADING, PDF_PARAGRAPHS, PDF_RUNNING_HEADER, make_docx, make_pdf

TELEGRAM = Path(__file__).parent / "data" / "telegram"


def by_id(scan):
    return {st.id: st for st in scan.statements}


# -- Telegram ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tg():
    return scan_corpus(TELEGRAM)


def test_telegram_one_statement_per_message_with_text(tg):
    assert sorted(by_id(tg)) == [f"tg-1712345678-{n}" for n in (2, 3, 4, 7, 9)]


def test_telegram_service_and_media_only_messages_are_skipped_with_reasons(tg):
    reasons = {p.rsplit("#", 1)[1]: why for p, why in tg.skipped}
    assert reasons == {"1": "service message (create_channel)", "5": "no text (photo)",
                       "6": "no text (file)", "8": "service message (pin_message)"}
    assert all(p.endswith(f"result.json#{n}") for p, n in zip(sorted(p for p, _ in tg.skipped), "1568"))


def test_telegram_date_is_utc_from_unixtime_and_paragraphs_split_at_blank_lines(tg):
    st = by_id(tg)["tg-1712345678-2"]
    assert st.date == "2024-03-01"  # the export's local "date" says 2024-03-02T00:30
    assert st.extra["time"] == "2024-03-01T23:30:00Z"
    assert st.text.split("\n\n")[1].startswith("Agendas will be posted here")
    assert st.speaker == "Harbour Council Updates"


def test_telegram_entity_list_text_links_signature_and_edit(tg):
    st = by_id(tg)["tg-1712345678-3"]
    assert st.text.startswith("Dredging update: the north channel will be dredged in April. Read the full "
                              "engineering report or the summary at https://harbour.example.org/dredging.")
    assert "@harbourdesk #dredging" in st.text and "/status north" in st.text
    assert st.extra["links"] == ["https://harbour.example.org/reports/dredging-2024.pdf"]
    assert st.speaker == "Mara Lind" and st.extra["author_signature"] == "Mara Lind"
    assert st.extra["edited"] == "2024-03-04T11:02:10Z"


def test_telegram_forward_is_attributed_to_its_origin(tg):
    st = by_id(tg)["tg-1712345678-4"]
    assert st.speaker == "Coastal Weather Service"
    assert st.extra["forwarded_by"] == "Harbour Council Updates"


def test_telegram_reply_link_and_photo_with_caption(tg):
    reply, caption = by_id(tg)["tg-1712345678-7"], by_id(tg)["tg-1712345678-9"]
    assert reply.extra["reply_to_message_id"] == 4
    assert reply.source == "https://t.me/harbourcouncil/7"  # username from result.json.meta.json
    assert caption.text.startswith("The storm has passed.")
    # the sidecar's language is the statement's language now (index/language.py), not extra metadata
    assert caption.language == "en" and caption.language_given and "language" not in caption.extra


def test_telegram_without_username_names_the_chat(tmp_path):
    shutil.copy(TELEGRAM / "result.json", tmp_path / "result.json")
    st = by_id(scan_corpus(tmp_path))["tg-1712345678-7"]
    assert st.source == "Harbour Council Updates" and "url" not in st.extra


def test_telegram_sidecar_speaker_names_the_channel_but_not_forwards(tmp_path):
    shutil.copy(TELEGRAM / "result.json", tmp_path / "result.json")
    (tmp_path / "result.json.meta.json").write_text('{"speaker": "Harbour Council", "username": "@harbourcouncil"}')
    sts = by_id(scan_corpus(tmp_path))
    assert sts["tg-1712345678-2"].speaker == "Harbour Council"
    assert sts["tg-1712345678-3"].speaker == "Mara Lind"
    assert sts["tg-1712345678-4"].speaker == "Coastal Weather Service"


def test_telegram_whole_account_export_reads_every_chat(tmp_path):
    chat = json.loads((TELEGRAM / "result.json").read_text())
    other = {"name": "Other", "type": "public_channel", "id": 99, "messages": [
        {"id": 1, "type": "message", "date_unixtime": "1700000000", "text": "A post in another channel."}]}
    (tmp_path / "result.json").write_text(json.dumps({"chats": {"list": [chat, other]}}))
    assert set(by_id(scan_corpus(tmp_path))) == {f"tg-1712345678-{n}" for n in (2, 3, 4, 7, 9)} | {"tg-99-1"}


# -- HTML ----------------------------------------------------------------------------------------------

def test_html_main_text_without_navigation_banner_or_footer(tmp_path):
    (tmp_path / "water.html").write_text(HTML_PAGE)
    st = scan_corpus(tmp_path).statements[0]
    assert (st.id, st.title, st.speaker, st.date) == ("water", "Statement on the water supply", "Jane Roe", "2023-04-05")
    assert st.source == "https://water.example.gov/press/supply"
    assert st.extra["sitename"] == "Ministry of Water"
    for junk in ("cookies", "Press releases", "All rights reserved"):
        assert junk not in st.text
    blocks = st.text.strip().split("\n\n")
    assert "Our plan" in blocks and "Weekly results are published online." in blocks


@pytest.mark.parametrize("name,heading,after", [("water.html", "Our plan", "We will repair"),
                                                 ("meals.docx", "Why now", "Teachers told us")])
def test_headings_become_lead_in_context(tmp_path, name, heading, after):
    if name.endswith(".html"):
        (tmp_path / name).write_text(HTML_PAGE)
    else:
        make_docx(tmp_path / name)
    st = scan_corpus(tmp_path).statements[0]
    drafts = split_statement(st.text, 254, lambda t: len(t.split()))
    passage = next(d for d in drafts if d.text.startswith(after))
    assert heading in passage.context
    assert " ".join(st.text[passage.start:passage.end].split()) == passage.text  # offsets into the stored text


# -- PDF -----------------------------------------------------------------------------------------------

def test_pdf_paragraphs_rebuilt_headers_and_page_numbers_dropped(tmp_path):
    make_pdf(tmp_path / "water.pdf")
    scan = scan_corpus(tmp_path)
    st = scan.statements[0]
    assert (st.title, st.speaker, st.date) == ("Water supply", "Jane Roe", "2022-03-04")
    blocks = st.text.strip().split("\n\n")
    assert PDF_RUNNING_HEADER not in st.text and "Page 1" not in st.text and "Page 2" not in st.text
    assert blocks[0] == PDF_HEADING
    assert [b for b in blocks if b in PDF_PARAGRAPHS] == blocks[1:-1]  # every wrapped paragraph joined whole
    assert len(blocks) == 2 + 10 * len(PDF_PARAGRAPHS)  # none split at the page break
    assert blocks[-1] == "We owe the public full accountability for every decision we take."


@pytest.mark.parametrize("kind,reason", [("encrypted", "encrypted PDF"), ("image-only", "no text layer")])
def test_unreadable_pdf_is_skipped_and_the_rest_indexed(tmp_path, kind, reason):
    make_pdf(tmp_path / "bad.pdf", password="secret" if kind == "encrypted" else None, text=kind != "image-only")
    (tmp_path / "good.txt").write_text("A statement that is fine.\n")
    scan = scan_corpus(tmp_path)
    assert [s.id for s in scan.statements] == ["good"]
    [(path, why)] = scan.skipped
    assert path.endswith("bad.pdf") and why.startswith(reason)


# -- DOCX ----------------------------------------------------------------------------------------------

def test_docx_headings_paragraphs_tables_and_properties(tmp_path):
    make_docx(tmp_path / "meals.docx")
    st = scan_corpus(tmp_path).statements[0]
    assert (st.title, st.speaker, st.date) == ("Statement on school meals", "Amal Haddad", "2023-09-01")
    blocks = st.text.strip().split("\n\n")
    assert blocks[0] == "School meals" and blocks[2] == "Why now"
    assert blocks[3] == ("Teachers told us that hungry children cannot learn.\n"
                         "Parents told us that the forms to claim a free meal were humiliating and slow.")
    assert "310,000 · one" in blocks


def test_renamed_zip_is_not_a_word_document(tmp_path):
    with zipfile.ZipFile(tmp_path / "fake.docx", "w") as z:
        z.writestr("notes.txt", "not a Word file")
    scan = scan_corpus(tmp_path)
    assert scan.statements == [] and scan.skipped[0][1].startswith("not a Word document")


# -- sidecars ------------------------------------------------------------------------------------------

def test_json_sidecar_overrides_the_file_and_csv_fills_in(tmp_path):
    make_docx(tmp_path / "meals.docx")
    (tmp_path / "a.txt").write_text("Speaker: From Header\n\nText of a.\n")
    (tmp_path / "meals.docx.meta.json").write_text(json.dumps(
        {"speaker": "Minister Amal Haddad", "date": "2023-09-04", "url": "https://gov.example/meals"}))
    (tmp_path / "metadata.csv").write_text("file,speaker,source,venue\nmeals.docx,CSV Speaker,Press office,\n"
                                           "a.txt,CSV Speaker,,Town hall\n")
    sts = by_id(scan_corpus(tmp_path))
    assert set(sts) == {"meals", "a"}  # sidecars are not statements
    meals, a = sts["meals"], sts["a"]
    assert (meals.speaker, meals.date, meals.source) == ("Minister Amal Haddad", "2023-09-04", "Press office")
    assert meals.extra["url"] == "https://gov.example/meals" and meals.title == "Statement on school meals"
    assert a.speaker == "CSV Speaker" and a.extra == {"venue": "Town hall"}


def test_sidecar_changes_change_the_fingerprint(tmp_path):
    (tmp_path / "a.txt").write_text("Text of a.\n")
    before = scan_corpus(tmp_path).fingerprint
    (tmp_path / "a.txt.meta.json").write_text('{"speaker": "X"}')
    assert scan_corpus(tmp_path).fingerprint != before


def test_broken_sidecar_is_reported_and_the_file_still_read(tmp_path):
    (tmp_path / "a.txt").write_text("Text of a.\n")
    (tmp_path / "a.txt.meta.json").write_text("[1, 2")
    scan = scan_corpus(tmp_path)
    assert [s.id for s in scan.statements] == ["a"]
    assert scan.skipped[0][0].endswith("a.txt.meta.json") and "not readable JSON" in scan.skipped[0][1]


# -- bad input, dispatch -------------------------------------------------------------------------------

def test_bad_files_are_skipped_one_line_each_and_the_rest_indexed(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "result.json").write_text('{"name": "x", "messages": [')
    (tmp_path / "other.json").write_text('{"just": "json"}')
    (tmp_path / "big.txt").write_text("x" * 5000)
    (tmp_path / "good.txt").write_text("A statement that is fine.\n")
    (tmp_path / "PROVENANCE.md").write_text("Where these came from.\n")
    scan = scan_corpus(tmp_path, max_bytes=4096)
    assert [s.id for s in scan.statements] == ["good"]
    why = {Path(p).name: w for p, w in scan.skipped}
    assert why["result.json"].startswith("not a valid JSON Telegram export")
    assert why["other.json"].startswith("JSON, but not a Telegram export")
    assert why["big.txt"].startswith("file too large (5,000 bytes")
    assert MAX_FILE_BYTES == 200 * 1024 * 1024


def test_content_wins_over_a_wrong_extension(tmp_path):
    make_pdf(tmp_path / "release.docx")  # a PDF saved under the wrong name
    assert reader_for(tmp_path / "release.docx", (tmp_path / "release.docx").read_bytes()).__name__.endswith("pdf")
    assert scan_corpus(tmp_path).statements[0].title == "Water supply"


def test_same_id_from_two_formats_keeps_the_first_and_reports_the_second(tmp_path):
    make_docx(tmp_path / "meals.docx")
    (tmp_path / "meals.html").write_text(HTML_PAGE)
    scan = scan_corpus(tmp_path)
    assert [s.path.rsplit("/", 1)[-1] for s in scan.statements] == ["meals.docx"]
    assert scan.skipped[0][0].endswith("meals.html") and "duplicate statement id" in scan.skipped[0][1]


def test_reader_never_raises_on_garbage():
    for data in (b"", b"%PDF-1.7\n garbage", b"PK\x03\x04 garbage", b"<html><body></body></html>", b"{}"):
        for name in ("x.pdf", "x.docx", "x.html", "x.json"):
            result = read_file(Path(name), data)
            assert result.statements == [] and len(result.skipped) == 1


def test_telegram_sniffer():
    assert telegram.looks_like((TELEGRAM / "result.json").read_bytes())
    assert not telegram.looks_like(b'{"a": 1}')
