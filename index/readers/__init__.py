"""Format readers: Telegram exports, web pages, PDF and Word files, scanned images; chosen by content and extension.

Every reader module has `looks_like(data) -> bool` and `read(path, data, sidecar) -> ReadResult`; it raises
`Unreadable` for a file it cannot use. `read_file` is the one entry point: it never raises for a bad file.
"""
from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from . import docx, html, image, pdf, telegram
from .base import MAX_FILE_BYTES, ReadResult, ReadStatement, Unreadable
from .sidecar import Sidecars, is_sidecar

__all__ = ["MAX_FILE_BYTES", "ReadResult", "ReadStatement", "Sidecars", "Unreadable", "handles",
           "is_attachment", "is_sidecar", "read_file", "reader_for"]
log = logging.getLogger(__name__)

BY_EXTENSION: dict[str, ModuleType] = {
    ".json": telegram, ".html": html, ".htm": html, ".xhtml": html, ".pdf": pdf, ".docx": docx,
    ".png": image, ".jpg": image, ".jpeg": image, ".tif": image, ".tiff": image,
}
IMAGE_SUFFIXES = {suffix for suffix, module in BY_EXTENSION.items() if module is image}
_SNIFF_ORDER = (pdf, image, docx, html, telegram)  # the magic-number formats first
# Readers that apply the sidecar themselves (it describes the channel, not each forwarded message).
SIDECAR_AWARE = {telegram}


def handles(path: Path) -> bool:
    return Path(path).suffix.lower() in BY_EXTENSION


def is_attachment(path: Path) -> bool:
    """An image inside a Telegram export folder (photos/, files/, ... beside its result.json): a message's
    attachment, not a scanned statement."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    return any((folder / "result.json").is_file() for folder in list(path.parents)[:3])


def reader_for(path: Path, data: bytes) -> ModuleType:
    """The reader for a file: what its content is when recognisable, else what its extension says."""
    for module in _SNIFF_ORDER:
        try:
            if module.looks_like(data):
                return module
        except Exception:  # a sniffer must never stop the scan
            continue
    return BY_EXTENSION[Path(path).suffix.lower()]


def read_file(path: Path, data: bytes, sidecar: dict[str, Any] | None = None) -> ReadResult:
    """Statements of one file; a file that cannot be read becomes one (path, why) entry in `skipped`."""
    sidecar = sidecar or {}
    module = reader_for(path, data)
    try:
        result = module.read(str(path), data, sidecar)
    except Unreadable as exc:
        log.warning("skipped %s: %s", path, exc)
        return ReadResult(skipped=[(str(path), str(exc))])
    except Exception as exc:  # a reader bug or a library failure on one file must not stop the build
        log.warning("skipped %s: %s reader failed (%s: %s)", path, module.__name__.rsplit(".", 1)[-1],
                    type(exc).__name__, exc)
        return ReadResult(skipped=[(str(path), f"reader failed ({type(exc).__name__}: {exc})")])
    result.skipped = [(f"{path}{where}" if where.startswith("#") else where or str(path), why)
                      for where, why in result.skipped]
    if module not in SIDECAR_AWARE:
        for st in result.statements:
            st.meta.update(sidecar)
    return result
