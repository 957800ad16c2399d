"""The language of a statement or passage (ISO 639-1 code, or `und`), and the script of a word.

Detection is lingua (lingua-language-detector): its n-gram models ship inside the wheel (nothing is
downloaded at run time) and, restricted to the languages below, it was the most accurate of the three
detectors measured on short paragraphs (bench/language_detection.py, docs/formats.md). A text with too
few letters, or one lingua cannot tell apart (mixed-script garbage), is `und`.
"""
from __future__ import annotations

import functools
import logging
import unicodedata
from typing import Any

log = logging.getLogger(__name__)

UNDETERMINED = "und"
# What the detector chooses among: the languages the keyword side analyses (index/analysis.py) plus
# neighbours that would otherwise be mistaken for them, and the right-to-left languages seen in statements.
DETECTED = ("en", "ru", "uk", "be", "bg", "de", "fr", "es", "it", "pt", "nl", "pl", "ar", "he")
MIN_LETTERS = 12        # fewer letters than this: `und` (a name or a greeting says little about its language)
MIN_DISTANCE = 0.1      # lingua's minimum relative distance: below it the top two languages are too close
MIN_SCRIPT_SHARE = 0.6  # letters of the main script below this share: mixed-script text, `und`
DETECT_CHARS = 400      # a text is detected on its first characters (lingua's time grows with length: about
                        # 2 ms at 200 characters, 5 at 400, 14 at 2,000; bench/language_detection.py)
# The script each detected language is written in: a passage in its statement's script takes the statement's
# language without a detection of its own (index/passages.passage_language).
SCRIPT_OF = {"en": "latin", "de": "latin", "fr": "latin", "es": "latin", "it": "latin", "pt": "latin", "nl": "latin",
             "pl": "latin", "ru": "cyrillic", "uk": "cyrillic", "be": "cyrillic", "bg": "cyrillic", "ar": "arabic",
             "he": "hebrew"}


@functools.lru_cache(maxsize=1)
def _detector():
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in DETECTED]
    return LanguageDetectorBuilder.from_languages(*languages).with_minimum_relative_distance(MIN_DISTANCE).build()


def script(word: str) -> str:
    """The script of a word's first letter: `latin`, `cyrillic`, another Unicode script name, or `` (no letter)."""
    for ch in word:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            return name.split(" ", 1)[0].lower() if name else "other"
    return ""


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))


def scripts(text: str) -> dict[str, int]:
    """Letters per script in `text`. An ASCII text's letters are all Latin: counted by deleting them from its
    bytes rather than naming each (every question and passage is asked this)."""
    if text.isascii():
        letters = len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS))
        return {"latin": letters} if letters else {}
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            s = script(ch)
            counts[s] = counts.get(s, 0) + 1
    return counts


def main_script(text: str) -> str:
    """The script most of `text`'s letters are written in (`` without letters)."""
    counts = scripts(text[:DETECT_CHARS])
    return max(counts, key=counts.__getitem__) if counts else ""


def detect(text: str) -> str:
    """ISO 639-1 code of `text`'s language, or `und` when it has too few letters, mixes scripts or is unclear."""
    counts = scripts(text[:DETECT_CHARS])
    letters = sum(counts.values())
    if letters < MIN_LETTERS or max(counts.values()) < MIN_SCRIPT_SHARE * letters:
        return UNDETERMINED
    try:
        found = _detector().detect_language_of(text[:DETECT_CHARS])
    except Exception as exc:  # the detector must never stop a build
        log.warning("language detection failed (%s); marked %s", exc, UNDETERMINED)
        return UNDETERMINED
    return found.iso_code_639_1.name.lower() if found is not None else UNDETERMINED


def language_code(value: Any) -> str | None:
    """A `Language:` header or sidecar value (`ru`, `ru-RU`, `rus`, `Russian`) as an ISO 639-1 code; `und` as
    itself; None when it names no language lingua knows."""
    from lingua import IsoCode639_1, IsoCode639_3, Language

    text = str(value or "").strip()
    if not text:
        return None
    lowered = text.lower().split("-")[0].split("_")[0]  # "ru-RU", "en_GB"
    if lowered == UNDETERMINED:
        return UNDETERMINED
    try:
        if len(lowered) == 2:
            return getattr(IsoCode639_1, lowered.upper()).name.lower()
        if len(lowered) == 3:
            return Language.from_iso_code_639_3(getattr(IsoCode639_3, lowered.upper())).iso_code_639_1.name.lower()
        return getattr(Language, text.strip().upper()).iso_code_639_1.name.lower()
    except (AttributeError, ValueError):
        return None
