"""Word documents (.docx) by python-docx: paragraphs and headings in reading order, tables row by row."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from .base import ReadResult, ReadStatement, Unreadable, clean_line, join_paragraphs


def looks_like(data: bytes) -> bool:
    """A zip package holding word/document.xml (a renamed .zip or .xlsx is not one)."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        return "word/document.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def read(path: str, data: bytes, sidecar: dict[str, Any]) -> ReadResult:
    """One statement per document; core properties title/author/created are defaults."""
    import docx

    if not looks_like(data):
        raise Unreadable("not a Word document (.docx is a zip holding word/document.xml)")
    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = list(_blocks(document))
    except Exception as exc:  # python-docx and lxml raise assorted errors on damaged packages
        raise Unreadable(f"damaged Word document ({type(exc).__name__}: {exc})") from None
    text = join_paragraphs(paragraphs)
    if not text.strip():
        raise Unreadable("the Word document holds no text")
    return ReadResult([ReadStatement(text=text, meta=_properties(document))])


def _blocks(document) -> Iterator[str]:
    """Body paragraphs and table rows in document order; a soft line break stays inside its paragraph."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text.replace("\v", "\n")
        elif isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = clean_line(" ".join(cell.text.split()))
                    if value and (not cells or cells[-1] != value):  # merged cells repeat their text
                        cells.append(value)
                yield " · ".join(cells)


# python-docx's blank template carries these; a file that still has them says nothing about its author.
_TEMPLATE_AUTHOR = "python-docx"
_TEMPLATE_CREATED = "2013-12-23T23:15:00"


def _properties(document) -> dict[str, Any]:
    props = document.core_properties
    meta: dict[str, Any] = {}
    if props.title and props.title.strip():
        meta["title"] = clean_line(props.title)
    if props.author and props.author.strip() and props.author != _TEMPLATE_AUTHOR:
        meta["speaker"] = clean_line(props.author)
    if props.created is not None and not props.created.isoformat().startswith(_TEMPLATE_CREATED):
        meta["date"] = props.created.strftime("%Y-%m-%d")
    return meta
