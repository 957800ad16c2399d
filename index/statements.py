"""Read a corpus folder into statements: header metadata plus the normalised text."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import readers
from .errors import CorpusError
from .language import UNDETERMINED, detect, language_code

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md"}
JSONL_SUFFIXES = {".jsonl"}
KNOWN_KEYS = ("title", "speaker", "date", "source")
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9 _-]{0,30}):[ \t]*(.*)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
# A collection's own paperwork, not statements (e.g. PROVENANCE.md beside the SOTU addresses).
_PAPERWORK = re.compile(r"^(readme|license|licence|provenance|changelog|notice|copying)(\.\w+)?$", re.IGNORECASE)


@dataclass
class Statement:
    """One statement: `text` is the body after the header, with newlines normalised to \\n."""

    id: str
    text: str
    title: str | None = None
    speaker: str | None = None
    date: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    ocr: list[tuple[int, int, float]] = field(default_factory=list)  # OCR'd spans of `text` (readers.ReadStatement)
    language: str = UNDETERMINED  # ISO 639-1 code or `und` (index/language.py)
    language_given: bool = False   # set by a `Language:` header or sidecar: its passages all take it

    def ocr_confidence(self, start: int, end: int) -> float | None:
        """The OCR confidence of text[start:end] (overlapping OCR'd spans, weighted by overlap); None when
        none of it was read by OCR."""
        weight = total = 0.0
        for a, b, confidence in self.ocr:
            overlap = min(b, end) - max(a, start)
            if overlap > 0:
                weight += overlap
                total += overlap * confidence
        return round(total / weight, 1) if weight else None


@dataclass
class CorpusScan:
    statements: list[Statement]
    skipped: list[tuple[str, str]]  # (path, reason)
    fingerprint: str


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_header(text: str) -> tuple[dict[str, str], int]:
    """Split a leading block of `Key: value` lines off `text`; return (header, body offset)."""
    stripped = text.lstrip("\n\ufeff")
    lead = len(text) - len(stripped)
    block_end = stripped.find("\n\n")
    block = stripped if block_end < 0 else stripped[:block_end]
    lines = [ln for ln in block.split("\n") if ln.strip()]
    if not lines or not all(_HEADER_LINE.match(ln.strip()) for ln in lines):
        return {}, 0
    header: dict[str, str] = {}
    for ln in lines:
        key, value = _HEADER_LINE.match(ln.strip()).groups()  # type: ignore[union-attr]
        header[key.strip().lower().replace(" ", "_")] = value.strip()
    body = lead + (len(stripped) if block_end < 0 else block_end)
    return header, body


def _statement(doc_id: str, text: str, meta: dict[str, Any], path: str,
               ocr: list[tuple[int, int, float]] | None = None) -> Statement:
    meta = {k: v for k, v in meta.items() if v not in (None, "")}
    date = meta.pop("date", None)
    if date is not None:
        date = str(date).strip()
        if not _DATE.match(date):
            log.warning("%s: date %r is not YYYY-MM-DD; kept as metadata only", path, date)
            meta["date_raw"] = date
            date = None
    if date is None:
        found = _DATE_IN_NAME.search(Path(path).name)
        date = found.group(1) if found else None
    known = {k: (str(meta.pop(k)) if k in meta else None) for k in ("title", "speaker", "source")}
    language, given = statement_language(text, meta.pop("language", None), path)
    return Statement(id=doc_id, text=text, date=date, extra=meta, path=path, ocr=list(ocr or []),
                     language=language, language_given=given, **known)


def statement_language(text: str, declared: Any, path: str) -> tuple[str, bool]:
    """(language, whether declared): a `Language:` header or sidecar value wins; otherwise detected on the text.
    A value that names no language is kept as metadata by the caller's warning and detection decides."""
    if declared not in (None, ""):
        code = language_code(declared)
        if code is not None:
            return code, True
        log.warning("%s: language %r is not an ISO 639 code or language name; detected instead", path, declared)
    language = detect(text)
    if language == UNDETERMINED and sum(ch.isalpha() for ch in text[:2000]) >= 12:
        log.warning("%s: no language could be detected (mixed scripts or too little text); marked %s",
                    path, UNDETERMINED)
    return language, False


def read_text_statement(path: Path, doc_id: str, raw: str, overrides: dict[str, Any] | None = None) -> Statement:
    text = normalise_newlines(raw)
    header, body = parse_header(text)
    return _statement(doc_id, text[body:], {**header, **(overrides or {})}, str(path))


def read_jsonl(path: Path, doc_prefix: str, raw: str, overrides: dict[str, Any] | None = None) -> Iterator[Statement]:
    # JSON Lines ends lines with \n (or \r\n) only: str.splitlines would also split at U+0085, U+2028 and
    # other characters that a valid line may carry unescaped inside its strings, losing the statement.
    for n, line in enumerate(raw.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            log.warning("%s:%d: skipped, not JSON (%s)", path, n, exc.msg)
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or not obj["text"].strip():
            log.warning("%s:%d: skipped, no 'text' string", path, n)
            continue
        doc_id = str(obj.pop("id", None) or obj.pop("_id", None) or f"{doc_prefix}#{n}")
        text = normalise_newlines(obj.pop("text"))
        yield _statement(doc_id, text, {**obj, **(overrides or {})}, f"{path}:{n}")


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def statement_files(root: Path) -> list[Path]:
    """Every non-hidden file under `root`, sorted: what a scan looks at."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.name.startswith("."))


def scan_corpus(root: Path, max_bytes: int = readers.MAX_FILE_BYTES, files: list[Path] | None = None) -> CorpusScan:
    """Read every statement under `root`; unreadable, binary, undecodable or oversized files are skipped with a warning.

    .txt/.md (with a `Key: value` header) and .jsonl are read here; Telegram exports, HTML, PDF and DOCX by
    index/readers. A file's metadata sidecar (NAME.EXT.meta.json or its folder's metadata.csv) overrides
    what the file says.

    `files` reads only those files (index/update.py): a file under `root` gets the id a whole scan would
    give it; a file outside `root` is named as if it lay directly in `root` (its name without extension).
    """
    root = Path(root)
    statements: list[Statement] = []
    skipped: list[tuple[str, str]] = []
    from_readers: set[int] = set()  # id() of statements made by index/readers: a clash skips, never aborts
    sidecars = readers.Sidecars()
    digest = hashlib.sha256()
    files = statement_files(root) if files is None else list(files)
    for path in files:
        rel = _relative(path, root)
        suffix = path.suffix.lower()
        if readers.is_sidecar(path):  # read with its file (readers.Sidecars); here only fingerprinted
            try:
                digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
            except OSError:
                pass  # reported by Sidecars when the file it describes is read
            continue
        if suffix not in TEXT_SUFFIXES | JSONL_SUFFIXES and not readers.handles(path):
            continue
        if _PAPERWORK.match(path.name):
            log.info("not a statement, left out: %s", path)
            continue
        if readers.is_attachment(path):
            log.info("an attachment of a Telegram export, left out: %s", path)
            continue
        try:
            size = path.stat().st_size
            if size > max_bytes:
                log.warning("skipped %s: %d bytes, over the %d-byte limit", path, size, max_bytes)
                skipped.append((str(path), f"file too large ({size:,} bytes; the limit is {max_bytes:,})"))
                continue
            data = path.read_bytes()
        except OSError as exc:
            log.warning("skipped %s: cannot read (%s)", path, exc.strerror or exc)
            skipped.append((str(path), "unreadable"))
            continue
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        doc_id = rel.rsplit(".", 1)[0]
        if readers.handles(path):
            result = readers.read_file(path, data, sidecars.for_file(path))
            skipped.extend(result.skipped)
            for rs in result.statements:
                st = _statement(rs.id or (doc_id + rs.where if rs.where else doc_id), rs.text, rs.meta,
                                f"{path}{rs.where}", rs.ocr)
                from_readers.add(id(st))
                statements.append(st)
            continue
        raw = _decode(data)
        if raw is None:
            log.warning("skipped %s: binary or not UTF-8", path)
            skipped.append((str(path), "not UTF-8 text"))
            continue
        if suffix in JSONL_SUFFIXES:
            statements.extend(read_jsonl(path, doc_id, raw, sidecars.for_file(path)))
        else:
            statements.append(read_text_statement(path, doc_id, raw, sidecars.for_file(path)))
    skipped.extend(sidecars.problems)
    seen: dict[str, Statement] = {}
    kept: list[Statement] = []
    for st in statements:
        if st.id in seen:
            if id(st) not in from_readers and id(seen[st.id]) not in from_readers:
                raise CorpusError(f"duplicate statement id {st.id!r} in {st.path}")
            log.warning("skipped %s: statement id %r already read from %s", st.path, st.id, seen[st.id].path)
            skipped.append((st.path, f"duplicate statement id {st.id!r} (already read from {seen[st.id].path})"))
            continue
        seen[st.id] = st
        kept.append(st)
    return CorpusScan(kept, skipped, digest.hexdigest())


def _relative(path: Path, root: Path) -> str:
    """`path` relative to `root` (POSIX), or its bare name when it lies outside `root`."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return path.name
