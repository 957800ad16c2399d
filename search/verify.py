"""Check a quote against the statements: verbatim, altered, paraphrase or not found, and who said it first."""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from index.passages import sentence_spans

from .deadline import Deadline
from .documents import document_info
from .duplicates import collapse_duplicates
from .errors import SearchError
from .highlight import STOPWORDS
from .quotes import Alignment, DiffOp, Token, align, quote_tokens, tokens
from .quotes import words as passage_words
from .request import validate
from .types import DocumentInfo, FactCheck, Filters, Span

VERDICTS = ("verbatim", "altered", "paraphrase", "not_found")


@dataclass(frozen=True)
class VerifyLines:
    """Where one verdict ends and the next begins (calibrated on tests/data/quotes.jsonl, docs/quality.md)."""

    altered: float = 0.6        # word similarity (matched words / words) at or above which a match is altered
    reordered: float = 0.4      # lower similarity still altered when the quote's words are all there...
    coverage: float = 0.9       # ...this share of them near the span (words moved, not replaced)
    min_words: int = 4          # shorter quotes are verbatim or nothing word for word
    paraphrase: float = 0.70    # sentence cosine at or above which a sentence says the same thing
    max_matches: int = 20


@dataclass(frozen=True)
class Candidate:
    """A passage that may hold the quote, as the index gives it."""

    id: int
    text: str
    document: DocumentInfo
    paragraph: int = 0
    of: int = 0


SentenceVectors = Callable[[int, str], "tuple[list[tuple[int, int]], np.ndarray]"]


@dataclass(frozen=True)
class Pool:
    """Everything verify needs from an index: candidate passages, their cosines, sentence vectors.

    With `sentences` and `quote_vector` (what `pool_from_searcher` gives), the paraphrase check takes
    dot products with the sentence vectors stored at build time; without them it encodes the
    sentences with `encode` (unit tests, a pool built by hand).
    """

    candidates: list[Candidate]                 # retrieval order, best first, no repeats
    encode: Callable[[list[str]], np.ndarray] | None = None  # L2-normalised vectors of texts
    cosines: dict[int, float] = field(default_factory=dict)  # passage cosine to the quote (vector hits)
    quote_vector: np.ndarray | None = None      # the quote as the question encoder embeds it
    sentences: SentenceVectors | None = None    # (passage id, text) -> (sentence spans, unit vectors)
    paraphrase: bool = True                     # the sentence model can read the quote (English): check meaning


@dataclass(frozen=True)
class QuoteMatch:
    """One passage that carries the quote (or its meaning), with the word diff."""

    id: int
    text: str
    span: Span
    similarity: float
    diff: tuple[DiffOp, ...]
    document: DocumentInfo
    verdict: str
    paragraph: int = 0
    of: int = 0
    fact_checks: tuple[FactCheck, ...] = ()  # published fact-checks linked to this passage


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on a quote; `matches[0]` is the best, the rest oldest first; `first_said` the earliest dated."""

    quote: str
    verdict: str
    matches: tuple[QuoteMatch, ...]
    first_said: QuoteMatch | None
    took_ms: float
    filters: Filters = Filters()
    paraphrase_checked: bool = True  # False: the quote is not English, so only its words were compared


def validate_quote(quote: Any, max_chars: int) -> tuple[str, list[Token]]:
    """The stripped quote and its words; SearchError for an empty, wordless or over-long quote."""
    if not isinstance(quote, str):
        raise SearchError("quote must be a string", code="invalid_quote")
    quote = quote.strip()
    if not quote:
        raise SearchError("quote is empty: paste the words to check", code="invalid_quote")
    if len(quote) > max_chars:
        raise SearchError(f"quote is {len(quote)} characters long; the limit is {max_chars}", code="quote_too_long")
    toks = quote_tokens(quote)
    if not toks:
        raise SearchError("quote has no words to check", code="invalid_quote")
    return quote, toks


def search_text(quote: str) -> str:
    """The quote as a question: ellipses and quote marks removed."""
    return re.sub(r"\s+", " ", re.sub(r"\[?(?:\.\s?\.\s?\.|…)\]?|[\"“”„«»]", " ", quote)).strip()


def rare_words(toks: Sequence[Token], quote: str) -> list[str]:
    """The quote's content words as written (for the keyword index's own analysis)."""
    seen = dict.fromkeys(quote[t.start:t.end] for t in toks if t.word not in STOPWORDS and len(t.word) > 1)
    return list(seen)


def pool_from_searcher(searcher: Any, quote: str, words: Sequence[str], filters: Filters | None,
                       depth: int = 30, exact_limit: int = 300, deadline: Deadline | None = None) -> Pool:
    """Candidates from the searcher: both retrieval halves plus passages holding the quote's rarest words.

    The only function here that touches the searcher. Both halves are `shallow_hits`: the same
    passages, in the same order, with the same scores as a vector and a keyword `search` with k=`depth`,
    without assembling a results page (highlights, keyword spans, facets) that verify never reads.
    Then `gen.keyword` and `table.subset` for the exact pass, `store.passages` for the text, and for the
    paraphrase check the question vector (`embed_question`, cached) and the sentence vectors stored at
    build time (`gen.sentences`, `gen.vectors`): no model call per sentence.
    """
    text = search_text(quote)
    subset = searcher.table.subset(filters)[0] if filters else None
    question_vector = searcher.embed_question(validate(searcher.settings, text, depth, 0)[0])
    order: dict[int, Candidate] = {}
    cosines: dict[int, float] = {}
    # The sentence model reads English only: a quote in another language is compared word for word, and a
    # passage in another language never counts as a paraphrase by its (meaningless) cosine.
    readable = searcher.ranker.reads(text)
    halves = {mode: shallow_hits(searcher, text, question_vector, mode, depth, subset, deadline)
              for mode in ("vector", "keyword")}
    rows = searcher.store.passages(list(dict.fromkeys(pid for ranked in halves.values() for pid, _ in ranked)))
    for mode, ranked in halves.items():
        for pid, score in ranked:
            if pid not in rows:
                continue
            row = rows[pid]
            order.setdefault(pid, Candidate(pid, row["text"], document_info(row, id_key="doc_id"), row["ordinal"],
                                            row["n"]))
            if mode == "vector" and readable and searcher.table.vector_readable([pid])[0]:
                cosines[pid] = float(score)
    if deadline is not None:
        deadline.check("the quote's word search")
    gen = searcher.gen
    postings = [np.flatnonzero(gen.keyword.scores(w) > 0) for w in words]
    postings = sorted((p for p in postings if len(p)), key=len)[:4]  # absent words cannot narrow it
    if postings:
        ids = postings[0]
        for p in postings[1:]:
            ids = np.intersect1d(ids, p)
        if subset is not None:
            ids = np.intersect1d(ids, subset)
        rows = searcher.store.passages([int(i) for i in ids[:exact_limit] if int(i) not in order])
        for pid, row in sorted(rows.items()):
            doc = document_info(row, id_key="doc_id")
            order[pid] = Candidate(pid, row["text"], doc, row["ordinal"], row["n"])
    return Pool(list(order.values()), None, cosines, question_vector,
                lambda pid, passage: stored_sentences(gen, pid, passage), readable)


def shallow_hits(searcher: Any, text: str, question_vector: np.ndarray, mode: str, k: int,
                 subset: np.ndarray | None, deadline: Deadline | None = None) -> list[tuple[int, float]]:
    """The (passage id, score) of the first `k` hits a `search(text, k, mode=mode, phrases=False)` within
    `subset` returns, in its order: the same ranking depth (the vector side's sentence re-scoring
    reaches as deep as a search's) and the same duplicate collapse, nothing else."""
    if deadline is not None:
        deadline.check("ranking")
    depth = max(k, searcher.settings.facet_depth)
    ranked = searcher.ranker.rank(text, question_vector, depth, mode, subset)
    ranked, _ = collapse_duplicates(searcher.store, ranked, k, searcher.paragraphs)
    return ranked[:k]


def stored_sentences(gen: Any, pid: int, text: str) -> tuple[list[tuple[int, int]], np.ndarray]:
    """A passage's sentence spans and build-time vectors (embedded with the passage's context); a passage
    of one sentence has no rows, its one sentence is the passage and its vector the passage vector."""
    spans, vectors = gen.sentences.of(pid)
    if spans:
        return spans, vectors
    return (sentence_spans(text) or [(0, len(text))])[:1], np.asarray(gen.vectors[pid:pid + 1], dtype=np.float32)


def verify(searcher: Any, quote: Any, filters: Filters | None = None, lines: VerifyLines = VerifyLines(),
           depth: int = 30, max_chars: int | None = None, deadline: Deadline | None = None) -> VerifyResult:
    """Check `quote` against the searcher's statements (within `filters`); `deadline`: the request's
    time budget, checked between the steps (TimeBudgetExceeded past it)."""
    began = time.perf_counter()
    limit = max_chars if max_chars is not None else searcher.settings.max_query_chars
    quote, toks = validate_quote(quote, limit)
    pool = pool_from_searcher(searcher, quote, rare_words(toks, quote), filters, depth, deadline=deadline)
    verdict, matches = judge(quote, toks, pool, lines, deadline)
    lookup = getattr(searcher, "fact_checks_for", None)  # a Searcher; hand-made test doubles have none
    if lookup is not None and matches:
        checks = lookup([(m.document.id, m.text) for m in matches])
        matches = tuple(replace(m, fact_checks=c) if c else m for m, c in zip(matches, checks))
    return VerifyResult(quote, verdict, matches, first_said(verdict, matches),
                        (time.perf_counter() - began) * 1000, filters or Filters(), pool.paraphrase)


def judge(quote: str, toks: Sequence[Token], pool: Pool, lines: VerifyLines = VerifyLines(),
          deadline: Deadline | None = None) -> tuple[str, tuple[QuoteMatch, ...]]:
    """The verdict and its matches (best first, then oldest first) for one quote over one pool."""
    deadline = deadline or Deadline.never()
    aligned = []
    for c in pool.candidates:  # up to a few hundred alignments: the budget is checked between them
        deadline.check("the word-for-word comparison")
        if could_match(toks, set(passage_words(c.text)), lines):
            aligned.append((c, align(quote, toks, c.text, tokens(c.text))))
    exact = [(c, a) for c, a in aligned if a.verbatim]
    if exact:
        return "verbatim", _ordered([_match(c, a, "verbatim") for c, a in exact], lines.max_matches)
    close = [(c, a) for c, a in aligned if is_altered(a, len(toks), lines)]
    if close:
        close.sort(key=lambda ca: -ca[1].similarity)  # stable: retrieval order breaks ties
        return "altered", _ordered([_match(c, a, "altered") for c, a in close], lines.max_matches)
    deadline.check("the paraphrase check")
    said = paraphrases(quote, pool, lines.paraphrase) if pool.paraphrase else []
    if said:
        return "paraphrase", _ordered(said, lines.max_matches)
    return "not_found", ()


def could_match(quote: Sequence[Token], passage_words: Collection[str], lines: VerifyLines) -> bool:
    """False when no alignment of `quote` in `passage` can be verbatim or altered, so aligning is skipped.

    An alignment's similarity and coverage each count quote words found in the passage over at least
    the quote's length, so neither exceeds the share of quote words the passage holds at all; verbatim
    needs all of them, altered at least the lower of its two similarity lines (and `min_words`)."""
    held = sum(t.word in passage_words for t in quote)
    if held == len(quote):
        return True
    return len(quote) >= lines.min_words and held / len(quote) >= min(lines.altered, lines.reordered)


def is_altered(a: Alignment, words: int, lines: VerifyLines) -> bool:
    """Most of the quote word for word in one place: changed, added, removed or moved words."""
    if words < lines.min_words:
        return False
    return a.similarity >= lines.altered or (a.similarity >= lines.reordered and a.coverage >= lines.coverage)


def paraphrases(quote: str, pool: Pool, line: float, passages: int = 10) -> list[QuoteMatch]:
    """Sentences of the closest passages whose cosine to the quote reaches `line`, best first."""
    ranked = sorted(pool.cosines, key=lambda pid: -pool.cosines[pid])[:passages]
    by_id = {c.id: c for c in pool.candidates}
    ranked = [pid for pid in ranked if pid in by_id]
    if not ranked:
        return []
    if pool.sentences is not None and pool.quote_vector is not None:
        pieces, blocks = [], []
        for pid in ranked:
            spans, vectors = pool.sentences(pid, by_id[pid].text)
            pieces += [(by_id[pid], s, e) for s, e in spans]
            blocks.append(np.asarray(vectors, dtype=np.float32))
        sims = np.concatenate(blocks) @ np.asarray(pool.quote_vector, dtype=np.float32)
    else:
        if pool.encode is None:
            raise ValueError("a Pool without stored sentence vectors needs `encode`")
        pieces = [(by_id[pid], s, e) for pid in ranked
                  for s, e in (sentence_spans(by_id[pid].text) or [(0, len(by_id[pid].text))])]
        vectors = pool.encode([search_text(quote)] + [c.text[s:e] for c, s, e in pieces])
        sims = vectors[1:] @ vectors[0]
    best: dict[int, tuple[float, int, int]] = {}
    for (c, s, e), sim in zip(pieces, sims.tolist()):
        if sim >= line and sim > best.get(c.id, (-1.0, 0, 0))[0]:
            best[c.id] = (sim, s, e)
    out = [QuoteMatch(pid, by_id[pid].text, Span(s, e), sim, (), by_id[pid].document, "paraphrase",
                      by_id[pid].paragraph, by_id[pid].of) for pid, (sim, s, e) in best.items()]
    return sorted(out, key=lambda m: -m.similarity)


def best_paraphrase(quote: str, pool: Pool) -> float:
    """The highest sentence cosine to the quote among the pool's closest passages (for calibration)."""
    said = paraphrases(quote, pool, -1.0)
    return said[0].similarity if said else 0.0


def _match(c: Candidate, a: Alignment, verdict: str) -> QuoteMatch:
    return QuoteMatch(c.id, c.text, a.span, a.similarity, a.diff, c.document, verdict, c.paragraph, c.of)


def _ordered(matches: list[QuoteMatch], limit: int) -> tuple[QuoteMatch, ...]:
    """The best match first, then the others oldest first (undated last)."""
    best, rest = matches[0], matches[1:]
    rest = sorted(rest, key=lambda m: (m.document.date is None, m.document.date or "", m.id))
    return (best, *rest)[:limit]


def first_said(verdict: str, matches: Sequence[QuoteMatch]) -> QuoteMatch | None:
    """The earliest dated match carrying the best match's words (verbatim or altered); None otherwise."""
    if verdict not in ("verbatim", "altered") or not matches:
        return None
    dated = [m for m in matches if m.document.date and m.similarity >= matches[0].similarity - 1e-9]
    return min(dated, key=lambda m: (m.document.date, m.id)) if dated else None
