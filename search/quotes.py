"""Compare a quote with a passage word for word: normalised tokens, ellipses, a word-level diff.

Words are compared after normalisation (case, accents, punctuation, quote marks, dashes,
whitespace, digit grouping, a few spelling variants such as "can not"/"cannot" or
"honour"/"honor"), so only a change a reader would call a change shows up in the diff.
Alignment is rapidfuzz's Levenshtein over word sequences (each distinct word mapped to one
character), so the edit distance and its opcodes come from a maintained C++ library.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from .types import Span

# A word: letters/digits with inner apostrophes; digit groups joined by , or . ("12,000", "3.5");
# dotted initialisms ("U.S.") as one word. Hyphens and dashes separate words.
_TOKEN = re.compile(r"(?:[^\W\d_]\.){2,}|\d+(?:[.,]\d+)*|[^\W_]+(?:['’‘][^\W_]+)*|%")
_ELLIPSIS = re.compile(r"\[?(?:\.\s?\.\s?\.|…)\]?")
# Two words that are one word in another spelling: joined when adjacent.
_JOINED = {("can", "not"): "cannot", ("to", "day"): "today", ("to", "morrow"): "tomorrow",
           ("per", "cent"): "percent", ("e", "mail"): "email", ("any", "more"): "anymore"}
# British / old spellings mapped to one form; applied to both sides, so only consistency matters.
_SPELLING = {"defence": "defense", "offence": "offense", "licence": "license", "centre": "center",
             "centres": "centers", "theatre": "theater", "shew": "show", "shewn": "shown", "shewed": "showed",
             "connexion": "connection", "connexions": "connections", "judgement": "judgment",
             "programme": "program", "programmes": "programs", "cheque": "check", "%": "percent"}
_OUR_STEMS = ("colour", "favour", "honour", "labour", "behaviour", "neighbour", "harbour", "humour", "rumour",
              "vigour", "endeavour", "valour", "armour", "fervour", "splendour", "candour", "clamour", "rigour",
              "vapour", "savour", "parlour", "odour", "ardour")
_IZE = re.compile(r"(?<=\w{3})iz(e|es|ed|ing|ation|ations|er|ers)$")


class Token(NamedTuple):
    """One normalised word and where it stands in the original text (a named tuple: a passage has hundreds,
    and a tuple is made in a fraction of a frozen dataclass's time)."""

    word: str
    start: int
    end: int
    segment: int = 0  # which ellipsis-separated part of a quote it belongs to


@lru_cache(maxsize=1 << 16)
def normalise_word(raw: str) -> str:
    """The comparison form of one word: lower case, no accents, no apostrophes or digit grouping."""
    word = unicodedata.normalize("NFKD", raw.lower())
    word = "".join(c for c in word if not unicodedata.combining(c))
    if word[:1].isdigit():
        word = re.sub(r",(?=\d{3}\b)", "", word)
    word = re.sub(r"['’‘.]", "", word) if not word[:1].isdigit() else word
    word = _SPELLING.get(word, word)
    for stem in _OUR_STEMS:
        if stem in word:
            word = word.replace(stem, stem[:-2] + "r")
            break
    return _IZE.sub(lambda m: "is" + m.group(1), word)


def tokens(text: str, segment: int = 0, offset: int = 0) -> list[Token]:
    """Normalised word tokens of `text` with character offsets (plus `offset`)."""
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        word = normalise_word(m.group(0))
        if not word:
            continue
        if out and (out[-1].word, word) in _JOINED and out[-1].segment == segment:
            prev = out.pop()
            out.append(Token(_JOINED[(prev.word, word)], prev.start, m.end() + offset, segment))
            continue
        out.append(Token(word, m.start() + offset, m.end() + offset, segment))
    return out


def words(text: str) -> list[str]:
    """The words of `tokens(text)` without their offsets: the same joins, no Token made (cheaper, for a
    passage that may be skipped unaligned, and for every passage a phrase question checks).

    The words are normalised in one `map` (C-level calls of the cached `normalise_word`), and only the
    positions of a join's first word are looked at: no second word of a join is a first word ("not",
    "day", ... against "can", "to", ...) and no joined word starts a join, so each adjacent pair joins or
    not on its own, as `tokens` joins them one by one (tests/test_fast_paths.py compares the two)."""
    out = list(map(normalise_word, _TOKEN.findall(text)))
    if "" in out:
        out = [w for w in out if w]
    for i in _joins(out):
        out[i:i + 2] = [_JOINED[(out[i], out[i + 1])]]
    return out


def located_words(text: str) -> tuple[list[str], list[int], list[int], list[re.Match[str]]]:
    """`words(text)` and where each word stands, for a caller that needs a few words' offsets (a phrase's
    occurrences in a hit), not a Token for every word: word j of `tokens(text)` runs from
    `matches[first[j]].start()` to `matches[last[j]].end()` (a joined pair from its first word's start to
    its second's end). The same joins as `words`, the match objects made by the regex engine in C."""
    found = list(_TOKEN.finditer(text))
    out = list(map(normalise_word, _TOKEN.findall(text)))  # the pattern has no groups: findall gives group(0)
    first = list(range(len(out)))
    if "" in out:
        first = [i for i, w in zip(first, out) if w]
        out = [w for w in out if w]
    last = first.copy()
    for i in _joins(out):
        out[i:i + 2] = [_JOINED[(out[i], out[i + 1])]]
        first[i:i + 2] = [first[i]]
        last[i:i + 2] = [last[i + 1]]
    return out, first, last, found


_JOIN_FIRST = frozenset(first for first, _ in _JOINED)
assert _JOIN_FIRST.isdisjoint(second for _, second in _JOINED) and _JOIN_FIRST.isdisjoint(_JOINED.values())
assert {second for _, second in _JOINED}.isdisjoint(_JOINED.values())


def _joins(out: list[str]) -> list[int]:
    """Where two adjacent words of `out` join into one (the first's index), last first, so that joining
    them in this order leaves the earlier positions valid. Only a join's first words are looked at, and
    each pair joins or not on its own: no first word is a second word or a joined word, and no joined word
    is a second word (the asserts above), so joining a later pair cannot make or break an earlier one."""
    starts = [i for first in _JOIN_FIRST.intersection(out) for i in _positions(out, first)]
    return [i for i in sorted(starts, reverse=True) if i + 1 < len(out) and (out[i], out[i + 1]) in _JOINED]


def _positions(items: list[str], item: str) -> list[int]:
    """Every index of `item` in `items` (list.index steps, no Python loop over the list)."""
    out, i = [], -1
    try:
        while True:
            i = items.index(item, i + 1)
            out.append(i)
    except ValueError:
        return out


def quote_tokens(quote: str) -> list[Token]:
    """Tokens of a quote; an ellipsis ("...", "…", "[...]") starts a new segment (omitted words)."""
    out: list[Token] = []
    at = segment = 0
    for m in [*_ELLIPSIS.finditer(quote), None]:
        end = m.start() if m else len(quote)
        part = tokens(quote[at:end], segment, at)
        out.extend(part)
        if part:
            segment += 1
        if m:
            at = m.end()
    return out


def segments(toks: Sequence[Token]) -> list[list[Token]]:
    """A quote's tokens grouped by ellipsis segment, in order."""
    groups: dict[int, list[Token]] = {}
    for t in toks:
        groups.setdefault(t.segment, []).append(t)
    return [groups[s] for s in sorted(groups)]


@dataclass(frozen=True)
class DiffOp:
    """One step of the word diff: `quote` text against `source` text; `elided` marks an ellipsis."""

    op: str  # equal | replace | insert (words only in the quote) | delete (words only in the source)
    quote: str
    source: str
    elided: bool = False


@dataclass(frozen=True)
class Alignment:
    """The best placement of a quote in one passage."""

    span: Span            # characters of the passage covered by the quoted words
    similarity: float     # matched words / max(quote words, source words), ellipsis gaps excluded
    coverage: float       # share of the quote's words found anywhere near the span (order ignored)
    verbatim: bool        # every quote word in order, contiguous within each ellipsis segment
    diff: tuple[DiffOp, ...]
    changed: int          # quote or source words outside `equal` ops (elided gaps excluded)


def _find(words: list[str], part: list[str], start: int) -> int:
    """First index >= start where `part` occurs contiguously in `words`, or -1."""
    n = len(part)
    for i in range(start, len(words) - n + 1):
        if words[i:i + n] == part:
            return i
    return -1


def verbatim_places(quote: Sequence[Token], passage: Sequence[Token]) -> list[tuple[int, int]] | None:
    """Token ranges of the passage holding each quote segment, in order; None when absent."""
    words = [t.word for t in passage]
    at, places = 0, []
    for seg in segments(quote):
        i = _find(words, [t.word for t in seg], at)
        if i < 0:
            return None
        places.append((i, i + len(seg)))
        at = i + len(seg)
    return places


def _as_chars(*sequences: Sequence[str]) -> list[str]:
    """Each distinct word as one character, so string matchers align whole words."""
    vocab: dict[str, str] = {}
    out = []
    for seq in sequences:
        chars = []
        for w in seq:
            if w not in vocab:
                code = 0x100 + len(vocab)
                vocab[w] = chr(code + 0x800 if code >= 0xD800 else code)  # skip surrogates
            chars.append(vocab[w])
        out.append("".join(chars))
    return out


def _window(q: str, p: str, gapped: bool) -> tuple[int, int]:
    """The passage word range whose edit distance to the quote is smallest."""
    from rapidfuzz import fuzz  # imported where used: a search that checks no quote never loads rapidfuzz
    from rapidfuzz.distance import Levenshtein

    m, n = len(q), len(p)
    if n <= m and not gapped:
        return 0, n
    found = fuzz.partial_ratio_alignment(q, p)
    centre = found.dest_start if found is not None else 0
    slack = min(6, max(2, m // 3))
    if gapped:  # an ellipsis may hide any number of words: from the first to the last part's place
        return max(0, centre - slack), n
    best = (m + n + 1, 0, 0, 0)
    for s in range(max(0, centre - slack), min(n, centre + slack) + 1):
        for e in range(max(s + 1, s + m - slack), min(n, s + m + slack) + 1):
            d = Levenshtein.distance(q, p[s:e])
            key = (d, abs((e - s) - m), s, e)
            if key < best:
                best = key
    return best[2], best[3]


def align(quote_text: str, quote: Sequence[Token], passage_text: str, passage: Sequence[Token]) -> Alignment:
    """Place `quote` in `passage` word by word and describe the differences."""
    places = verbatim_places(quote, passage)
    if places is not None:
        return _verbatim(quote_text, quote, passage_text, passage, places)
    if not passage or not quote:
        return Alignment(Span(0, 0), 0.0, 0.0, False, (), len(quote))
    q, p = _as_chars([t.word for t in quote], [t.word for t in passage])
    gapped = len(segments(quote)) > 1
    ws, we = _window(q, p, gapped)
    from rapidfuzz.distance import Levenshtein

    ops = list(Levenshtein.opcodes(p[ws:we], q))  # source -> quote
    # Trim source words before the quote starts and after it ends.
    while ops and ops[0].tag == "delete":
        ops.pop(0)
    while ops and ops[-1].tag == "delete":
        ops.pop()
    diff: list[DiffOp] = []
    equal = changed = 0
    src_words = 0
    boundaries = {i for i in range(1, len(quote)) if quote[i].segment != quote[i - 1].segment}
    for op in ops:
        s1, s2 = ws + op.src_start, ws + op.src_end
        src = passage_text[passage[s1].start:passage[s2 - 1].end] if s2 > s1 else ""
        qt = quote_text[quote[op.dest_start].start:quote[op.dest_end - 1].end] if op.dest_end > op.dest_start else ""
        elided = op.tag == "delete" and op.dest_start in boundaries
        diff.append(DiffOp(op.tag, "…" if elided else qt, src, elided))
        if op.tag == "equal":
            equal += op.src_end - op.src_start
        elif not elided:
            changed += max(op.src_end - op.src_start, op.dest_end - op.dest_start)
        if not elided:
            src_words += op.src_end - op.src_start
    first = ws + ops[0].src_start if ops else ws
    last = ws + ops[-1].src_end if ops else ws
    span = Span(passage[first].start, passage[max(first, last - 1)].end) if last > first else Span(0, 0)
    similarity = equal / max(len(quote), src_words, 1)
    near = {t.word for t in passage[max(0, first - 5):last + 5]}
    coverage = sum(t.word in near for t in quote) / len(quote)
    return Alignment(span, similarity, coverage, False, tuple(diff), changed)


def _verbatim(quote_text: str, quote: Sequence[Token], passage_text: str, passage: Sequence[Token],
              places: list[tuple[int, int]]) -> Alignment:
    diff: list[DiffOp] = []
    for n, (seg, (a, b)) in enumerate(zip(segments(quote), places)):
        if n:
            gap_a, gap_b = places[n - 1][1], a
            if gap_b > gap_a:
                diff.append(DiffOp("delete", "…", passage_text[passage[gap_a].start:passage[gap_b - 1].end], True))
        diff.append(DiffOp("equal", quote_text[seg[0].start:seg[-1].end],
                           passage_text[passage[a].start:passage[b - 1].end]))
    span = Span(passage[places[0][0]].start, passage[places[-1][1] - 1].end)
    return Alignment(span, 1.0, 1.0, True, tuple(diff), 0)
