"""Rank passages for one question: candidates from the vector and keyword sides, then fusion.

`candidates` is the public step that both `rank` and bench/tune_fusion.py use, so the tuning grid
fuses exactly what the service would.
"""
from __future__ import annotations

import numpy as np

from index.analysis import is_english

from .fusion import Candidates, fuse, gate_unreadable, keyword_decides
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
        scores = np.asarray(self.gen.vectors[ids], dtype=np.float32) @ question_vector
        if self.settings.score_sentences and len(ids):
            np.maximum(scores, self.gen.sentences.best_cosines(ids, question_vector), out=scores)
        return scores

    def vector_top(self, question_vector: np.ndarray, n: int, subset: np.ndarray | None = None) -> Ranking:
        """The n best passages by the vector score, within `subset` if given: the vector index's top n
        by passage cosine (its own subset rule), re-scored with their sentences."""
        top = self.gen.vector_index.search(question_vector, n, subset)[0]
        if not self.settings.score_sentences or not top:
            return top
        ids = np.fromiter((pid for pid, _ in top), dtype=np.int64, count=len(top))
        scores = self.cosines(ids, question_vector)
        order = np.argsort(-scores, kind="stable")
        return list(zip(ids[order].tolist(), scores[order].tolist()))

    def candidates(self, question: str, question_vector: np.ndarray, n: int,
                   subset: np.ndarray | None = None, fold: bool = True) -> Candidates:
        """Each side's top `n` within `subset`, and both exact scores for every id either side found."""
        vector = self.vector_top(question_vector, n, subset)
        all_bm25 = self.gen.keyword.scores(question, fold)  # once per question: ranks the keyword side and scores
        keyword = self.gen.keyword.top(all_bm25, n, subset)
        # Every id either side found with its exact cosine (the vector side's are computed already), in id
        # order, as arrays: at the facets' depth that is ~2,000 ids, too many for per-id Python work.
        vector_ids = np.fromiter((pid for pid, _ in vector), dtype=np.int64, count=len(vector))
        vector_scores = np.fromiter((s for _, s in vector), dtype=np.float64, count=len(vector))
        keyword_ids = np.fromiter((pid for pid, _ in keyword), dtype=np.int64, count=len(keyword))
        rest = keyword_ids[~np.isin(keyword_ids, vector_ids)]
        ids = np.concatenate([vector_ids, rest])
        cosines = np.concatenate([vector_scores, self.cosines(rest, question_vector).astype(np.float64)]) \
            if len(rest) else vector_scores
        order = np.argsort(ids, kind="stable")
        ids, cosines = ids[order], cosines[order]
        bm25 = all_bm25[ids].astype(np.float64)
        ideal = self.gen.keyword.ideal_score(question, fold) if self.settings.fusion == "adaptive" else 0.0
        id_list = ids.tolist()
        return Candidates(vector, keyword, list(zip(id_list, cosines.tolist())), list(zip(id_list, bm25.tolist())),
                          ideal, (ids, cosines, bm25))

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
        return self.rank_with_cosines(question, question_vector, depth, mode, subset)[0]

    def rank_with_cosines(self, question: str, question_vector: np.ndarray, depth: int, mode: str,
                          subset: np.ndarray | None = None, fold: bool = True) -> tuple[Ranking, dict[int, float]]:
        """`rank`, plus the vector scores it already computed (none in keyword mode), for the weak line.

        The sentence model reads English only: in hybrid mode a question in another language is ranked by
        its keywords (`keyword_decides`), and a passage in another language scores on its keywords alone
        (`gate_unreadable`); `fold=False` (exact) leaves out the matches across scripts."""
        if subset is not None and len(subset) == 0:
            return [], {}
        if mode == "keyword":
            return self.gen.keyword.search(question, depth, subset, fold), {}
        if mode == "vector":
            top = self.vector_top(question_vector, depth, subset)
            return top, dict(top)
        c = self.candidates(question, question_vector, max(depth, self.settings.candidates), subset, fold)
        if not self.reads(question):
            return keyword_decides(c)[:depth], dict(c.cosines)
        readable = self.gen.table.vector_readable([pid for pid, _ in c.cosines])
        ranking = fuse(self.settings.fusion, gate_unreadable(c, readable), self.settings.hybrid_weight,
                       self.settings.keyword_gate)[:depth]
        return ranking, dict(c.cosines)
