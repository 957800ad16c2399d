"""PDF press releases and transcripts: paragraphs rebuilt from pypdf's layout text."""
from __future__ import annotations

import io
import logging
import re
from collections import Counter
from typing import Any

from .base import ReadResult, ReadStatement, Unreadable, clean_line, join_paragraphs

log = logging.getLogger(__name__)
_PAGE_NUMBER = re.compile(r"^(?:[-–—]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?(?:\s*[-–—])?$", re.IGNORECASE)
_TERMINAL = re.compile(r"[.!?:;…][\"'”’)\]]*$")
_HYPHENATED = re.compile(r"[A-Za-zÀ-ÿ]-$")
MIN_TEXT_CHARS = 20  # less than this over the whole file: an image-only (scanned) PDF


def looks_like(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


def read(path: str, data: bytes, sidecar: dict[str, Any]) -> ReadResult:
    """One statement per PDF; Title/Author/CreationDate from the document info are defaults."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF (needs a password)")
        pages = [_page_lines(page) for page in reader.pages]
    except Unreadable:
        raise
    except (PdfReadError, NotImplementedError) as exc:
        msg = "encrypted PDF (needs a password)" if "decrypt" in str(exc).lower() else f"unreadable PDF ({exc})"
        raise Unreadable(msg) from None
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise Unreadable(f"unreadable PDF ({type(exc).__name__}: {exc})") from None
    paragraphs = rebuild_paragraphs(pages)
    text = join_paragraphs(paragraphs)
    if len(text.strip()) < MIN_TEXT_CHARS:
        raise Unreadable("no text layer (image-only PDF?); OCR it first")
    return ReadResult([ReadStatement(text=text, meta=_info(reader))])


def _page_lines(page) -> list[str]:
    try:
        raw = page.extract_text(extraction_mode="layout")
    except Exception:  # layout mode is stricter than plain mode on odd fonts
        raw = page.extract_text() or ""
    return [ln.rstrip() for ln in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def rebuild_paragraphs(pages: list[list[str]]) -> list[str]:
    """Join hard-wrapped lines, undo end-of-line hyphens, drop running headers/footers and page numbers."""
    running = _running_lines(pages)
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for lines in pages:
        body = _trim_page(lines, running)
        width = max((len(ln.strip()) for ln in body if ln.strip()), default=0)
        for i, line in enumerate(body):
            stripped = clean_line(line)
            if not stripped:
                if current:
                    paragraphs.append(current)
                    current = []
                continue
            current.append(stripped)
            nxt = body[i + 1] if i + 1 < len(body) else ""
            # A short line ending a sentence closes its paragraph even without a blank line after it.
            if _TERMINAL.search(stripped) and len(stripped) < 0.7 * width and nxt.strip():
                paragraphs.append(current)
                current = []
        # A paragraph runs on over the page break unless its last line ends a sentence.
        if current and _TERMINAL.search(current[-1]):
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return [_join_lines(p) for p in paragraphs]


def _join_lines(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        if _HYPHENATED.search(out) and line[:1].islower():
            out = out[:-1] + line  # "self-\nevident" stays wrong only for real hyphens at a line end
        else:
            out = f"{out} {line}"
    return out


def _key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def _edges(lines: list[str], n: int = 2) -> list[str]:
    nonblank = [ln for ln in lines if ln.strip()]
    return nonblank[:n] + nonblank[-n:]


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Lines (digits ignored) at the top or bottom of at least half the pages: headers and footers."""
    if len(pages) < 2:
        return set()
    seen = Counter(k for lines in pages for k in {_key(ln) for ln in _edges(lines)})
    return {k for k, n in seen.items() if n >= max(2, len(pages) / 2)}


def _trim_page(lines: list[str], running: set[str]) -> list[str]:
    """The page without its running lines and page numbers at the top and bottom."""
    lines = list(lines)
    for edge in (0, -1):
        for _ in range(3):
            while lines and not lines[edge].strip():
                lines.pop(edge)
            if lines and (_key(lines[edge]) in running or _PAGE_NUMBER.match(lines[edge].strip())):
                lines.pop(edge)
            else:
                break
    return lines


def _info(reader) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    try:
        info = reader.metadata
        if info is None:
            return meta
        if info.title and str(info.title).strip():
            meta["title"] = clean_line(str(info.title))
        if info.author and str(info.author).strip():
            meta["speaker"] = clean_line(str(info.author))
        created = info.creation_date
        if created is not None:
            meta["date"] = created.strftime("%Y-%m-%d")
    except Exception as exc:  # a damaged info dictionary costs only the defaults
        log.info("PDF document info unreadable: %s", exc)
    return meta
