"""Property tests for the corpus readers: odd bytes never crash a scan, and a valid statement is never lost."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from index.readers import read_file
from index.statements import scan_corpus

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = ("a.txt", "a.md", "a.jsonl", "result.json", "a.html", "a.pdf", "a.docx", "a.txt.meta.json", "metadata.csv")
# Prose with no blank lines inside a paragraph and no line that could read as a "Key: value" header.
WORD = st.text(st.characters(categories=("L", "N"), exclude_characters="\x00"), min_size=1, max_size=12)
PARAGRAPH = st.lists(WORD, min_size=1, max_size=30).map(" ".join)


def scan_of(files: dict[str, bytes]):
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        for name, data in files.items():
            (root / name).write_bytes(data)
        return scan_corpus(root, max_bytes=16 << 20)
    finally:
        shutil.rmtree(root)


@FAST
@given(name=st.sampled_from(NAMES), data=st.binary(max_size=4096))
def test_random_bytes_never_crash_and_a_good_neighbour_survives(name, data):
    scan = scan_of({name: data, "good.txt": b"A statement that must survive.\n"})
    assert any(s.id == "good" and s.text == "A statement that must survive.\n" for s in scan.statements)
    for s in scan.statements:
        json.dumps(s.extra)  # metadata must be storable as JSON whatever came in


@FAST
@given(paras=st.lists(PARAGRAPH, min_size=1, max_size=5), bom=st.booleans(), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       speaker=WORD)
def test_valid_text_statement_is_never_lost(paras, bom, newline, speaker):
    body = (newline * 2).join(paras)
    raw = f"Speaker: {speaker}{newline}{newline}{body}{newline}"
    scan = scan_of({"s.txt": (b"\xef\xbb\xbf" if bom else b"") + raw.encode()})
    [statement] = scan.statements
    assert statement.speaker == speaker
    assert [p.strip() for p in statement.text.strip().split("\n\n")] == paras


@FAST
@given(paras=st.lists(PARAGRAPH, min_size=1, max_size=3), junk=st.binary(max_size=64))
def test_nul_or_mixed_encoding_is_skipped_with_a_reason_never_half_read(paras, junk):
    good = "\n\n".join(paras).encode()
    latin1 = "caf\xe9 ".encode("latin-1")
    scan = scan_of({"nul.txt": good + b"\x00" + junk, "mixed.txt": good + latin1 + junk, "ok.txt": good})
    assert [s.id for s in scan.statements] == ["ok"]
    assert {Path(p).name for p, _ in scan.skipped} == {"nul.txt", "mixed.txt"}
    assert all(why for _, why in scan.skipped)


@settings(max_examples=10, deadline=None)
@given(word=WORD, repeat=st.integers(20_000, 60_000))
def test_enormous_line_is_read_whole(word, repeat):
    line = " ".join([word] * repeat)
    [statement] = scan_of({"long.txt": line.encode()}).statements
    assert statement.text == line


@FAST
@given(texts=st.lists(st.one_of(PARAGRAPH, st.lists(st.one_of(PARAGRAPH, st.fixed_dictionaries(
    {"type": st.sampled_from(["bold", "text_link", "mention", "weird"]), "text": PARAGRAPH,
     "href": st.just("https://example.org/x")})), max_size=4)), min_size=1, max_size=6),
       junk=st.lists(st.one_of(st.none(), st.integers(), st.sampled_from(["", " \n "]), st.fixed_dictionaries({})),
                     max_size=4))
def test_telegram_every_message_with_text_is_read_and_junk_skipped(texts, junk):
    messages = [{"id": i + 1, "type": "message", "date_unixtime": str(1_700_000_000 + i), "text": t}
                for i, t in enumerate(texts)]
    messages += [{"id": 100 + i, "type": "message", "text": j} for i, j in enumerate(junk)]
    export = {"name": "Chan", "id": 5, "messages": messages}
    result = read_file(Path("result.json"), json.dumps(export).encode())
    expected = {f"tg-5-{m['id']}" for m in messages[:len(texts)]
                if (m["text"] if isinstance(m["text"], str) else "".join(
                    x if isinstance(x, str) else x["text"] for x in m["text"])).strip()}
    assert {s.id for s in result.statements} == expected
    assert len(result.statements) + len(result.skipped) == len(messages)
