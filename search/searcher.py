"""Searcher: one loaded index generation answering questions with typed, ranked hits.

The steps each have a home: request validation (search.request), filters as an id subset
(search.filters), candidates and fusion (search.ranking, search.fusion), duplicate collapse
(search.duplicates), the "no strong match" line (search.weak), hit assembly with the best sentence
(search.hits, search.highlight), document and stats views (search.documents).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from index.embedder import Embedder

from .citation import Citation, passage_sha256
from .deadline import Deadline
from .documents import DocumentView, StatsView, document_info, document_view, stats_view
from .duplicates import DUPLICATE_MARGIN, ParagraphKeys, collapse_head
from .errors import NotFound
from .factchecks import FactCheckStore, checked_ids
from .filters import validate_sort
from .fusion import Pairs
from .generation import Generation
from .hits import make_hits
from .phrases import (
    ParsedQuestion,
    PhraseMatcher,
    candidate_ids,
    keyword_spans,
    parse_question,
)
from .ranking import Ranker
from .request import validate, validate_mode
from .settings import Settings
from .types import FactCheck, Filters, SearchResponse
from .weak import weak_line


class QueryCache:
    """A small thread-safe LRU cache of question vectors."""

    def __init__(self, size: int = 1024):
        self.size, self._lock = size, Lock()
        self._data: OrderedDict[Any, np.ndarray] = OrderedDict()

    def get(self, key: Any) -> np.ndarray | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Any, value: np.ndarray) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class Searcher:
    """One loaded index generation with the question encoder that must match it."""

    def __init__(self, directory: Path, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.gen = Generation(directory, settings.exact_subset_max)
        self.embedder = self.gen.question_encoder(settings, embedder)
        self.ranker = Ranker(self.gen, settings)
        self.weak_line = self._weak_line()
        self.cache = QueryCache()
        self.paragraphs = ParagraphKeys(self.store)  # duplicate keys, computed once per passage
        self._fact_checks: FactCheckStore | None = None
        self._checked: tuple[Any, np.ndarray] | None = None  # (store version, linked passage ids)

    def with_settings(self, **changes: Any) -> Searcher:
        """The same loaded generation and embedder under other (ranking, limit) settings."""
        other = copy.copy(self)
        other.settings = self.settings.replace(**changes)
        other.ranker = Ranker(self.gen, other.settings)
        other.weak_line = other._weak_line()
        return other

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None) -> Searcher:
        return cls(settings.index, settings, embedder)

    # The loaded generation's parts, under the names the front ends and the evaluation use.
    path = property(lambda self: self.gen.path, doc="The generation's directory.")
    manifest = property(lambda self: self.gen.manifest, doc="The generation's Manifest.")
    generation = property(lambda self: self.gen.generation, doc="The generation's id.")
    passages = property(lambda self: self.gen.passages, doc="How many passages it holds.")
    store = property(lambda self: self.gen.store, doc="Its PassageStore.")
    table = property(lambda self: self.gen.table, doc="Its DocumentTable.")

    def _weak_line(self) -> float:
        """The cosine below which a hit is weak, for this index and the current settings (search/weak.py)."""
        return weak_line(self.gen.manifest.probes, self.settings.weak_below, self.settings.weak_quantile)

    def embed_question(self, question: str) -> np.ndarray:
        vector = self.cache.get(question)
        if vector is None:
            vector = self.embedder.encode([question])[0]
            self.cache.put(question, vector)
        return vector

    def search(self, question: Any, k: Any = None, offset: Any = 0, neighbours: bool = False,
               mode: str | None = None, filters: Filters | None = None, sort: str = "relevance",
               phrases: bool = True, deadline: Deadline | None = None, exact: bool = False) -> SearchResponse:
        """Ranked passages for `question`: hits offset..offset+k, best first (or by date among the relevant).

        `phrases=False` takes the question as plain text (no "phrase" or -word syntax): verify's use.
        `exact=True` matches words only as written: no Cyrillic ↔ Latin folding ("Durov" no longer finds "Дуров").
        `deadline` (the request's time budget) is checked between the stages: TimeBudgetExceeded past it."""
        began = time.perf_counter()
        deadline = deadline or Deadline.never()
        question, k, offset = validate(self.settings, question, self.settings.default_k if k is None else k, offset)
        mode = validate_mode(mode or self.settings.mode)
        sort = validate_sort(sort)
        filters = filters or Filters()
        subset, undated = self.table.subset(filters) if filters else (None, 0)
        if filters.checked is not None:
            subset = self._checked_subset(filters.checked, subset)
        # "Quoted phrases" must appear and -words must not (search/phrases.py): the ranking sees the rest
        # plus the phrases' words, within the passages that hold the phrases' words, and only passages the
        # matcher accepts are kept, in every mode, before paging.
        parsed = parse_question(question) if phrases else ParsedQuestion(question)
        text = parsed.text or question  # punctuation alone is still a question the vectors can rank
        if parsed.phrases:
            subset = candidate_ids(self.gen.keyword, parsed, subset)
        qvec = self.embed_question(text)
        deadline.check("ranking")
        # Rank deep enough for facets and date sorting over all relevant matches, not just this page.
        ranked, cosines = self.ranker.rank_with_cosines(text, qvec, max(k + offset, self.settings.facet_depth),
                                                        mode, subset, fold=not exact)
        need = k + offset if sort == "relevance" else None
        matcher = PhraseMatcher(parsed) if parsed else None
        ids = Pairs.of(ranked).ids
        if matcher is not None:
            # Whether a passage is weak does not depend on the others, so it is known before matching, and
            # the matcher reads only what the page and the facets can use (see `_matching`).
            keyword_only, weak_ids, _ = self._weak(text, qvec, ids, cosines, mode, exact)
            ranked = self._matching(ranked, matcher, weak_ids, need)
            ids = Pairs.of(ranked).ids
            weak = np.fromiter((pid in weak_ids for pid in ids.tolist()), dtype=bool, count=len(ids))
        deadline.check("duplicates")
        kept, copies, limit = collapse_head(self.store, ranked, need, self.paragraphs)
        if matcher is None:
            keyword_only, weak_ids, weak = self._weak(text, qvec, ids, cosines, mode, exact)
        # The relevant (not weak) matches in order: the collapsed head's, then the rest of the ranking's, read
        # as arrays (a thousand passages: only the head becomes tuples).
        relevant = [(pid, score) for pid, score in kept if pid not in weak_ids]
        relevant_ids = np.concatenate([np.fromiter((pid for pid, _ in relevant), dtype=np.int64, count=len(relevant)),
                                       ids[limit:][~weak[limit:]]])
        ranked = kept
        if sort != "relevance":  # need None: the whole ranking was collapsed, so `relevant` holds all of it
            # Date order among the relevant matches; ties keep relevance order; undated go last.
            dates = dict(zip((pid for pid, _ in relevant), self.table.dates([pid for pid, _ in relevant])))
            dated = sorted((h for h in relevant if dates[h[0]]), key=lambda h: dates[h[0]], reverse=sort == "newest")
            ranked = dated + [h for h in relevant if not dates[h[0]]]
        page = ranked[offset:offset + k]
        deadline.check("hits")
        hits = make_hits(self.store, self.gen.sentences, text, qvec, page, neighbours,
                         lambda pid, passage: {"weak": pid in weak_ids, "duplicates": copies.get(pid, ()),
                                               "keyword_only": pid in keyword_only,
                                               "matches": tuple(keyword_spans(question, passage, parsed, matcher))})
        checks = self.fact_checks_for([(h.document.id, h.text) for h in hits])
        hits = [dataclasses.replace(h, fact_checks=c) if c else h for h, c in zip(hits, checks)]
        deadline.check("facets")
        return SearchResponse(query=question, hits=tuple(hits), took_ms=(time.perf_counter() - began) * 1000,
                              generation=self.generation, passages=self.passages, k=k, offset=offset,
                              mode=mode, filters=filters, sort=sort,
                              facets=self.table.facets(relevant_ids), undated_excluded=undated,
                              timeline=self.table.year_speakers(relevant_ids))

    def _weak(self, text: str, qvec: np.ndarray, ids: np.ndarray, cosines: Pairs, mode: str,
              exact: bool) -> tuple[set[int], set[int], np.ndarray]:
        """Of the ranked passages `ids`: (those ranked by keywords alone, the weak ones, which are weak as a
        mask): each passage's own verdict."""
        keyword_only = self.keyword_only(text, ids, mode)
        weak = self.weak_flags(qvec, ids, cosines)
        if keyword_only:  # the cosine says nothing there: strong is a keyword match of most of the question
            coverage = self.keyword_coverage(text, list(keyword_only), fold=not exact)
            weak = np.array([coverage[pid] < self.settings.weak_coverage if pid in keyword_only else w
                             for pid, w in zip(ids.tolist(), weak.tolist())], dtype=bool)
        return keyword_only, set(ids[weak].tolist()), weak

    def _matching(self, ranked: Sequence[tuple[int, float]], matcher: PhraseMatcher, weak_ids: set[int],
                  need: int | None) -> list[tuple[int, float]]:
        """The ranked passages the phrase matcher accepts, in order, read only as far as the answer can use them.

        Tokenising a thousand passages was most of a phrase question's time (41 ms p50 on SOTU). Every strong
        passage is checked (the facets and the timeline count them); weak ones only until `need` plus the
        duplicate margin have been accepted, which is all of the list that the duplicate collapse reads
        (DUPLICATE_MARGIN) and the page is cut from. Past that a weak passage can only be a page-filler after
        collapsed duplicates, so if the accepted head holds fewer than `need` distinct paragraphs, or the
        order is by date (`need` None), every passage is checked as before."""
        texts = self.store.texts([pid for pid, _ in ranked])

        def accepted(part: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
            return [(pid, score) for pid, score in part if pid in texts and matcher.matches(texts[pid][1])]

        out: list[tuple[int, float]] = []
        for i, (pid, score) in enumerate(ranked):
            if need is not None and len(out) >= need + DUPLICATE_MARGIN:
                keys = self.paragraphs.of([p for p, _ in out])
                if len({keys[p][1] for p, _ in out if p in keys}) >= need:
                    return out + accepted([(p, s) for p, s in ranked[i:] if p not in weak_ids])
                return out + accepted(ranked[i:])
            out.extend(accepted([(pid, score)]))
        return out

    def keyword_only(self, question: str, ids: np.ndarray, mode: str) -> set[int]:
        """The ranked passages (`ids`) whose cosine means nothing (search.ranking), so the keywords alone rank
        them and say whether they are strong: every one for a question the English sentence model cannot
        read, else those in another language; none in vector mode (which ranks by that cosine all the same)."""
        if mode == "vector" or not len(ids):
            return set()
        if not self.ranker.reads(question):
            return set(ids.tolist())
        return set(ids[~self.table.vector_readable(ids)].tolist())

    def keyword_coverage(self, question: str, ids: list[int], fold: bool = True) -> dict[int, float]:
        """How much of the question each passage matches: its BM25 over the question's ideal BM25, times the
        share of the question's content words the corpus holds at all (the ideal counts only those)."""
        keyword = self.gen.keyword
        ideal = keyword.ideal_score(question, fold, either=True)
        if not ids or ideal <= 0:
            return dict.fromkeys(ids, 0.0)
        scores = keyword.scores(question, fold)
        share = keyword.known_share(question, fold)
        return {pid: float(scores[pid]) / ideal * share for pid in ids}

    def fact_check_store(self) -> FactCheckStore | None:
        """The fact-checks kept beside the index (search/factchecks.py), once one exists."""
        if self._fact_checks is None:
            self._fact_checks = FactCheckStore.beside(self.settings.index)
        return self._fact_checks

    def fact_checks_for(self, passages: list[tuple[str, str]]) -> list[tuple[FactCheck, ...]]:
        """The published fact-checks linked to each (statement id, passage text), newest first."""
        store = self.fact_check_store()
        if store is None or not passages:
            return [() for _ in passages]
        keys = [(doc_id, passage_sha256(text)) for doc_id, text in passages]
        found = store.for_passages(keys)
        return [tuple(found.get(k, ())) for k in keys]

    def _checked_subset(self, checked: bool, subset: np.ndarray | None) -> np.ndarray:
        """`subset` (or every passage) narrowed to the passages with (or without) a linked fact-check."""
        store = self.fact_check_store()
        linked = np.array([], dtype=np.int64)
        if store is not None:
            version = store.version()
            if self._checked is None or self._checked[0] != version:
                self._checked = (version, checked_ids(self, store))
            linked = self._checked[1]
        base = subset if subset is not None else self.table.subset(Filters())[0]
        return np.intersect1d(base, linked) if checked else np.setdiff1d(base, linked)

    def weak_flags(self, question_vector: np.ndarray, ids: np.ndarray, known: Pairs | None = None) -> np.ndarray:
        """Which of the passages `ids` fall below the calibrated "no strong match" line, as a mask; `known`:
        vector scores already computed, in ascending id order.

        The line is on the vector score (cosine between question and passage, or its best sentence) in
        every mode: fused and BM25 scores are relative to the question, cosine is on one scale (see
        docs/quality.md).
        """
        ids = np.asarray(ids, dtype=np.int64)
        if known is None:
            scores, found = np.zeros(len(ids)), np.zeros(len(ids), dtype=bool)
        else:
            scores, found = known.lookup(ids)
        if not found.all():
            scores = scores.copy()
            scores[~found] = self.ranker.cosines(ids[~found], question_vector)
        return scores < self.weak_line

    def citation(self, passage_id: int) -> Citation:
        """The citation of one passage (search/citation.py); NotFound for an id the index does not hold."""
        # SQLite integers are 64-bit: a larger id (a URL can carry any) is simply not there.
        row = self.store.passages([passage_id]).get(passage_id) if 0 <= passage_id < 2**63 else None
        if row is None:
            raise NotFound(f"no passage with id {passage_id}", code="passage_not_found")
        return Citation.of_passage(passage_id, row["text"], document_info(row, id_key="doc_id"), row["ordinal"],
                                   row["n"], self.generation)

    def document(self, doc_id: str) -> DocumentView:
        """A statement's metadata, full text and passages; NotFound for an unknown id."""
        return document_view(self.gen, doc_id)

    def stats(self) -> StatsView:
        """Counts, model, index type and build time of the generation, and its "no strong match" line."""
        return stats_view(self.gen, self.weak_line)

    def close(self) -> None:
        """Let go of the generation's open files (its SQLite connections); the memory maps go with the last
        reference. Front ends and the live searcher call this, never the store directly."""
        self.gen.close()
        if self._fact_checks is not None:
            self._fact_checks.close()
