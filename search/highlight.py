"""Pick the sentence of a passage that best answers the question, for highlighting.

Sentence vectors come from the build (index/sentences.py): highlighting is dot products, no model call.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from index.passages import sentence_spans

from .types import Span

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
STOPWORDS = frozenset("""a an and are as at be but by did do does for from had has have how i if in into is it
its of on or so that the their them then there these they this to was we were what when where which who whom
why will with would you your our us he she his her not no can could should than about after before over""".split())
KEYWORD_WEIGHT = 0.35  # weight of the share of question terms a sentence contains


def terms(text: str) -> set[str]:
    """Lower-cased content words with a crude plural/verb suffix strip."""
    out: set[str | None] = set(map(word_term, _WORD.findall(text.lower())))  # the map runs in C
    out.discard(None)
    return out  # type: ignore[return-value]  # None was discarded


@lru_cache(maxsize=256)
def question_terms(question: str) -> frozenset[str]:
    """`terms` of a question, kept: every hit of a page is highlighted against the same question."""
    return frozenset(terms(question))


@lru_cache(maxsize=1 << 16)
def word_term(word: str) -> str | None:
    """The term of one lower-cased word, or None for a stopword or a single character (cached: the same
    words recur in every passage)."""
    if word in STOPWORDS or len(word) < 2:
        return None
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def best_span(question: str, question_vector: np.ndarray, text: str, spans: list[tuple[int, int]],
              vectors: np.ndarray) -> Span:
    """The span of the passage's sentence with the highest cosine + KEYWORD_WEIGHT × share of the question's
    terms it holds. `spans`/`vectors` are the stored sentences (none for a passage of one sentence)."""
    if not spans:
        spans, sims = sentence_spans(text) or [(0, len(text))], None
    else:
        sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(question_vector, dtype=np.float32)
    q_terms = question_terms(question)
    scores = [(float(sims[i]) if sims is not None else 0.0)
              + (KEYWORD_WEIGHT * _shared(q_terms, text[a:b]) / len(q_terms) if q_terms else 0.0)
              for i, (a, b) in enumerate(spans)]
    return Span(*spans[int(np.argmax(scores))])


def _shared(q_terms: frozenset[str], sentence: str) -> int:
    """How many of the question's terms `sentence` holds. A term is a prefix of its lower-cased word, so only
    the words where a term is found need reading (`ascii_term_spans`); where that cannot be sure, a sentence
    whose lower-cased text contains none of them as a substring holds none, and any other is read whole."""
    spans = ascii_term_spans(sentence, q_terms)
    if spans is not None:
        return len({word_term(sentence[s.start:s.end].lower()) for s in spans})
    lower = sentence.lower()
    if not any(t in lower for t in q_terms):
        return 0
    return len(q_terms & terms(sentence))


def ascii_term_spans(text: str, wanted: frozenset[str]) -> list[Span] | None:
    """The span of every word of `text` whose term is wanted, reading only the words that start like a wanted
    term (most of a passage's words are not); None where that shortcut cannot be sure, for a slow path that
    reads every word (search.phrases._term_spans_slow, `terms`) to answer.

    A word's term is a prefix of the lower-cased word (`word_term` only strips a suffix),
    so each term is looked for with str.find in the lower-cased text (ASCII only: there lower-casing
    keeps every offset). A find not preceded by a letter or digit is where the highlight's word pattern
    starts a word, so the word there is `_WORD.match` at that point; after an apostrophe it may be the tail
    of a word ("o'clock"), so that text goes the slow way."""
    if not text.isascii():
        return None
    lower = text.lower()
    starts = set()
    for term in wanted:
        i = lower.find(term)
        while i >= 0:
            if i == 0 or not lower[i - 1].isalnum():
                starts.add(i)
            i = lower.find(term, i + 1)
    out = []
    end = 0
    for start in sorted(starts):
        if start < end:
            continue  # inside the word just read
        if start and text[start - 1] == "'":
            return None
        word = _WORD.match(text, start)
        if word is None:  # a term starts with a letter or digit; be sure anyway
            return None
        if word_term(word.group(0).lower()) in wanted:
            out.append(Span(start, word.end()))
        end = word.end()
    return out
