"""Load an index directory once and answer questions with typed, ranked hits."""
from __future__ import annotations

import dataclasses
import re
import time
from collections import OrderedDict
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from index.build import DB_FILE, VECTORS_FILE
from index.keyword import KeywordIndex
from index.embedder import make_embedder
from index.manifest import check_model, read_manifest
from index.store import PassageStore, extra_of
from index.vectors import FaissIndex

from .filters import DocumentTable, validate_sort
from .errors import IndexUnavailable, NotFound, SearchError
from .fusion import fuse, rrf
from .highlight import best_spans
from .settings import Settings
from .types import DocumentInfo, Filters, Neighbour, SearchHit, SearchResponse
from .weak import weak_line


MODES = ("hybrid", "vector", "keyword")


def validate_mode(mode: Any) -> str:
    if mode not in MODES:
        raise SearchError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", code="invalid_mode")
    return mode


def validate(settings: Settings, query: Any, k: Any, offset: Any) -> tuple[str, int, int]:
    """Check a request at the edge; raise SearchError with a message a user can act on."""
    if not isinstance(query, str):
        raise SearchError("q must be a string", code="invalid_query")
    query = query.strip()
    if not query:
        raise SearchError("q is empty: type a question", code="invalid_query")
    if len(query) > settings.max_query_chars:
        raise SearchError(f"q is {len(query)} characters long; the limit is {settings.max_query_chars}",
                          code="query_too_long")
    k = _integer("k", k, 1, settings.max_k)
    offset = _integer("offset", offset, 0, settings.max_offset)
    return query, k, offset


def _integer(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SearchError(f"{name} must be an integer between {low} and {high}", code=f"invalid_{name}")
    try:
        number = int(value)
    except ValueError:
        raise SearchError(f"{name} must be an integer between {low} and {high}, got {value!r}",
                          code=f"invalid_{name}") from None
    if not low <= number <= high:
        raise SearchError(f"{name} must be between {low} and {high}, got {number}", code=f"invalid_{name}")
    return number


class QueryCache:
    """LRU cache of embeddings: of questions, and of the sentences of passages shown."""

    def __init__(self, size: int = 1024):
        self.size, self._data, self._lock = size, OrderedDict(), Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class Searcher:
    """One loaded index generation: vectors, passages and the model that must match them."""

    def __init__(self, directory: Path, settings: Settings, embedder: Any | None = None):
        self.settings = settings
        self.path = Path(directory).resolve()  # pin the generation the link points at now
        self.manifest = read_manifest(self.path)
        self.embedder = embedder if embedder is not None else make_embedder(settings)
        check_model(self.manifest, Path(directory), settings.model, self.embedder.sha256)
        try:
            spec = self.manifest.get("index", {})
            self.vectors = FaissIndex.load(self.path, spec, self.settings.exact_subset_max)
            self.matrix = np.load(self.path / VECTORS_FILE, mmap_mode="r")
            self.keyword = KeywordIndex.load(self.path)
            self.store = PassageStore(self.path / DB_FILE)
            self.table = DocumentTable(self.store.conn)
        except Exception as exc:
            raise IndexUnavailable(f"index {directory} is unreadable ({exc}); rebuild it",
                                   code="index_corrupt") from exc
        self.generation: str = self.manifest["generation"]
        self.passages: int = int(self.manifest["counts"]["passages"])
        self.cache = QueryCache()
        self.sentence_cache = QueryCache(4096)  # passage id -> its sentence vectors, for highlighting

    @property
    def weak_line(self) -> float:
        """The cosine below which a hit is weak, for this index and the current settings (search/weak.py)."""
        return weak_line(self.manifest, self.settings.weak_below, self.settings.weak_quantile)

    @classmethod
    def load(cls, settings: Settings, embedder: Any | None = None) -> "Searcher":
        return cls(settings.index, settings, embedder)

    def embed_query(self, query: str) -> np.ndarray:
        vector = self.cache.get(query)
        if vector is None:
            vector = self.embedder.encode([query])[0]
            self.cache.put(query, vector)
        return vector

    def search(self, query: Any, k: Any = None, offset: Any = 0, neighbours: bool = False,
               mode: str | None = None, filters: Filters | None = None, sort: str = "relevance") -> SearchResponse:
        """Ranked passages for `query`: hits offset..offset+k, best first (or by date among the relevant)."""
        began = time.perf_counter()
        query, k, offset = validate(self.settings, query, self.settings.default_k if k is None else k, offset)
        mode = validate_mode(mode or self.settings.mode)
        sort = validate_sort(sort)
        filters = filters or Filters()
        subset, undated = self.table.subset(filters) if filters else (None, 0)
        q = self.embed_query(query)
        # Rank deep enough for facets and date sorting over all relevant matches, not just this page.
        ranked = self.rank(query, q, max(k + offset, self.settings.facet_depth), mode, subset)
        ranked, copies = self.collapse_duplicates(ranked, k + offset if sort == "relevance" else None)
        weak_ids = {pid for (pid, _), weak in zip(ranked, self.weak_flags(query, q, ranked, mode)) if weak}
        relevant = [(pid, score) for pid, score in ranked if pid not in weak_ids]
        if sort != "relevance":
            # Date order among the relevant matches; ties keep relevance order; undated go last.
            dates = dict(zip((pid for pid, _ in relevant), self.table.dates([pid for pid, _ in relevant])))
            dated = sorted((h for h in relevant if dates[h[0]]), key=lambda h: dates[h[0]], reverse=sort == "newest")
            ranked = dated + [h for h in relevant if not dates[h[0]]]
        page = ranked[offset:offset + k]
        hits = [dataclasses.replace(h, weak=h.id in weak_ids, duplicates=copies.get(h.id, ()))
                for h in self._hits(query, q, page, neighbours)]
        return SearchResponse(query=query, hits=tuple(hits), took_ms=(time.perf_counter() - began) * 1000,
                              generation=self.generation, passages=self.passages, k=k, offset=offset,
                              mode=mode, filters=filters, sort=sort,
                              facets=self.table.facets(pid for pid, _ in relevant), undated_excluded=undated)

    def weak_flags(self, query: str, q: np.ndarray, ranked: list[tuple[int, float]], mode: str) -> list[bool]:
        """Which ranked passages fall below the calibrated "no strong match" line.

        The line is on the cosine between question and passage in every mode: fused and BM25
        scores are relative to the question, cosine is on one scale (see docs/quality.md).
        """
        if not ranked:
            return []
        cos = np.asarray(self.matrix[[pid for pid, _ in ranked]], dtype=np.float32) @ q
        return (cos < self.weak_line).tolist()

    def collapse_duplicates(self, ranked: list[tuple[int, float]], need: int | None = None,
                            ) -> tuple[list[tuple[int, float]], dict[int, tuple[DocumentInfo, ...]]]:
        """Keep the best-ranked copy of each paragraph text; map its id to the other statements carrying it.

        With `need`, only the head of the ranking that yields `need` distinct paragraphs (plus a
        margin) is collapsed: normalising a thousand texts per question costs tens of milliseconds.
        """
        limit = len(ranked) if need is None else min(len(ranked), need + DUPLICATE_MARGIN)
        while True:
            kept, copies = self._collapse(ranked[:limit])
            if need is None or len(kept) >= need or limit >= len(ranked):
                return kept + ranked[limit:], copies
            limit = min(len(ranked), limit * 2)

    def _collapse(self, ranked: list[tuple[int, float]]) -> tuple[list[tuple[int, float]],
                                                                  dict[int, tuple[DocumentInfo, ...]]]:
        if len(ranked) < 2:
            return ranked, {}
        ids = [pid for pid, _ in ranked]
        rows = {r[0]: r for r in self.store.conn.execute(
            f"SELECT id, doc_id, text FROM passages WHERE id IN ({','.join('?' * len(ids))})", ids)}
        kept: list[tuple[int, float]] = []
        first: dict[str, int] = {}
        others: dict[int, dict[str, int]] = {}  # keeper -> {other statement: one of its passage ids}
        for pid, score in ranked:
            if pid not in rows:
                continue
            key = paragraph_key(rows[pid][2])
            keeper = first.setdefault(key, pid)
            if keeper == pid:
                kept.append((pid, score))
            elif rows[pid][1] != rows[keeper][1]:
                others.setdefault(keeper, {}).setdefault(rows[pid][1], pid)
        if not others:
            return kept, {}
        info = self.store.passages([p for docs in others.values() for p in docs.values()])
        return kept, {keeper: tuple(document_info(info[p], id_key="doc_id") for p in docs.values())
                      for keeper, docs in others.items()}

    def rank(self, query: str, q: np.ndarray, depth: int, mode: str,
             subset: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The top `depth` (passage id, score) for one question in one mode, within `subset` if given.

        The subset restricts candidates inside both halves, so a narrow filter still yields
        `depth` results whenever that many passages match it.
        """
        if subset is not None and len(subset) == 0:
            return []
        if mode == "keyword":
            return self.keyword.search(query, depth, subset)
        n = depth if mode == "vector" else max(depth, self.settings.candidates)
        vec = self._vector_search(q, n, subset)
        if mode == "vector":
            return vec
        all_bm25 = self.keyword.scores(query)  # once per question: ranks the keyword half and scores candidates
        kw = self.keyword.top(all_bm25, n, subset)
        if self.settings.fusion == "rrf":
            return rrf([vec, kw])[:depth]
        # Score both sides exactly for every candidate either side found.
        ids = sorted({pid for pid, _ in vec} | {pid for pid, _ in kw})
        cos = np.asarray(self.matrix[ids], dtype=np.float32) @ q
        bm25 = all_bm25[ids]
        ideal = 0.0
        if self.settings.fusion == "adaptive":
            ideal = self.keyword.ideal_score(query)
        return fuse(self.settings.fusion, list(zip(ids, cos.tolist())), list(zip(ids, bm25.tolist())),
                    self.settings.hybrid_weight, ideal, self.settings.keyword_gate)[:depth]

    def _vector_search(self, q: np.ndarray, n: int, subset: np.ndarray | None) -> list[tuple[int, float]]:
        return self.vectors.search(q, n, subset)[0]

    def _hits(self, query: str, q: np.ndarray, ranked: list[tuple[int, float]],
              neighbours: bool) -> list[SearchHit]:
        rows = self.store.passages([pid for pid, _ in ranked])
        ranked = [(pid, score) for pid, score in ranked if pid in rows]
        spans = best_spans(query, q, [rows[pid]["text"] for pid, _ in ranked], self.embedder.encode,
                           keys=[pid for pid, _ in ranked], cache=self.sentence_cache)
        hits = []
        for (pid, score), span in zip(ranked, spans):
            row = rows[pid]
            near = ()
            if neighbours:
                near = tuple(Neighbour(n["id"], n["ordinal"], n["text"])
                             for n in self.store.neighbours(row["doc_id"], row["ordinal"]))
            hits.append(SearchHit(id=pid, score=float(score), text=row["text"], context=row["context"],
                                  highlight=span, document=document_info(row, id_key="doc_id"),
                                  paragraph=row["ordinal"], of=row["n"], start=row["start"], end=row["end"],
                                  neighbours=near))
        return hits

    def document(self, doc_id: str) -> dict[str, Any]:
        """A statement's metadata, full text and passages; NotFound for an unknown id."""
        row = self.store.document(doc_id)
        if row is None:
            raise NotFound(f"no document with id {doc_id!r}", code="document_not_found")
        info = document_info(row)
        return {"document": {**info.to_dict(), "extra": info.extra}, "text": row["text"],
                "passages": [{"id": p["id"], "paragraph": p["ordinal"], "start": p["start"], "end": p["end"],
                              "context": p["context"], "text": p["text"]} for p in self.store.document_passages(doc_id)]}

    def stats(self) -> dict[str, Any]:
        m = self.manifest
        return {"generation": self.generation, "documents": m["counts"]["documents"], "passages": self.passages,
                "model": m["model"], "dimension": m["dimension"], "index": m["index"], "built_at": m["built_at"],
                "weak_line": round(self.weak_line, 4)}


_NOT_WORD = re.compile(r"[\W_]+")
DUPLICATE_MARGIN = 50  # extra ranked passages collapsed beyond the page, to fill it after removals


def paragraph_key(text: str) -> str:
    """The same paragraph despite case, punctuation, quote style and spacing."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def document_info(row, id_key: str = "id") -> DocumentInfo:
    return DocumentInfo(id=row[id_key], title=row["title"], speaker=row["speaker"], date=row["date"],
                        source=row["source"], extra=extra_of(row))

