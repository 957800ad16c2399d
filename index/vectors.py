"""The vector index contract: FAISS is the implementation, brute-force NumPy the reference.

Vectors are L2-normalised float32, so the inner product *is* cosine similarity; every
implementation here ranks by inner product and never returns FAISS's -1 padding ids.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

FAISS_FILE = "index.faiss"


class VectorIndex(Protocol):
    dimension: int

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None
               ) -> list[list[tuple[int, float]]]:
        """Top-k (id, score) per query, best first; `subset` restricts the candidate ids."""


def _as_matrix(queries: np.ndarray, dimension: int) -> np.ndarray:
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if q.shape[1] != dimension:
        raise ValueError(f"query dimension {q.shape[1]} != index dimension {dimension}")
    return q


class NumpyIndex:
    """Exact search by matrix product: the reference FAISS is tested against."""

    def __init__(self, vectors: np.ndarray, ids: np.ndarray | None = None):
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.ids = np.arange(len(self.vectors), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        self.dimension = self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries, k, subset=None):
        q = _as_matrix(queries, self.dimension)
        vectors, ids = self.vectors, self.ids
        if subset is not None:
            keep = np.isin(ids, subset)
            vectors, ids = vectors[keep], ids[keep]
        scores = q @ vectors.T
        out = []
        for row in scores:
            top = np.argsort(-row, kind="stable")[:k]
            out.append([(int(ids[i]), float(row[i])) for i in top])
        return out


class FaissIndex:
    """A FAISS index whose ids are passage ids (IndexIDMap2 over the chosen index type)."""

    def __init__(self, index: faiss.Index):
        self.index = index
        self.dimension = index.d

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray) -> "FaissIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        if len(vectors):
            index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        return cls(index)

    def save(self, directory: Path) -> None:
        faiss.write_index(self.index, str(Path(directory) / FAISS_FILE))

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> "FaissIndex":
        path = str(Path(directory) / FAISS_FILE)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        return cls(faiss.read_index(path, flags))

    def search(self, queries, k, subset=None):
        q = _as_matrix(queries, self.dimension)
        k = min(k, len(self))
        if k <= 0:
            return [[] for _ in range(len(q))]
        params = None
        if subset is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(subset, dtype=np.int64)))
        scores, ids = self.index.search(q, k, params=params)
        return [[(int(i), float(s)) for s, i in zip(srow, irow) if i >= 0]
                for srow, irow in zip(scores, ids)]
