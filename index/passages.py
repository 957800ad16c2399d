"""Split a statement's text into paragraph passages that the model can see whole."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .language import SCRIPT_OF, UNDETERMINED, detect, main_script

# A line that is only an attachment file name, or only a section number, is not a passage.
_ATTACHMENT = re.compile(
    r"^[\w.\-]+\.(?:jpe?g|png|gif|webp|bmp|tiff?|heic|svg|mp4|mov|avi|webm|mp3|wav|ogg|m4a|pdf|docx?|xlsx?|zip)$",
    re.IGNORECASE)
_SECTION_NUMBER = re.compile(
    r"^(?:(?:section|sec\.|§|part|chapter)\s*)?(?:\d+(?:\.\d+)*|[IVXLCDM]+)\.?\)?$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
# Sentence boundaries: end punctuation (plus closing quotes) followed by space and an opening capital/quote/digit.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "gen", "hon", "gov", "sen", "rep", "jr", "sr", "no",
                  "vs", "etc", "e.g", "i.e", "col", "capt", "lt", "messrs", "u.s", "prof", "inc", "co"}
MIN_STANDALONE_WORDS = 4

TokenCounter = Callable[[str], int]


def indexed_text(*parts: str) -> str:
    """What the model embeds and BM25 indexes: the non-empty parts (heading, context, text), one per line."""
    return "\n".join(p for p in parts if p)


def _squash(text: str) -> str:
    return " ".join(text.split())


def statement_heading(speaker: str | None, title: str | None, body: str = "") -> str:
    """Who said a statement and what it is (`Speaker, Title`), carried into every passage's indexed text.

    A paragraph deep in a long address does not name its speaker or occasion; a question often does
    ("What did Kennedy propose ..."), and a paraphrased one leans on the statement's topic. A title the
    body already opens with (a lead-in line, as in the eval corpora) is not repeated.
    """
    parts = [_squash(speaker)] if speaker and speaker.strip() else []
    if title and title.strip():
        t = _squash(title).rstrip(" .:")
        if t and not _squash(body[:len(title) + 200]).lower().startswith(t.lower()):
            parts.append(_squash(title))
    return ", ".join(parts)


@dataclass(frozen=True)
class PassageDraft:
    """A passage before it has an id: text to show, context carried in, and offsets in the statement."""

    text: str
    context: str
    start: int
    end: int
    paragraph: int  # 0-based source paragraph index within the statement
    part: int       # 0-based part when a long paragraph is split
    heading: str = ""  # the statement's statement_heading, indexed with the passage (not its sentences), never shown
    language: str = UNDETERMINED  # its own detected language, else its statement's (index/language.py)

    @property
    def embed_text(self) -> str:
        return indexed_text(self.heading, self.context, self.text)


def paragraphs(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (joined text, start, end) of blank-line separated paragraphs; hard-wrapped lines are joined."""
    for m in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", text):
        block = m.group(0)
        start = m.start() + (len(block) - len(block.lstrip()))
        end = m.start() + len(block.rstrip())
        joined = " ".join(ln.strip() for ln in block.split("\n") if ln.strip())
        yield joined, start, end


def is_noise(paragraph: str) -> bool:
    """An attachment file name or a bare section number on its own."""
    p = paragraph.strip()
    return bool(_ATTACHMENT.match(p) or _SECTION_NUMBER.match(p))


def is_lead_in(paragraph: str) -> bool:
    """Too short to stand alone: a heading or a lead-in ending with a colon."""
    p = paragraph.strip()
    if p.endswith(":"):
        return True
    return len(p.split()) < MIN_STANDALONE_WORDS and not _SENTENCE_END.search(p)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (rule-based; good enough for prose)."""
    spans, start = [], 0
    for m in _SENTENCE_BREAK.finditer(text):
        word = text[:m.start()].rsplit(None, 1)[-1] if text[:m.start()].strip() else ""
        if word.rstrip(".").lower() in _ABBREVIATIONS or re.fullmatch(r"(?:[A-Z]\.)+", word):
            continue  # "Mr. Smith", "U.S. Congress": not a sentence end
        spans.append((start, m.start() + _closing_len(m.group(0))))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text.rstrip())))
    return [(s, e) for s, e in spans if e > s]


def _closing_len(sep: str) -> int:
    """Length of closing quotes/brackets at the start of a separator match."""
    return len(sep) - len(sep.lstrip("\"'”’)]"))


def _word_chunks(text: str, base: int, limit: int, count: TokenCounter) -> Iterator[tuple[int, int]]:
    """Fallback for a single sentence over the limit: cut at word boundaries."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    i = 0
    while i < len(words):
        j = i + 1
        while j < len(words) and count(text[words[i][0]:words[j][1]]) <= limit:
            j += 1
        yield base + words[i][0], base + words[j - 1][1]
        i = j


def split_long(text: str, limit: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Spans of `text` that each fit in `limit` tokens, cut at sentence boundaries where possible."""
    if count(text) <= limit:
        return [(0, len(text))]
    pieces: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        if count(text[s:e]) > limit:
            pieces.extend(_word_chunks(text[s:e], s, limit, count))
        else:
            pieces.append((s, e))
    chunks: list[tuple[int, int]] = []
    for s, e in pieces:
        if chunks and count(text[chunks[-1][0]:e]) <= limit:
            chunks[-1] = (chunks[-1][0], e)
        else:
            chunks.append((s, e))
    return chunks


def passage_language(text: str, statement: str, given: bool = False) -> str:
    """A passage's language: the statement's when declared (`given`) or when the passage is written in the
    statement's script (a detection per paragraph would cost a build milliseconds per passage for nothing in
    a one-language statement; a German paragraph inside an English speech stays English); otherwise detected
    on the passage, the statement's where the passage alone says nothing (too short, mixed scripts)."""
    if given or (statement in SCRIPT_OF and main_script(text) == SCRIPT_OF[statement]):
        return statement
    found = detect(text)
    return statement if found == UNDETERMINED else found


def split_statement(text: str, limit: int, count: TokenCounter, heading: str = "",
                    language: str | None = None, language_given: bool = False) -> list[PassageDraft]:
    """Paragraph passages of one statement body; offsets index into `text`. Each carries `heading`,
    and the heading and lead-in context count against the model's `limit`. With `language` (the
    statement's), each passage gets its language (`passage_language`)."""
    drafts = _split_statement(text, limit, count, heading)
    if language is None:
        return drafts
    return [dataclasses.replace(d, language=passage_language(indexed_text(d.context, d.text), language,
                                                             language_given)) for d in drafts]


def _split_statement(text: str, limit: int, count: TokenCounter, heading: str = "") -> list[PassageDraft]:
    drafts: list[PassageDraft] = []
    pending: list[str] = []  # lead-ins waiting for the paragraph they introduce
    pending_start: int | None = None
    lead_tokens: dict[str, int] = {}  # token count of each heading + lead-in seen in this statement
    index = -1
    for index, (para, start, end) in enumerate(paragraphs(text)):
        if is_noise(para):
            continue
        if is_lead_in(para):
            pending.append(para)
            pending_start = start if pending_start is None else pending_start
            continue
        context = " ".join(pending)
        lead = indexed_text(heading, context)
        if lead not in lead_tokens:  # the heading alone leads most paragraphs: count it once per statement
            lead_tokens[lead] = count(lead) if lead else 0
        budget = max(limit - lead_tokens[lead], limit // 2)
        # Map joined-paragraph offsets back to the source: joined text differs only in
        # whitespace, so walk both strings word by word.
        source = text[start:end]
        for part, (s, e) in enumerate(split_long(para, budget, count)):
            src_s, src_e = _map_span(para, source, s, e)
            drafts.append(PassageDraft(para[s:e].strip(), context,
                                       start + src_s, start + src_e, index, part, heading))
        pending, pending_start = [], None
    if pending:  # trailing headings with nothing after them still carry text
        drafts.append(PassageDraft(" ".join(pending), "", pending_start or 0,
                                   len(text.rstrip()), index, 0, heading))
    return drafts


def _map_span(joined: str, source: str, s: int, e: int) -> tuple[int, int]:
    """Offsets in `source` of joined[s:e], where `joined` is `source` with whitespace runs collapsed."""
    if joined == source:
        return s, e
    mapping = [m.start() for m in re.finditer(r"\S", source)]
    # index of non-space chars in joined up to s / e
    before_s = len(re.sub(r"\s", "", joined[:s]))
    inside = len(re.sub(r"\s", "", joined[s:e]))
    if inside == 0:
        return 0, 0
    return mapping[before_s], mapping[before_s + inside - 1] + 1
