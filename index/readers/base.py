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


def join_paragraphs(paragraphs: list[str]) -> str:
    """Statement text as the splitter expects it: one paragraph per block, blocks split by a blank line."""
    out = []
    for p in paragraphs:
        lines = [clean_line(ln) for ln in p.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
        block = "\n".join(ln for ln in lines if ln)
        if block:
            out.append(block)
    return "\n\n".join(out) + ("\n" if out else "")
