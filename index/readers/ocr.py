"""OCR of scanned pages and images through Tesseract (pytesseract): paragraphs with their word confidence.

Tesseract is a system program (Debian: tesseract-ocr plus one tesseract-ocr-LANG package per language).
When it, pytesseract or the language data is missing, `OcrUnavailable` (an `Unreadable`) names what to
install; the reader then skips the scan with that reason and the build goes on with everything else.
The languages come from the settings (`ocr_languages`, set by the CLI through `configure`) unless the
file's sidecar names a `language` (`languages_for`).
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .base import Unreadable, clean_line

log = logging.getLogger(__name__)

DEFAULT_LANGUAGES = "eng+rus"
INSTALL_HINT = ("install Tesseract and its language data (Debian: apt-get install tesseract-ocr tesseract-ocr-eng "
                "tesseract-ocr-rus) and the pytesseract package")
NOT_ON_PATH = f"scanned document not OCR'd: the tesseract program is not on PATH; {INSTALL_HINT}"
PAGE_TIMEOUT_S = 180  # one page; a pathological image must not stall a build
# Sidecar/header language names and ISO 639-1 codes → Tesseract's traineddata names.
_TESSERACT_CODES = {
    "en": "eng", "english": "eng", "ru": "rus", "russian": "rus", "uk": "ukr", "ukrainian": "ukr",
    "de": "deu", "german": "deu", "fr": "fra", "french": "fra", "es": "spa", "spanish": "spa",
    "it": "ita", "italian": "ita", "pt": "por", "portuguese": "por", "be": "bel", "belarusian": "bel",
    "pl": "pol", "polish": "pol",
}
_LANGUAGE = re.compile(r"^[a-z_]{2,20}$")
_TERMINAL = re.compile(r"[.!?:;…][\"'”’)\]»]*$")
_languages = DEFAULT_LANGUAGES


class OcrUnavailable(Unreadable):
    """Tesseract, pytesseract or the language data is missing; the message says what to install."""


@dataclass(frozen=True)
class OcrParagraph:
    text: str
    confidence: float  # mean word confidence, 0-100


def configure(languages: str) -> None:
    """The OCR languages of this process's builds (`Settings.ocr_languages`), e.g. "eng+rus"."""
    global _languages
    _languages = normalise_languages(languages) or DEFAULT_LANGUAGES


def normalise_languages(value: Any) -> str:
    """"ru, English" → "rus+eng": Tesseract codes joined by "+"; unknown-looking names are dropped."""
    out: list[str] = []
    for part in re.split(r"[+,;\s]+", str(value or "").strip().lower()):
        code = _TESSERACT_CODES.get(part, part)
        if part and _LANGUAGE.match(code) and code not in out:
            out.append(code)
    return "+".join(out)


def languages_for(sidecar: dict[str, Any]) -> str:
    """The file's sidecar `ocr_languages` or `language` when given (with English kept as a second
    language, since scans carry English names and numbers), else the configured languages."""
    if sidecar.get("ocr_languages"):
        return normalise_languages(sidecar["ocr_languages"]) or _languages
    named = normalise_languages(sidecar.get("language"))
    if named:
        return named if "eng" in named.split("+") else f"{named}+eng"
    return _languages


def engine() -> dict[str, Any]:
    """{"version", "languages"} of the Tesseract on PATH; OcrUnavailable when it cannot be used."""
    try:
        import pytesseract  # type: ignore[import-untyped]  # noqa: F401  (the wrapper must be importable too)
    except ImportError:
        raise OcrUnavailable(f"scanned document not OCR'd: the pytesseract package is missing; {INSTALL_HINT}") \
            from None
    path = shutil.which("tesseract")
    if path is None:
        raise OcrUnavailable(NOT_ON_PATH)
    return _engine(path)


@lru_cache(maxsize=4)
def _engine(path: str) -> dict[str, Any]:
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
        langs = subprocess.run([path, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailable(f"scanned document not OCR'd: {path} does not run ({exc}); {INSTALL_HINT}") from None
    first = (version.stdout or version.stderr).strip().splitlines()
    installed = [ln.strip() for ln in langs.stdout.splitlines()[1:] if ln.strip()]
    return {"version": first[0] if first else "tesseract", "languages": installed}


def usable_languages(requested: str) -> str:
    """The requested languages Tesseract has data for; a missing one is warned about, none at all raises."""
    have = engine()["languages"]
    wanted = requested.split("+")
    usable = [code for code in wanted if code in have]
    missing = [code for code in wanted if code not in have]
    if not usable:
        raise OcrUnavailable(f"scanned document not OCR'd: Tesseract has no language data for {requested} "
                             f"(installed: {', '.join(have) or 'none'}); install "
                             + " ".join(f"tesseract-ocr-{c}" for c in missing))
    if missing:
        log.warning("OCR without %s: Tesseract has no data for it (install %s)", "+".join(missing),
                    " ".join(f"tesseract-ocr-{c}" for c in missing))
    return "+".join(usable)


def read_image(image, languages: str) -> list[OcrParagraph]:
    """Tesseract's paragraphs of one page image (a Pillow image), each with its mean word confidence."""
    import pytesseract

    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB") if image.mode in ("RGBA", "P", "CMYK", "LA") else image.convert("L")
    try:
        data = pytesseract.image_to_data(image, lang=languages, output_type=pytesseract.Output.DICT,
                                         timeout=PAGE_TIMEOUT_S)
    except pytesseract.TesseractNotFoundError:
        raise OcrUnavailable(NOT_ON_PATH) from None
    except RuntimeError as exc:  # pytesseract's timeout
        raise Unreadable(f"OCR gave up on a page after {PAGE_TIMEOUT_S} s ({exc})") from None
    except pytesseract.TesseractError as exc:
        raise Unreadable(f"OCR failed ({exc.message or exc})") from None
    return paragraphs_of(data)


def paragraphs_of(data: dict[str, list]) -> list[OcrParagraph]:
    """Group image_to_data's words into paragraphs (block, paragraph) of lines; conf -1 marks non-words."""
    groups: dict[tuple[int, int], dict[int, list[str]]] = {}
    confidences: dict[tuple[int, int], list[float]] = {}
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        word = clean_line(str(word))
        if conf < 0 or not word:
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]))
        groups.setdefault(key, {}).setdefault(int(data["line_num"][i]), []).append(word)
        confidences.setdefault(key, []).append(conf)
    out: list[OcrParagraph] = []
    weights: list[int] = []
    for key, lines in groups.items():
        text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
        mean = sum(confidences[key]) / len(confidences[key])
        if out and not _TERMINAL.search(out[-1].text) and text[:1].islower():
            # Tesseract split a paragraph at a wider line gap: a sentence running on in lower case joins it.
            n = weights[-1] + len(confidences[key])
            mean = (out[-1].confidence * weights[-1] + mean * len(confidences[key])) / n
            out[-1], weights[-1] = OcrParagraph(f"{out[-1].text}\n{text}", round(mean, 1)), n
            continue
        out.append(OcrParagraph(text, round(mean, 1)))
        weights.append(len(confidences[key]))
    return out


def summary(languages: str, pages: list[int], paragraphs: list[OcrParagraph]) -> dict[str, Any]:
    """The statement-level OCR note kept as metadata: engine, languages, pages and the mean confidence."""
    words = sum(len(p.text.split()) for p in paragraphs) or 1
    mean = sum(p.confidence * len(p.text.split()) for p in paragraphs) / words
    return {"engine": engine()["version"], "languages": languages, "pages": pages, "confidence": round(mean, 1)}
