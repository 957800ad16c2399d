"""Saved web pages (press releases, transcripts): main text and metadata by trafilatura, not a tag stripper."""
from __future__ import annotations

import re
from typing import Any

from .base import ReadResult, ReadStatement, Unreadable, clean_line, join_paragraphs

_HTML_HEAD = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
                        re.IGNORECASE | re.DOTALL)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def looks_like(data: bytes) -> bool:
    return bool(_HTML_HEAD.match(data[:4096].lstrip(b"\xef\xbb\xbf")))


def read(path: str, data: bytes, sidecar: dict[str, Any]) -> ReadResult:
    """Blocks of the page's main text become paragraphs; headings stay short paragraphs of their own."""
    import trafilatura
    from lxml import etree

    try:
        xml = trafilatura.extract(data, output_format="xml", with_metadata=True, include_comments=False,
                                  include_tables=True, favor_recall=True)
    except Exception as exc:  # trafilatura raises assorted lxml and parser errors on broken pages
        raise Unreadable(f"HTML could not be parsed ({type(exc).__name__}: {exc})") from None
    if not xml:
        raise Unreadable("no main text found in the HTML page")
    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main")
    blocks = (main if main is not None else root).iter("head", "p", "item", "quote", "row")
    paragraphs = [_block_text(el) for el in blocks if _is_leaf_block(el)]
    text = join_paragraphs([p for p in paragraphs if p])
    if not text.strip():
        raise Unreadable("no main text found in the HTML page")
    meta: dict[str, Any] = {}
    for key in ("title", "author", "date", "url", "sitename", "description"):
        value = root.get(key)
        if value:
            meta[key] = value
    if meta.get("date") and not _DATE.match(meta["date"]):
        meta["date_raw"] = meta.pop("date")
    elif meta.get("date"):
        meta["date"] = meta["date"][:10]
    if "author" in meta:
        meta["speaker"] = meta.pop("author")
    meta["source"] = meta.get("url") or meta.get("sitename")
    if not meta["source"]:
        meta.pop("source")
    return ReadResult([ReadStatement(text=text, meta=meta)])


def _is_leaf_block(el) -> bool:
    """A block that does not hold another block (a <p> inside a <quote> is read once, as the <p>)."""
    return not any(child.tag in ("p", "item", "quote", "head", "list") for child in el)


def _block_text(el) -> str:
    if el.tag == "row":  # table cells side by side
        return clean_line(" · ".join(" ".join("".join(c.itertext()).split()) for c in el))
    return clean_line(" ".join("".join(el.itertext()).split()))
