"""Exact phrases and exclusions in a question ("encryption keys" Russia -Iran -"web app"), and keyword spans.

A phrase matches a passage when its words appear there consecutively, compared the way quotes
are (search.quotes: case, punctuation, quote marks, dashes, spelling variants ignored).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import SearchError
from .highlight import _WORD, STOPWORDS, ascii_term_spans, question_terms, word_term
from .quotes import _positions, located_words, tokens
from .quotes import words as quote_words
from .types import Span

# -"phrase", "phrase", -word, or any other run of non-space characters. Curly quotes count too.
_PART = re.compile(r'(?P<neg>-)?[“"](?P<phrase>[^"“”]*)["”]|(?<!\S)-(?P<word>[^\s"“”]+)|(?P<rest>[^\s]+)')


@dataclass(frozen=True)
class ParsedQuestion:
    """A question split into what must appear, what must not, and the words to rank by."""

    text: str                         # the rest of the question plus the phrases' words: what ranking sees
    phrases: tuple[str, ...] = ()     # each must appear in every result
    excluded: tuple[str, ...] = ()    # words or phrases no result may contain

    def __bool__(self) -> bool:
        return bool(self.phrases or self.excluded)


def parse_question(question: str) -> ParsedQuestion:
    """Split `question` into phrases, exclusions and the rest; SearchError for a phrase of stopwords only."""
    phrases: list[str] = []
    excluded: list[str] = []
    rest: list[str] = []
    for m in _PART.finditer(question):
        if m.group("phrase") is not None:
            phrase = " ".join(m.group("phrase").split())
            if not phrase:
                continue
            if not any(t.word not in STOPWORDS for t in tokens(phrase)):
                raise SearchError(f'the phrase "{phrase}" has only common words (like "the", "of"); '
                                  "add a word that says what it is about", code="stopword_phrase")
            (excluded if m.group("neg") else phrases).append(phrase)
            if not m.group("neg"):
                rest.append(phrase)
        elif m.group("word") is not None:
            if tokens(m.group("word")):
                excluded.append(m.group("word"))
        elif tokens(m.group("rest")):
            rest.append(m.group("rest"))
    text = " ".join(rest)
    if not text and excluded:
        raise SearchError("the question only excludes words: say what to look for", code="invalid_query")
    return ParsedQuestion(text, tuple(phrases), tuple(excluded))


def _occurrences(words: list[str], part: list[str]) -> list[int]:
    """Every index where `part` starts in `words`, stepping by list.index to the part's first word."""
    if not part:
        return []
    n, head = len(part), part[0]
    return [i for i in _positions(words, head) if words[i:i + n] == part]


def _contains(words: list[str], part: list[str]) -> bool:
    """Whether `part` occurs in `words` (`bool(_occurrences(...))`, stopping at the first)."""
    if not part:
        return False
    n, first, i = len(part), part[0], -1
    try:
        while True:
            i = words.index(first, i + 1)
            if words[i:i + n] == part:
                return True
    except ValueError:
        return False


# Quick tests before a passage is tokenised (a phrase question checks hundreds of passages: tokenising one
# takes ~40 µs, these ~2 µs). They hold for an ASCII text and a phrase of words no other spelling compares
# equal to (`_unvaried`), and only decide what they are sure of; the token comparison
# decides the rest. search.quotes' tokens of an ASCII text: a word's comparison form is its lower case
# without apostrophes and dots, and no token holds a character that is not a letter, digit, %, inner
# apostrophe or initialism dot.
# - necessary (`_quick_pattern` for an exclusion, `_needed_patterns` per run of plain words of a phrase):
#   a token of a plain word leaves the word itself in the text lower-cased with
#   every apostrophe and dot removed, and adjacent tokens stand apart by characters of no token, so a phrase
#   occurs only where that folded text matches word1[^a-z0-9%]*word2...
# - sufficient (`_sure_pattern`): in the lower-cased text, the words separated by characters that start no
#   token (no letter, digit, % or apostrophe), with no letter, digit or apostrophe just before the first
#   and no letter, digit or apostrophe-and-letter just after the last, are consecutive whole tokens of the
#   phrase's words.
_DROP = str.maketrans("", "", "'.")
_SEPARATOR = "[^a-z0-9%']+"


def _plain_ascii(word: str) -> bool:
    """A word the quick tests can speak for: ASCII, and no other spelling compares equal to it."""
    return word.isascii() and _unvaried(word)


def _run_pattern(words: list[str]) -> re.Pattern:
    """The necessary-condition pattern of consecutive plain words, on the folded text."""
    return re.compile("[^a-z0-9%]*".join(map(re.escape, words)))


def _quick_pattern(words: list[str]) -> re.Pattern | None:
    """The necessary-condition pattern of one phrase's comparison words; None unless all are plain ASCII."""
    if not words or not all(map(_plain_ascii, words)):
        return None
    return _run_pattern(words)


def _needed_patterns(words: list[str]) -> list[re.Pattern]:
    """Necessary-condition patterns of a phrase: one per maximal run of its plain ASCII words (the whole phrase
    when every word is plain). The words of a run are consecutive tokens wherever the phrase occurs, so the
    argument above holds for each run: "labor unions" ("labor" may be spelled "labour") still needs "unions"."""
    runs: list[list[str]] = [[]]
    for w in words:
        if _plain_ascii(w):
            runs[-1].append(w)
        elif runs[-1]:
            runs.append([])
    return [_run_pattern(run) for run in runs if run]


def _sure_pattern(words: list[str]) -> re.Pattern | None:
    """The sufficient-condition pattern of one phrase's comparison words; None unless all are plain ASCII."""
    if not words or not all(map(_plain_ascii, words)):
        return None
    return re.compile("(?<![a-z0-9'])" + _SEPARATOR.join(map(re.escape, words)) + "(?![a-z0-9])(?!'[a-z0-9])")


class PhraseMatcher:
    """Tells whether a passage satisfies a parsed question's phrases and exclusions."""

    def __init__(self, parsed: ParsedQuestion):
        self.parsed = parsed
        self._phrases = [[t.word for t in tokens(p)] for p in parsed.phrases]
        self._excluded = [[t.word for t in tokens(p)] for p in parsed.excluded]
        self._needed = [q for p in self._phrases for q in _needed_patterns(p)]
        sure = [q for q in map(_sure_pattern, self._phrases) if q is not None]
        absent = [q for q in map(_quick_pattern, self._excluded) if q is not None]
        # every phrase with a sure pattern and every exclusion with a necessary one: a match can be certain
        certain = len(sure) == len(self._phrases) and len(absent) == len(self._excluded)
        self._sure: list[re.Pattern] | None = sure if certain else None
        self._absent = absent

    def matches(self, text: str) -> bool:
        """Every phrase present and no excluded word or phrase."""
        if (self._needed or self._sure is not None) and text.isascii():
            lower = text.lower()
            folded = lower.translate(_DROP)
            if not all(q.search(folded) for q in self._needed):
                return False  # a phrase cannot be there
            if self._sure is not None and all(q.search(lower) for q in self._sure) \
                    and not any(q.search(folded) for q in self._absent):
                return True  # every phrase is there and no exclusion can be
        return self.matches_words(quote_words(text))

    def matches_words(self, words: list[str]) -> bool:
        """`matches` on a passage's `search.quotes.words`."""
        return (all(_contains(words, p) for p in self._phrases)
                and not any(_contains(words, p) for p in self._excluded))

    def phrase_spans(self, text: str) -> list[Span]:
        """Where each phrase occurs in `text`, in order: the spans of `tokens(text)` (tests/test_phrase_quick.py),
        with offsets read only at the phrases' occurrences."""
        words, first, last, found = located_words(text)
        spans = {Span(found[first[i]].start(), found[last[i + len(p) - 1]].end())
                 for p in self._phrases for i in _occurrences(words, p)}
        return sorted(spans, key=lambda s: (s.start, s.end))  # Span has no order of its own


def keyword_spans(question: str, text: str, parsed: ParsedQuestion | None = None,
                  matcher: PhraseMatcher | None = None) -> list[Span]:
    """Spans of the words of `text` that match the question's content words (same stemming as the highlight).

    Quoted phrases are marked whole; other words by `search.highlight.terms` (stopwords dropped,
    crude suffix stripping), so "banned" marks "ban" and "bans". Excluded words are not marked.
    `matcher`: the question's PhraseMatcher when the caller has one (a page marks ten passages).
    """
    parsed = parsed if parsed is not None else parse_question(question)
    spans = set((matcher or PhraseMatcher(parsed)).phrase_spans(text)) if parsed.phrases else set()
    wanted = question_terms(parsed.text)
    if wanted:
        found = ascii_term_spans(text, wanted)
        spans.update(found if found is not None else _term_spans_slow(text, wanted))
    return _merge(sorted(spans, key=lambda s: (s.start, s.end)))


def _term_spans_slow(text: str, wanted: frozenset[str]) -> list[Span]:
    """The span of every word of `text` (the highlight's word pattern) whose term is wanted."""
    out = []
    known: dict[str, bool] = {}  # a word's verdict, once per distinct spelling
    for m in _WORD.finditer(text):
        raw = m.group(0)
        if raw not in known:
            known[raw] = word_term(raw.lower()) in wanted
        if known[raw]:
            out.append(Span(m.start(), m.end()))
    return out


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return out



_IZE_FORM = re.compile(r"(?<=\w{3})is(e|es|ed|ing|ation|ations|er|ers)$")  # what quotes._IZE makes of -ize


def _unvaried(word: str) -> bool:
    """A word no other spelling compares equal to (search.quotes.normalise_word), apart from case, accents,
    apostrophes and dots: not the target of a spelling variant, join, -our → -or or -ize → -ise form."""
    from .quotes import _JOINED, _OUR_STEMS, _SPELLING, normalise_word

    low = word.lower()
    if not low.isalpha() or normalise_word(word) != low or low in _SPELLING.values():
        return False
    if any(low in pair for pair in _JOINED) or low in _JOINED.values():
        return False
    if any(stem[:-2] + "r" in low for stem in _OUR_STEMS):
        return False
    return not _IZE_FORM.search(low)


def _plain(word: str) -> bool:
    """A word whose every spelling in a passage is itself: no variant map, join or stem can change it, so
    the keyword index's postings of it hold every passage where it stands (safe to narrow by). Stricter
    than `_unvaried` (any "or" in it, as before it was made exact): narrowing changes which matches a
    phrase question reaches, so the answers stay as they were."""
    return _unvaried(word) and not re.search(r"or|is(e|es|ed|ing|ation|ations|er|ers)$", word.lower())


def candidate_ids(keyword, parsed: ParsedQuestion, subset: np.ndarray | None) -> np.ndarray | None:
    """Passage ids that can hold the phrases, within `subset`: the intersection of the keyword index's
    postings of each phrase's plain words (stemmed, so a superset of the exact matches; PhraseMatcher
    decides). Exclusions do not narrow here (a stem would drop more than the word). None: no narrowing."""
    ids = None if subset is None else np.asarray(subset, dtype=np.int64)
    for phrase in parsed.phrases:
        for m in re.finditer(r"[^\W\d_]+", phrase):
            if not _plain(m.group(0)):
                continue
            posting = np.flatnonzero(keyword.scores(m.group(0)) > 0)
            if not len(posting):  # the analyser drops it (a stopword): it cannot narrow
                continue
            ids = posting if ids is None else np.intersect1d(ids, posting)
    return ids
