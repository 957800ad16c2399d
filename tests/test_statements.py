from pathlib import Path

from index.statements import parse_header, scan_corpus


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def test_header_keys_become_metadata(tmp_path):
    write(tmp_path / "a.txt", "Title: Address\nSpeaker: Jane Roe\nDate: 2020-01-02\nSource: https://x.org/a\n"
                              "Venue: Hall\n\nFirst paragraph here.\n")
    st = scan_corpus(tmp_path).statements[0]
    assert (st.title, st.speaker, st.date, st.source) == ("Address", "Jane Roe", "2020-01-02", "https://x.org/a")
    assert st.extra == {"venue": "Hall"}
    assert st.text.strip() == "First paragraph here."


def test_seed_source_line_is_metadata_not_text():
    from conftest import SEED_CORPUS

    st = scan_corpus(SEED_CORPUS).statements[0]
    assert st.source == "DuRove's Channel"
    assert "Source:" not in st.text
    assert st.date == "2024-09-06"  # taken from the file name when the header has none


def test_no_header_and_crlf(tmp_path):
    write(tmp_path / "b.md", b"Plain text: with a colon inside a long first line of prose.\r\nwrapped\r\n\r\nSecond.\r\n")
    st = scan_corpus(tmp_path).statements[0]
    assert "\r" not in st.text
    assert st.text.startswith("Plain text: with a colon")


def test_header_only_file_has_no_text(tmp_path):
    header, body = parse_header("Title: Nothing else\nSpeaker: X\n")
    assert header == {"title": "Nothing else", "speaker": "X"}
    write(tmp_path / "h.txt", "Title: Nothing else\nSpeaker: X\n")
    assert scan_corpus(tmp_path).statements[0].text.strip() == ""


def test_jsonl_statements(tmp_path):
    write(tmp_path / "posts.jsonl", '{"id": "p1", "text": "Hello there.", "speaker": "A", "date": "2021-05-01", "channel": "c"}\n'
                                    'not json\n{"title": "no text"}\n{"text": "Second post."}\n')
    scan = scan_corpus(tmp_path)
    ids = [s.id for s in scan.statements]
    assert ids == ["p1", "posts#4"]
    assert scan.statements[0].speaker == "A" and scan.statements[0].extra == {"channel": "c"}


def test_binary_and_undecodable_files_are_skipped_with_warning(tmp_path, caplog):
    write(tmp_path / "good.txt", "A fine statement about things.\n")
    write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    write(tmp_path / "latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"))
    scan = scan_corpus(tmp_path)
    assert [s.id for s in scan.statements] == ["good"]
    assert {Path(p).name for p, _ in scan.skipped} == {"image.txt", "latin1.txt"}
    assert "image.txt" in caplog.text and "latin1.txt" in caplog.text


def test_bad_date_is_kept_but_not_used(tmp_path):
    write(tmp_path / "d.txt", "Date: March 1990\n\nText of the statement.\n")
    st = scan_corpus(tmp_path).statements[0]
    assert st.date is None and st.extra["date_raw"] == "March 1990"


def test_collection_paperwork_is_not_a_statement(tmp_path):
    write(tmp_path / "PROVENANCE.md", "# Where these files come from\n\nScraped from an archive.\n")
    write(tmp_path / "README.txt", "About this folder.\n")
    write(tmp_path / "readme-of-the-minister.txt", "A statement whose name starts like a readme.\n")
    assert [s.id for s in scan_corpus(tmp_path).statements] == ["readme-of-the-minister"]
