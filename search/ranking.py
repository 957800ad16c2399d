"""Rank passages for one question: candidates from the vector and keyword sides, then fusion.

`candidates` is the public step that both `rank` and bench/tune_fusion.py use, so the tuning grid
fuses exactly what the service would.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.analysis import is_english
from index.dots import row_dots

from .fusion import Candidates, Pairs, fuse_pairs, gate_unreadable, keyword_decides
from .generation import Generation
from .settings import Settings

Ranking = list[tuple[int, float]]


class Ranker:
    """Ranks within one generation by the settings' mode, fusion, weight and gate."""

    def __init__(self, generation: Generation, settings: Settings):
        self.gen = generation
        self.settings = settings

    def cosines(self, ids, question_vector: np.ndarray) -> np.ndarray:
        """The vector side's score of each passage: its cosine to the question, or (score_sentences) the
        better of that and its best sentence's cosine (sentence vectors from the build)."""
        ids = np.asarray(ids, dtype=np.int64)
        # The rows are read in id order (file order), then put back: the same products, but reading forward
        # through the memory maps instead of hopping (1,000 candidates' rows: 0.64-0.78 → 0.61 ms).
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        scores = row_dots(self.gen.vectors, ids, question_vector)
        if self.settings.score_sentences and len(ids):
            np.maximum(scores, self.gen.sentences.best_cosines(ids, question_vector), out=scores)
        out = np.empty_like(scores)
        out[order] = scores
        return out

    def vector_top(self, question_vector: np.ndarray, n: int, subset: np.ndarray | None = None) -> Ranking:
        """The n best passages by the vector score, within `subset` if given: the vector index's top n
        by passage cosine (its own subset rule), re-scored with their sentences."""
        return list(self._vector_top(question_vector, n, subset))

    def _vector_top(self, question_vector: np.ndarray, n: int, subset: np.ndarray | None = None) -> Pairs:
        ids, found = self.gen.vector_index.top(question_vector, n, subset)
        if not self.settings.score_sentences or not len(ids):
            return Pairs(ids, found.astype(np.float64))
        scores = self.cosines(ids, question_vector)
        order = np.argsort(-scores, kind="stable")
        return Pairs(ids[order], scores[order].astype(np.float64))

    def candidates(self, question: str, question_vector: np.ndarray, n: int,
                   subset: np.ndarray | None = None, fold: bool = True) -> Candidates:
        """Each side's top `n` within `subset`, and both exact scores for every id either side found."""
        vector = self._vector_top(question_vector, n, subset)
        all_bm25 = self.gen.keyword.scores(question, fold)  # once per question: ranks the keyword side and scores
        keyword = Pairs(*self.gen.keyword.top_arrays(all_bm25, n, subset))
        # Every id either side found with its exact cosine (the vector side's are computed already), in id
        # order, as arrays: at the facets' depth that is ~2,000 ids, too many for per-id Python work.
        found = np.zeros(len(self.gen.vectors), dtype=bool)  # a mask, not np.isin's sort of both sides
        found[vector.ids] = True
        rest = keyword.ids[~found[keyword.ids]]
        ids = np.concatenate([vector.ids, rest])
        cosines = np.concatenate([vector.scores, self.cosines(rest, question_vector).astype(np.float64)]) \
            if len(rest) else vector.scores
        order = np.argsort(ids, kind="stable")
        ids, cosines = ids[order], cosines[order]
        bm25 = all_bm25[ids].astype(np.float64)
        ideal = self.gen.keyword.ideal_score(question, fold) if self.settings.fusion == "adaptive" else 0.0
        return Candidates(vector, keyword, Pairs(ids, cosines), Pairs(ids, bm25), ideal, (ids, cosines, bm25))

    def reads(self, question: str) -> bool:
        """Whether the sentence model can read `question`: English (always, in an older, English-only index)."""
        languages = self.gen.keyword.languages
        return languages is None or is_english(question, tuple(sorted(languages)))

    def rank(self, question: str, question_vector: np.ndarray, depth: int, mode: str,
             subset: np.ndarray | None = None) -> Ranking:
        """The top `depth` (passage id, score) in one mode, within `subset` if given.

        The subset restricts candidates inside both sides, so a narrow filter still yields `depth`
        results whenever that many passages match it.
        """
        return list(self.rank_with_cosines(question, question_vector, depth, mode, subset)[0])

    def rank_with_cosines(self, question: str, question_vector: np.ndarray, depth: int, mode: str,
                          subset: np.ndarray | None = None, fold: bool = True
                          ) -> tuple[Sequence[tuple[int, float]], Pairs]:
        """`rank` (as `Pairs` where fusion left it as arrays), plus the vector scores it already computed, in
        ascending id order (none in keyword mode), for the weak line.

        The sentence model reads English only: in hybrid mode a question in another language is ranked by
        its keywords (`keyword_decides`), and a passage in another language scores on its keywords alone
        (`gate_unreadable`); `fold=False` (exact) leaves out the matches across scripts."""
        if subset is not None and len(subset) == 0:
            return [], _NONE
        if mode == "keyword":
            return self.gen.keyword.search(question, depth, subset, fold), _NONE
        if mode == "vector":
            top = self.vector_top(question_vector, depth, subset)
            return top, Pairs.of(top).by_id()
        c = self.candidates(question, question_vector, max(depth, self.settings.candidates), subset, fold)
        cosines = Pairs.of(c.cosines).by_id()
        if not self.reads(question):
            return keyword_decides(c)[:depth], cosines
        readable = self.gen.table.vector_readable(c.arrays[0] if c.arrays is not None else [p for p, _ in c.cosines])
        ranking = fuse_pairs(self.settings.fusion, gate_unreadable(c, readable), self.settings.hybrid_weight,
                             self.settings.keyword_gate, depth)
        return ranking, cosines


_NONE = Pairs(np.zeros(0, dtype=np.int64), np.zeros(0))  # no vector scores
