"""PDF press releases and transcripts: paragraphs rebuilt from pypdf's layout text; scanned pages OCR'd.

A page with a text layer is read from it (the fast path); only a page without one that carries an image
is rendered (pdftoppm, else its largest embedded image) and read by OCR (index/readers/ocr.py).
"""
from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from . import ocr
from .base import ReadResult, ReadStatement, Unreadable, clean_line, join_marked

log = logging.getLogger(__name__)
_PAGE_NUMBER = re.compile(r"^(?:[-–—]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?(?:\s*[-–—])?$", re.IGNORECASE)
_TERMINAL = re.compile(r"[.!?:;…][\"'”’)\]]*$")
_HYPHENATED = re.compile(r"[A-Za-zÀ-ÿ]-$")
MIN_TEXT_CHARS = 20  # less than this over the whole file: an image-only (scanned) PDF
MIN_PAGE_CHARS = 20  # less than this on a page that carries an image: a scanned page, OCR'd
RENDER_DPI = 300     # what Tesseract is trained for


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
        scanned = [i for i, (page, lines) in enumerate(zip(reader.pages, pages))
                   if _chars(lines) < MIN_PAGE_CHARS and _has_image(page)]
    except Unreadable:
        raise
    except (PdfReadError, NotImplementedError) as exc:
        msg = "encrypted PDF (needs a password)" if "decrypt" in str(exc).lower() else f"unreadable PDF ({exc})"
        raise Unreadable(msg) from None
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise Unreadable(f"unreadable PDF ({type(exc).__name__}: {exc})") from None
    result = ReadResult()
    meta = _info(reader)
    ocr_pages: dict[int, list[ocr.OcrParagraph]] = {}
    if scanned:
        has_text = any(_chars(lines) >= MIN_PAGE_CHARS for lines in pages)
        try:
            languages = ocr.usable_languages(ocr.languages_for(sidecar))
            ocr_pages = _ocr_pages(reader, data, scanned, languages)
        except Unreadable as exc:
            if not has_text:
                raise
            # The text pages are still worth indexing; the scanned ones are listed as skipped.
            log.warning("%s: pages %s not OCR'd: %s", path, ", ".join(str(i + 1) for i in scanned), exc)
            result.skipped.append((f"#page={scanned[0] + 1}", f"{len(scanned)} scanned page(s) not OCR'd: {exc}"))
        found = [p for ps in ocr_pages.values() for p in ps]
        if found:
            meta["ocr"] = ocr.summary(languages, [i + 1 for i in sorted(ocr_pages) if ocr_pages[i]], found)
    text, spans = join_marked(_marked_paragraphs(pages, ocr_pages))
    if len(text.strip()) < MIN_TEXT_CHARS:
        if scanned:
            raise Unreadable("scanned PDF, but OCR found no text on its pages")
        raise Unreadable("no text layer and no page image to OCR (an empty or vector-only PDF?)")
    result.statements.append(ReadStatement(text=text, meta=meta, ocr=spans))
    return result


def _chars(lines: list[str]) -> int:
    return sum(len(ln.strip()) for ln in lines)


def _has_image(page) -> bool:
    """Whether the page draws an image (an XObject image or an inline one): what a scan page is."""
    try:
        return len(page.images) > 0
    except Exception:  # an image pypdf cannot decode is still an image: let the renderer try
        return True


def _marked_paragraphs(pages: list[list[str]], ocr_pages: dict[int, list]) -> list[tuple[str, float | None]]:
    """Paragraphs in page order: each run of text-layer pages rebuilt together, OCR'd pages as Tesseract
    split them (with their confidence). Pages neither readable nor OCR'd add nothing."""
    out: list[tuple[str, float | None]] = []
    run: list[list[str]] = []
    for i, lines in enumerate(pages):
        if i in ocr_pages:
            out.extend((p, None) for p in rebuild_paragraphs(run) if run)
            run = []
            out.extend((p.text, p.confidence) for p in ocr_pages[i])
        else:
            run.append(lines)
    if run:
        out.extend((p, None) for p in rebuild_paragraphs(run))
    return out


def _ocr_pages(reader, data: bytes, numbers: list[int], languages: str) -> dict[int, list]:
    """{page index: its OCR paragraphs} for the scanned pages."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="ocr-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(data)
        for i in numbers:
            image = _render(source, i, Path(tmp)) or _largest_image(reader.pages[i])
            if image is None:
                log.warning("page %d: no image to OCR", i + 1)
                continue
            out[i] = ocr.read_image(image, languages)
    return out


def _render(source: Path, index: int, tmp: Path):
    """Page `index` rendered to a greyscale image by poppler's pdftoppm; None when it is not installed or fails."""
    from PIL import Image

    tool = shutil.which("pdftoppm")
    if tool is None:
        return None
    prefix = tmp / f"page-{index + 1}"
    try:
        subprocess.run([tool, "-r", str(RENDER_DPI), "-gray", "-png", "-singlefile", "-f", str(index + 1),
                        "-l", str(index + 1), str(source), str(prefix)], check=True, capture_output=True,
                       timeout=ocr.PAGE_TIMEOUT_S)
        with Image.open(f"{prefix}.png") as image:
            return image.copy()
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.info("pdftoppm could not render page %d (%s); using its embedded image", index + 1, exc)
        return None


def _largest_image(page):
    """The page's largest embedded image (a scan is one image per page), as a Pillow image, or None."""
    best, area = None, 0
    try:
        for item in page.images:
            image = item.image
            if image is not None and image.width * image.height > area:
                best, area = image, image.width * image.height
    except Exception as exc:  # an undecodable image leaves the page unread, not the file
        log.info("embedded image unreadable: %s", exc)
    return best


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
