"""The keyword half: a BM25 index (bm25s, PyStemmer English stemming, English stopwords)."""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

KEYWORD_DIR = "bm25"
K1, B, METHOD, STEMMER, STOPWORDS = 1.2, 0.75, "lucene", "english", "en"


def _bm25s():
    """bm25s, with the DEBUG level it sets on its own logger at import turned back down."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(STEMMER)


def analyse(texts: Sequence[str]) -> list[list[str]]:
    """Lower-case, drop English stopwords, Snowball-stem: the same analysis for passages and questions."""
    return _bm25s().tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(), return_ids=False, show_progress=False)


class KeywordIndex:
    """BM25 over passage texts; ids are positions, which are the passage ids."""

    def __init__(self, retriever):
        self.retriever = retriever
        self.size = int(retriever.scores["num_docs"])

    def __len__(self) -> int:
        return self.size

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = K1, b: float = B) -> "KeywordIndex":
        retriever = _bm25s().BM25(k1=k1, b=b, method=METHOD)
        retriever.index(analyse(texts), show_progress=False)
        return cls(retriever)

    def spec(self) -> dict:
        """The manifest's record of this index: the parameters it was actually built with."""
        r = self.retriever
        return {"type": "bm25s", "k1": r.k1, "b": r.b, "method": r.method, "stemmer": STEMMER,
                "stopwords": STOPWORDS, "dir": KEYWORD_DIR}

    def save(self, directory: Path) -> None:
        self.retriever.save(str(Path(directory) / KEYWORD_DIR), show_progress=False)

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> "KeywordIndex":
        return cls(_bm25s().BM25.load(str(Path(directory) / KEYWORD_DIR), mmap=mmap, show_progress=False))

    def terms(self, query: str) -> list[str]:
        """The question's analysed terms that occur in the corpus (the only ones that can score)."""
        return [t for t in analyse([query])[0] if t in self.retriever.vocab_dict]

    def ideal_score(self, query: str) -> float:
        """Upper bound of any passage's BM25 (Lucene variant) for `query`: the sum of its terms' IDFs.

        bm25s's Lucene term-frequency part tf / (tf + k1 * (...)) stays below 1, so a term adds at most
        its IDF. Document frequencies are read off the column pointers of the stored score matrix.
        """
        indptr = self.retriever.scores["indptr"]
        n = float(self.size)
        total = 0.0
        for t in self.terms(query):
            col = self.retriever.vocab_dict[t]
            df = float(indptr[col + 1] - indptr[col])
            total += math.log(1 + (n - df + 0.5) / (df + 0.5))
        return total

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for `query` (zeros where no term matches)."""
        tokens = self.terms(query)
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, k: int, subset: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score, best first; `subset` restricts the candidate ids."""
        return self.top(self.scores(query), k, subset)

    @staticmethod
    def top(scores: np.ndarray, k: int, subset: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (id, score) of a score array from `scores`, positive scores only, within `subset`."""
        if subset is not None:
            masked = np.zeros_like(scores)
            subset = np.asarray(subset, dtype=np.int64)
            masked[subset] = scores[subset]
            scores = masked
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(int(i), float(scores[i])) for i in top]
