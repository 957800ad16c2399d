"""Hypothesis against the .txt/.jsonl statement readers: junk never crashes a scan and never costs a valid statement."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from index.statements import read_jsonl, read_text_statement, scan_corpus

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
junk_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)  # NUL, CR, BOM, U+2028, ... included
statement_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200).filter(str.strip)


@FAST
@given(valid=st.lists(statement_text, min_size=1, max_size=5), junk=st.lists(junk_text, max_size=5),
       crlf=st.booleans(), long_line=st.booleans())
def test_jsonl_keeps_every_valid_statement(valid, junk, crlf, long_line):
    lines = [json.dumps({"id": f"valid-{i}", "text": t}, ensure_ascii=False) for i, t in enumerate(valid)]
    lines += [j.replace("\n", " ") for j in junk]
    if long_line:
        lines.append("x" * 200_000)
    raw = ("\r\n" if crlf else "\n").join(lines)
    found = {s.id: s.text for s in read_jsonl(Path("f.jsonl"), "f", raw) if s.id.startswith("valid-")}
    expected = {f"valid-{i}": t.replace("\r\n", "\n").replace("\r", "\n") for i, t in enumerate(valid)}
    assert found == expected


@FAST
@given(body=statement_text, bom=st.booleans(), crlf=st.booleans())
def test_text_statement_header_and_body(body, bom, crlf):
    newline = "\r\n" if crlf else "\n"
    raw = ("\ufeff" if bom else "") + f"Title: T{newline}Speaker: S{newline}{newline}" + body
    statement = read_text_statement(Path("a.txt"), "a", raw)
    assert statement.title == "T" and statement.speaker == "S"
    assert statement.text.strip() == body.replace("\r\n", "\n").replace("\r", "\n").strip()


@FAST
@given(junk=st.binary(max_size=2000), name=st.sampled_from(["x.txt", "x.md", "x.jsonl"]))
def test_scan_survives_junk_files_beside_a_valid_one(junk, name):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "good.txt").write_text("Title: Good\n\nA statement that must survive.\n")
        (root / name).write_bytes(junk)
        scan = scan_corpus(root)
    good = [s for s in scan.statements if s.id == "good"]
    assert len(good) == 1 and "must survive" in good[0].text
