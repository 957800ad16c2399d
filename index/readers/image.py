"""Scanned pages as images (PNG, JPEG, TIFF, one statement per file, every TIFF frame a page), read by OCR."""
from __future__ import annotations

import io
from typing import Any

from . import ocr
from .base import ReadResult, ReadStatement, Unreadable, join_marked

MAX_PAGES = 500
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")


def looks_like(data: bytes) -> bool:
    return data.startswith(_MAGIC)


def read(path: str, data: bytes, sidecar: dict[str, Any]) -> ReadResult:
    """The OCR'd text of every page of the image, each paragraph marked with its confidence."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.copy() for _, frame in zip(range(MAX_PAGES), ImageSequence.Iterator(image))]
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise Unreadable(f"unreadable image ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged data
        raise Unreadable(f"unreadable image ({type(exc).__name__}: {exc})") from None
    languages = ocr.usable_languages(ocr.languages_for(sidecar))  # OcrUnavailable names what to install
    found, pages = [], []
    for number, frame in enumerate(frames, 1):
        paragraphs = ocr.read_image(frame, languages)
        if paragraphs:
            pages.append(number)
            found.extend(paragraphs)
    text, spans = join_marked([(p.text, p.confidence) for p in found])
    if not text.strip():
        raise Unreadable("no text found by OCR (a photo, or a scan too faint to read?)")
    return ReadResult([ReadStatement(text=text, meta={"ocr": ocr.summary(languages, pages, found)}, ocr=spans)])
