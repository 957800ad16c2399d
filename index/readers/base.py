"""The contract every format reader keeps: bytes of one file in, statements and skip reasons out."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_FILE_BYTES = 200 * 1024 * 1024  # larger files are skipped with a warning, never read into memory

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class ReadStatement:
    """One statement found in a file: paragraphs joined by blank lines, plus its metadata."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    id: str | None = None     # None: the file's own id (its path without the extension)
    where: str = ""           # appended to the file path to locate it, e.g. "#42" for a message
    # (start, end, confidence) of the parts of `text` read by OCR, confidence Tesseract's mean word
    # confidence (0-100); empty when all of it came from a text layer (index/readers/ocr.py)
    ocr: list[tuple[int, int, float]] = field(default_factory=list)


@dataclass
class ReadResult:
    """What a reader made of one file: the statements it found and (where, why) for what it left out."""

    statements: list[ReadStatement] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Unreadable(Exception):
    """The whole file cannot be read; the message says why, for the skipped list."""


def clean_line(text: str) -> str:
    """One line of display text: control characters dropped, runs of spaces collapsed."""
    return _SPACES.sub(" ", _CONTROL.sub("", text)).strip()


def _block(paragraph: str) -> str:
    lines = [clean_line(ln) for ln in paragraph.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(ln for ln in lines if ln)


def join_paragraphs(paragraphs: list[str]) -> str:
    """Statement text as the splitter expects it: one paragraph per block, blocks split by a blank line."""
    out = [b for b in map(_block, paragraphs) if b]
    return "\n\n".join(out) + ("\n" if out else "")


def join_marked(paragraphs: list[tuple[str, float | None]]) -> tuple[str, list[tuple[int, int, float]]]:
    """`join_paragraphs` of (paragraph, OCR confidence or None), and the (start, end, confidence) spans of
    the OCR'd paragraphs in the joined text."""
    text, spans = "", []
    for paragraph, confidence in paragraphs:
        block = _block(paragraph)
        if not block:
            continue
        if text:
            text += "\n\n"
        if confidence is not None:
            spans.append((len(text), len(text) + len(block), float(confidence)))
        text += block
    return (text + "\n" if text else ""), spans
