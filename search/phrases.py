"""Exact phrases and exclusions in a question ("encryption keys" Russia -Iran -"web app"), and keyword spans.

A phrase matches a passage when its words appear there consecutively, compared the way quotes
are (search.quotes: case, punctuation, quote marks, dashes, spelling variants ignored).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import SearchError
from .highlight import _WORD, STOPWORDS, terms, word_term
from .quotes import tokens
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


def _find_all(words: list[str], part: list[str]) -> list[int]:
    n = len(part)
    return [i for i in range(len(words) - n + 1) if n and words[i:i + n] == part]


class PhraseMatcher:
    """Tells whether a passage satisfies a parsed question's phrases and exclusions."""

    def __init__(self, parsed: ParsedQuestion):
        self.parsed = parsed
        self._phrases = [[t.word for t in tokens(p)] for p in parsed.phrases]
        self._excluded = [[t.word for t in tokens(p)] for p in parsed.excluded]

    def matches(self, text: str) -> bool:
        """Every phrase present and no excluded word or phrase."""
        words = quote_words(text)  # tokens' words without their offsets (the same list, made faster)
        return (all(_find_all(words, p) for p in self._phrases)
                and not any(_find_all(words, p) for p in self._excluded))

    def phrase_spans(self, text: str) -> list[Span]:
        """Where each phrase occurs in `text`, in order."""
        toks = tokens(text)
        words = [t.word for t in toks]
        spans = {Span(toks[i].start, toks[i + len(p) - 1].end) for p in self._phrases for i in _find_all(words, p)}
        return sorted(spans, key=lambda s: (s.start, s.end))  # Span has no order of its own


def keyword_spans(question: str, text: str, parsed: ParsedQuestion | None = None) -> list[Span]:
    """Spans of the words of `text` that match the question's content words (same stemming as the highlight).

    Quoted phrases are marked whole; other words by `search.highlight.terms` (stopwords dropped,
    crude suffix stripping), so "banned" marks "ban" and "bans". Excluded words are not marked.
    """
    parsed = parsed if parsed is not None else parse_question(question)
    wanted = terms(parsed.text)
    spans = set(PhraseMatcher(parsed).phrase_spans(text)) if parsed.phrases else set()
    if wanted:
        known: dict[str, bool] = {}  # a word's verdict, once per distinct spelling
        for m in _WORD.finditer(text):  # the highlight's own word pattern and term of a word
            raw = m.group(0)
            if raw not in known:
                known[raw] = word_term(raw.lower()) in wanted
            if known[raw]:
                spans.add(Span(m.start(), m.end()))
    return _merge(sorted(spans, key=lambda s: (s.start, s.end)))


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return out



def _plain(word: str) -> bool:
    """A word whose every spelling in a passage is itself: no variant map, join or stem can change it, so
    the keyword index's postings of it hold every passage where it stands (safe to narrow by)."""
    from .quotes import _JOINED, _SPELLING, normalise_word

    low = word.lower()
    if not low.isalpha() or normalise_word(word) != low or low in _SPELLING.values():
        return False
    if any(low in pair for pair in _JOINED) or low in _JOINED.values():
        return False
    return not re.search(r"or|is(e|es|ed|ing|ation|ations|er|ers)$", low)


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
