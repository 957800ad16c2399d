"""The vector index contract: FAISS is the implementation, brute-force NumPy the reference.

Vectors are L2-normalised float32, so the inner product *is* cosine similarity; every
implementation here ranks by inner product and never returns FAISS's -1 padding ids.
Every FAISS type is built by `faiss.index_factory` from the factory string the manifest records,
and a filter of at most `exact_subset_max` ids is scored exactly from the generation's vectors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import faiss
import numpy as np

from . import threads
from .errors import SettingError
from .layout import TOMBSTONES_FILE, VECTORS_FILE  # row i is the vector of passage id i

FAISS_FILE = "index.faiss"
INDEX_TYPES = ("flat", "hnsw", "ivf", "ivfpq")
# Parameters chosen by bench/ann.py against flat on real questions up to 1M vectors: ivf/ivfpq recall@10
# >= 0.95; hnsw >= 0.98. HNSW at 1M (int8 SOTU vectors + generated ones, FAISS 1.15, 2026-12-04): built with
# efConstruction 80, efSearch 512 gave recall@10 0.918 (2048 needed for 0.995, 4.7 ms); efConstruction 200
# gives 0.9935 at efSearch 768 (2.3-2.8 ms; recall of the top 100 0.990) for a 2.4x longer build (452 s).
ANN_DEFAULTS: dict[str, dict] = {
    "hnsw": {"M": 32, "efConstruction": 200, "efSearch": 768},
    "ivf": {"nlist": 0, "nprobe": 32},  # nlist 0: about 4 sqrt(n)
    # OPQ rotation + IVF + m-byte PQ codes; the top `rerank` candidates are re-scored exactly.
    "ivfpq": {"nlist": 0, "m": 48, "nprobe": 32, "rerank": 200, "retrain_above": 1.25, "opq": None},
}
EXACT_SUBSET_MAX = 50_000  # default: a filter this narrow or narrower is scored exactly
# Passages above which index_type=auto builds ivfpq instead of hnsw: where HNSW's index file, which a
# replica needs in RAM (page cache) to search fast, reaches 8 GiB: 1,816 bytes/vector measured at 1M
# (M 32: the 1,536-byte float vector + the graph) x 5M = 9.1 GB = 8.5 GiB, against 63.2 bytes/vector
# for ivfpq (0.32 GB). Below it HNSW needs no training and builds 3x faster (docs/scale.md).
COMPRESSED_THRESHOLD = 5_000_000
TRAIN_PER_LIST = 64  # training sample: nlist * this many vectors (FAISS wants >= 39 per list)


@runtime_checkable
class VectorIndex(Protocol):
    """What search asks of a vector index (search/generation.py, search/ranking.py, search/verify.py).

    Ids are passage ids; vectors are L2-normalised, so scores are cosines. `FaissIndex` serves every
    generation (`load_vector_index` returns it as this contract); `NumpyIndex` is the exact reference.
    tests/test_vectors_contract.py runs one contract over every implementation and FAISS type."""

    dimension: int

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None
               ) -> list[list[tuple[int, float]]]:
        """Top-k (id, score) per query, best first; `subset` restricts the candidate ids."""
        ...

    def top(self, query: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`search` for one query as (int64 ids, float32 scores) arrays: a question's thousand candidates
        without a Python tuple each."""
        ...

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of passage `ids`, float32, in the order given (exact, never compressed codes)."""
        ...

    @property
    def matrix(self) -> np.ndarray:
        """Every stored vector by row; in a generation row i is passage id i (memory-mapped where it can be)."""
        ...


def _as_matrix(queries: np.ndarray, dimension: int) -> np.ndarray:
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if q.shape[1] != dimension:
        raise ValueError(f"query dimension {q.shape[1]} != index dimension {dimension}")
    return q


def _top(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    top = np.argsort(-scores, kind="stable")[:k]
    return ids[top], scores[top]


_NONE = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))  # no hits


def _pairs(ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, float]]:
    """(id, score) tuples of a `top` answer, as `search` gives them."""
    return list(zip(ids.tolist(), np.asarray(scores, dtype=np.float64).tolist()))


class _ArraySearch:
    """`search` and `top` of an index that answers each query as (ids, scores) arrays (`_search`)."""

    def _search(self, queries: np.ndarray, k: int, subset: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def search(self, queries: np.ndarray, k: int, subset: np.ndarray | None = None
               ) -> list[list[tuple[int, float]]]:
        return [_pairs(*top) for top in self._search(queries, k, subset)]

    def top(self, query: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._search(query, k, subset)[0]


class NumpyIndex(_ArraySearch):
    """Exact search by matrix product: the reference FAISS is tested against."""

    def __init__(self, vectors: np.ndarray, ids: np.ndarray | None = None):
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.ids = np.arange(len(self.vectors), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        self.dimension = self.vectors.shape[1]
        self._order = np.argsort(self.ids, kind="stable")

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def matrix(self) -> np.ndarray:
        return self.vectors

    def rows(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        return self.vectors[self._order[np.searchsorted(self.ids[self._order], ids)]]

    def _search(self, queries: np.ndarray, k: int, subset: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        q = _as_matrix(queries, self.dimension)
        vectors, ids = self.vectors, self.ids
        if subset is not None:
            keep = np.isin(ids, subset)
            vectors, ids = vectors[keep], ids[keep]
        return [_top(row, ids, k) for row in q @ vectors.T]


def default_nlist(n: int) -> int:
    """About 4 sqrt(n) lists, with at least 39 training vectors per list."""
    return max(1, min(n // 39, int(4 * np.sqrt(max(n, 1)))))


def factory_string(kind: str, n: int, d: int, params: dict) -> tuple[str, dict]:
    """The faiss.index_factory string for `kind` over `n` vectors, and the params it fixed."""
    if kind not in INDEX_TYPES:
        raise ValueError(f"index type must be one of {', '.join(INDEX_TYPES)}, got {kind!r}")
    params = {**ANN_DEFAULTS.get(kind, {}), **(params or {})}
    if kind == "flat":
        return "IDMap2,Flat", params
    if kind == "hnsw":
        return f"IDMap2,HNSW{int(params['M'])},Flat", params
    params["nlist"] = int(params.get("nlist") or default_nlist(n))
    if kind == "ivf":  # IVF stores passage ids itself: no IDMap2 (and its reverse map) needed
        return f"IVF{params['nlist']},Flat", params
    m = next(m for m in range(min(int(params["m"]), d), 0, -1) if d % m == 0)  # m must divide d
    params["m"] = m
    # 8-bit codes want 256 * 39 training vectors; a small corpus gets fewer bits per code.
    params["nbits"] = int(params.get("nbits") or max(1, min(8, int(np.log2(max(n, 78) / 39)))))
    if params.get("opq") is None:  # OPQ trains its own 8-bit codebooks: 256 * 39 vectors or more
        params["opq"] = n >= 256 * 39
    opq = f"OPQ{m}," if params["opq"] else ""
    return f"{opq}IVF{params['nlist']},PQ{m}x{params['nbits']}", params


def _ivf(index: faiss.Index):
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


class FaissIndex(_ArraySearch):
    """A FAISS index whose ids are passage ids: flat (exact), hnsw, ivf or ivfpq (approximate).

    `spec()` is the manifest's "index" block and `load(directory, spec)` needs nothing else. A filter
    of at most `exact_subset_max` ids is scored exactly from `matrix` (the generation's vectors,
    memory-mapped); a wider one goes through a FAISS IDSelector. ivfpq candidates are re-scored
    exactly from `matrix`, so its scores are true cosines.
    """

    def __init__(self, index: faiss.Index, kind: str, factory: str, params: dict, matrix: np.ndarray,
                 row_ids: tuple[np.ndarray, np.ndarray] | None = None, exact_subset_max: int = EXACT_SUBSET_MAX,
                 removed: np.ndarray | None = None):
        self.index = index
        self.dimension = index.d
        self.kind = kind
        self.factory = factory
        self.params = dict(params)
        self.matrix = matrix  # vectors by row; row = passage id unless row_ids says otherwise
        self.row_ids = row_ids  # sorted ids with their rows, when ids are not row numbers
        self.exact_subset_max = exact_subset_max
        self._apply_params()
        self.set_removed(removed)

    def set_removed(self, removed: np.ndarray | None) -> None:
        """Ids still in the FAISS index whose passages were removed (tombstones): never returned.

        HNSW cannot delete, and keeping flat's ids too keeps one rule for every type: an unfiltered
        search excludes them through an IDSelectorNot, a subset is cut to the live ids first."""
        self.removed = np.unique(np.asarray(removed if removed is not None else [], dtype=np.int64))
        self._alive = None
        self._not_removed = None
        if len(self.removed):
            self._alive = np.ones(max(int(self.index.ntotal), int(self.removed[-1]) + 1), dtype=bool)
            self._alive[self.removed] = False
            batch = faiss.IDSelectorBatch(self.removed)
            self._not_removed = (batch, faiss.IDSelectorNot(batch))  # keep the wrapped selector alive

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray | None = None, kind: str = "flat",
              params: dict | None = None, trained: FaissIndex | None = None) -> FaissIndex:
        """Index `vectors` under `ids` (default: row numbers); `trained` reuses a trained ivf/ivfpq."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        n, d = vectors.shape
        if trained is not None and trained.kind == kind and trained.dimension == d and trained.trained:
            factory, params = trained.factory, {**trained.params, **(params or {})}
            index = faiss.clone_index(trained.index)
            index.reset()  # keeps the centres and codebooks, drops the lists
            params.update(added=0, added_gap=0.0)
        else:
            factory, params = factory_string(kind, n, d, params or {})
            index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
            if kind == "hnsw":
                faiss.downcast_index(index.index).hnsw.efConstruction = int(params["efConstruction"])
            if not index.is_trained and n:
                sample = vectors[np.random.default_rng(0).permutation(n)[:params["nlist"] * TRAIN_PER_LIST]]
                index.train(sample)
                params.update(trained_on=len(sample), train_gap=_coarse_gap(index, sample), added=0,
                              added_gap=0.0)
        rows = None if np.array_equal(ids, np.arange(n)) else _row_lookup(ids)
        built = cls(index, kind, factory, params, vectors, rows)
        built.add(vectors, ids, _keep_matrix=True)
        return built

    @property
    def trained(self) -> bool:
        return bool(self.index.is_trained) and "trained_on" in self.params

    def add(self, vectors: np.ndarray, ids: np.ndarray, _keep_matrix: bool = False) -> None:
        """Add vectors under `ids` to the trained index (no retraining); track drift for ivf types."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not len(vectors):
            return
        if not self.index.is_trained:
            raise ValueError(f"{self.kind} index is not trained: build it from a sample first")
        ids = np.asarray(ids, dtype=np.int64)
        if "trained_on" in self.params:  # running mean of the added vectors' distance to their list
            added = int(self.params["added"])
            gap = _coarse_gap(self.index, vectors)
            self.params["added_gap"] = (self.params["added_gap"] * added + gap * len(vectors)) / (added + len(vectors))
            self.params["added"] = added + len(vectors)
        self.index.add_with_ids(vectors, ids)
        if not _keep_matrix:  # an index that grows in memory keeps its own copy of the vectors
            old = self.matrix if self.row_ids is None else self.matrix[self.row_ids[1]]
            old_ids = np.arange(len(old)) if self.row_ids is None else self.row_ids[0]
            all_ids = np.concatenate([old_ids, ids])
            self.matrix = np.concatenate([np.asarray(old, np.float32), vectors])
            self.row_ids = None if np.array_equal(all_ids, np.arange(len(all_ids))) else _row_lookup(all_ids)

    @property
    def drift(self) -> float:
        """Mean distance of added vectors to their list centre over that of the training sample (ivf types)."""
        if not self.params.get("added") or not self.params.get("train_gap"):
            return 1.0
        return float(self.params["added_gap"] / self.params["train_gap"])

    @property
    def needs_retrain(self) -> bool:
        """True when the added vectors fit the trained lists worse than `retrain_above` allows."""
        return "trained_on" in self.params and self.drift > float(self.params.get("retrain_above", 1.25))

    def spec(self) -> dict:
        """The manifest's "index" block: all `load` needs."""
        params = dict(self.params)
        if "trained_on" in params:
            params["drift"] = round(self.drift, 4)
        spec = {"type": self.kind, "factory": self.factory, "params": params, "file": FAISS_FILE}
        if len(self.removed):
            spec["tombstones"] = {"file": TOMBSTONES_FILE, "count": int(len(self.removed))}
        return spec

    def save(self, directory: Path) -> None:
        faiss.write_index(self.index, str(Path(directory) / FAISS_FILE))
        if len(self.removed):
            np.save(Path(directory) / TOMBSTONES_FILE, self.removed)

    @classmethod
    def load(cls, directory: Path, spec: dict, exact_subset_max: int = EXACT_SUBSET_MAX,
             mmap: bool = True) -> FaissIndex:
        """Read the index file of `spec` and memory-map `vectors.npy`; read-only so processes share pages."""
        directory = Path(directory)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(directory / spec.get("file", FAISS_FILE)), flags)
        matrix = np.load(directory / VECTORS_FILE, mmap_mode="r")
        if len(matrix) != index.ntotal or matrix.shape[1] != index.d:
            raise ValueError(f"{directory}: {VECTORS_FILE} holds {matrix.shape} but the index "
                             f"{index.ntotal} x {index.d} vectors")
        if mmap:
            stored = stored_vectors(index)
            matrix = matrix if stored is None else stored
        params = {k: v for k, v in spec.get("params", {}).items() if k != "drift"}
        removed = None
        if spec.get("tombstones"):
            removed = np.load(directory / spec["tombstones"].get("file", TOMBSTONES_FILE))
        return cls(index, spec["type"], spec["factory"], params, matrix, None, exact_subset_max, removed)

    def _apply_params(self) -> None:
        ivf = _ivf(self.index)
        if self.kind == "hnsw" and "efSearch" in self.params:
            faiss.downcast_index(self.index.index).hnsw.efSearch = int(self.params["efSearch"])
        if ivf is not None and "nprobe" in self.params:
            ivf.nprobe = int(self.params["nprobe"])

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of passage `ids`, float32."""
        if self.row_ids is not None:
            ids = self.row_ids[1][np.searchsorted(self.row_ids[0], ids)]
        return np.asarray(self.matrix[ids], dtype=np.float32)

    def _exact(self, q: np.ndarray, k: int, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if len(ids) == 0:
            return [_NONE for _ in range(len(q))]
        return [_top(row, ids, k) for row in q @ self.rows(ids).T]

    def _params(self, subset: np.ndarray | None) -> faiss.SearchParameters | None:
        if subset is None and self._not_removed is None:
            return None
        if subset is not None:
            selector = faiss.IDSelectorBatch(subset)
        elif self._not_removed is not None:
            selector = self._not_removed[1]
        else:
            return None
        if self.kind == "hnsw":  # a wider walk keeps recall when the filter drops candidates
            share = max((len(subset) if subset is not None else len(self) - len(self.removed)) / len(self), 1e-3)
            return faiss.SearchParametersHNSW(sel=selector, efSearch=int(min(4096, self.params["efSearch"] / share)))
        if self.kind in ("ivf", "ivfpq"):
            return faiss.SearchParametersIVF(sel=selector, nprobe=int(self.params["nprobe"]))
        return faiss.SearchParameters(sel=selector)

    def _search(self, queries: np.ndarray, k: int, subset: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        q = _as_matrix(queries, self.dimension)
        k = min(k, len(self))
        threads.apply()  # this thread's OpenMP limit (index/threads.py)
        if k <= 0:
            return [_NONE for _ in range(len(q))]
        if subset is not None:
            subset = np.asarray(subset, dtype=np.int64)
            if self._alive is not None:  # tombstones never come back, even when a caller's subset names them
                subset = subset[self._alive[np.clip(subset, 0, len(self._alive) - 1)]]
            if len(subset) <= self.exact_subset_max:
                return self._exact(q, k, subset)
        depth = min(len(self), max(k, int(self.params.get("rerank", 0))))
        index, params = self.index, self._params(subset)
        if isinstance(index, faiss.IndexPreTransform) and params is not None:  # to the IVF inside the OPQ
            params = faiss.SearchParametersPreTransform(index_params=params)
        scores, ids = index.search(q, depth, params=params)
        if self.kind != "ivfpq":
            return [(irow[irow >= 0][:k], srow[irow >= 0][:k]) for srow, irow in zip(scores, ids)]
        return [self._exact(q[j:j + 1], k, irow[irow >= 0])[0] for j, irow in enumerate(ids)]


def load_vector_index(directory: Path, spec: dict, exact_subset_max: int = EXACT_SUBSET_MAX) -> VectorIndex:
    """A generation's vector index for searching, as the contract: the manifest's `index` block says which
    FAISS type; the file and vectors are memory-mapped read-only so processes share pages."""
    return FaissIndex.load(directory, spec, exact_subset_max=exact_subset_max)


def stored_vectors(index: faiss.Index) -> np.ndarray | None:
    """A read-only view of the exact vectors a memory-mapped flat or HNSW index stores, by passage id;
    None when it stores none (ivf, ivfpq) or its rows are not passage ids in order.

    Flat and HNSW keep every float32 vector in index.faiss, the same numbers as vectors.npy. Reading
    candidates' vectors through this view instead of vectors.npy means one copy of the vectors in
    memory rather than two (SOTU: 30 MB less resident per worker; at 1M vectors, 1.5 GB).
    """
    if not isinstance(index, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    if not isinstance(inner, faiss.IndexFlat) or inner.ntotal != index.ntotal or inner.ntotal == 0:
        return None
    if not np.array_equal(faiss.vector_to_array(index.id_map), np.arange(index.ntotal, dtype=np.int64)):
        return None
    return np.asarray(_Borrowed(index, int(inner.get_xb()), (int(inner.ntotal), int(inner.d))))


class _Borrowed:
    """Exposes FAISS-owned float32 memory to NumPy read-only, holding the index so the array never outlives it."""

    def __init__(self, owner: faiss.Index, address: int, shape: tuple[int, int]):
        self.owner = owner
        self.__array_interface__ = {"data": (address, True), "shape": shape, "typestr": "<f4", "version": 3}


def _row_lookup(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ids, kind="stable")
    return ids[order], order


def _coarse_gap(index: faiss.Index, vectors: np.ndarray) -> float:
    """Mean 1 - cosine of `vectors` to their nearest IVF centre (after the OPQ rotation, if any)."""
    ivf = _ivf(index)
    if ivf is None or not len(vectors):
        return 0.0
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if isinstance(index, faiss.IndexPreTransform):
        for i in range(index.chain.size()):
            x = faiss.downcast_VectorTransform(index.chain.at(i)).apply(x)
    scores, _ = ivf.quantizer.search(x, 1)
    return float(np.mean(1.0 - scores[:, 0]))


def choose_index_type(setting: str, passages: int, threshold: int,
                      compressed_threshold: int = COMPRESSED_THRESHOLD) -> str:
    """The index type for `passages`: `auto` is flat up to `threshold`, hnsw up to `compressed_threshold`,
    ivfpq above."""
    if setting == "auto":
        if compressed_threshold and passages > compressed_threshold:
            return "ivfpq"
        return "hnsw" if passages > threshold else "flat"
    if setting not in INDEX_TYPES:
        raise SettingError(f"index_type must be auto or one of {', '.join(INDEX_TYPES)}, got {setting!r}")
    return setting
