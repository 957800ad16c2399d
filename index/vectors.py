"""The vector index contract: FAISS is the implementation, brute-force NumPy the reference.

Vectors are L2-normalised float32, so the inner product *is* cosine similarity; every
implementation here ranks by inner product and never returns FAISS's -1 padding ids.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from .errors import SettingError as SearchError

FAISS_FILE = "index.faiss"
INDEX_TYPES = ("flat", "hnsw", "ivf")
# Parameters chosen by bench/ann.py: recall@10 >= 0.98 against flat on real questions up to 1M vectors.
ANN_DEFAULTS: dict[str, dict] = {
    "hnsw": {"M": 32, "efConstruction": 80, "efSearch": 256},
    "ivf": {"nlist": 0, "nprobe": 32},  # nlist 0: about 4 sqrt(n)
}
EXACT_SUBSET = 20_000  # a filter this narrow or narrower is searched exactly over its own vectors


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
    """A FAISS index whose ids are passage ids (IndexIDMap2 over flat, HNSW or IVF).

    flat is exact. hnsw and ivf are approximate; their search breadth (efSearch / nprobe) is stored
    in `params` and recorded in the manifest. A narrow `subset` (a filter) is searched exactly over the
    subset's own vectors, since a graph or list walk that skips most candidates loses recall.
    """

    def __init__(self, index: faiss.Index, kind: str = "flat", params: dict | None = None):
        self.index = index
        self.dimension = index.d
        self.kind = kind
        self.params = dict(params or {})

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, kind: str = "flat",
              params: dict | None = None) -> "FaissIndex":
        """Index `vectors` under `ids`; `kind` is flat, hnsw or ivf (see ANN_DEFAULTS for params)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if kind not in INDEX_TYPES:
            raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}, got {kind!r}")
        d = vectors.shape[1]
        params = {**ANN_DEFAULTS.get(kind, {}), **(params or {})}
        if kind == "flat":
            inner = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            inner = faiss.IndexHNSWFlat(d, int(params["M"]), faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = int(params["efConstruction"])
            inner.hnsw.efSearch = int(params["efSearch"])
        else:  # ivf: nlist ~ 4 sqrt(n), trained on a sample
            nlist = int(params.get("nlist") or max(1, min(len(vectors) // 39, int(4 * np.sqrt(max(len(vectors), 1))))))
            params["nlist"] = nlist
            inner = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            if len(vectors):
                sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:nlist * 64]]
                inner.train(sample)
            inner.nprobe = int(params["nprobe"])
            inner.make_direct_map()  # lets a narrow filter reconstruct its vectors by id
        index = faiss.IndexIDMap2(inner)
        if len(vectors):
            index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        return cls(index, kind, params)

    def save(self, directory: Path) -> None:
        faiss.write_index(self.index, str(Path(directory) / FAISS_FILE))

    @classmethod
    def load(cls, directory: Path, mmap: bool = True, kind: str = "flat",
             params: dict | None = None) -> "FaissIndex":
        """Read `index.faiss`; memory-mapped read-only by default so worker processes share the pages."""
        path = str(Path(directory) / FAISS_FILE)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = cls(faiss.read_index(path, flags), kind, params)
        index._apply_params()
        return index

    def _inner(self) -> faiss.Index:
        return faiss.downcast_index(self.index.index) if hasattr(self.index, "index") else self.index

    def _apply_params(self) -> None:
        inner = self._inner()
        if self.kind == "hnsw" and "efSearch" in self.params:
            inner.hnsw.efSearch = int(self.params["efSearch"])
        if self.kind == "ivf" and "nprobe" in self.params:
            inner.nprobe = int(self.params["nprobe"])

    def _exact_subset(self, q: np.ndarray, k: int, subset: np.ndarray) -> list[list[tuple[int, float]]]:
        subset = np.unique(np.asarray(subset, dtype=np.int64))
        if len(subset) == 0:
            return [[] for _ in range(len(q))]
        vectors = self.index.reconstruct_batch(subset)  # IDMap2 maps passage ids to rows
        return NumpyIndex(vectors, subset).search(q, k)

    def search(self, queries, k, subset=None):
        q = _as_matrix(queries, self.dimension)
        k = min(k, len(self))
        if k <= 0:
            return [[] for _ in range(len(q))]
        params = None
        if subset is not None:
            subset = np.asarray(subset, dtype=np.int64)
            if self.kind != "flat" and len(subset) <= EXACT_SUBSET:
                return self._exact_subset(q, k, subset)
            selector = faiss.IDSelectorBatch(subset)
            if self.kind == "hnsw":  # a wider walk keeps recall when the filter drops candidates
                share = max(len(subset) / len(self), 1e-3)
                params = faiss.SearchParametersHNSW(
                    sel=selector, efSearch=int(min(4096, self.params.get("efSearch", 64) / share)))
            elif self.kind == "ivf":
                params = faiss.SearchParametersIVF(sel=selector, nprobe=int(self.params.get("nprobe", 16)))
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, ids = self.index.search(q, k, params=params)
        return [[(int(i), float(s)) for s, i in zip(srow, irow) if i >= 0]
                for srow, irow in zip(scores, ids)]


def choose_index_type(setting: str, passages: int, threshold: int) -> str:
    """flat, hnsw or ivf for a corpus of `passages`: `auto` is exact up to `threshold`, hnsw above."""
    if setting == "auto":
        return "hnsw" if passages > threshold else "flat"
    if setting not in INDEX_TYPES:
        raise SearchError(f"index_type must be auto or one of {', '.join(INDEX_TYPES)}, got {setting!r}",
                          code="bad_setting")
    return setting
