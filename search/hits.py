"""Assemble typed SearchHits for a page of ranked passages: text, best-sentence span, document, position."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from index.sentences import SentenceTable
from index.store import PassageStore

from .documents import document_info
from .highlight import best_span
from .types import Neighbour, SearchHit


def make_hits(store: PassageStore, sentences: SentenceTable, question: str, question_vector: np.ndarray,
              ranked: list[tuple[int, float]], neighbours: bool,
              more: Callable[[int, str], dict[str, Any]] | None = None) -> list[SearchHit]:
    """One SearchHit per ranked passage still in the store, in ranking order; `more(id, text)`: the search's
    own fields of the hit (weak, duplicates, matches...), set as it is made rather than replaced after."""
    rows = store.passages([pid for pid, _ in ranked])
    hits = []
    has_ocr = bool(rows) and "ocr" in next(iter(rows.values())).keys()  # generations before the column: no mark
    for pid, score in ranked:
        if pid not in rows:
            continue
        row = rows[pid]
        span = best_span(question, question_vector, row["text"], *sentences.of(pid))
        near: tuple[Neighbour, ...] = ()
        if neighbours:
            near = tuple(Neighbour(n["id"], n["ordinal"], n["text"])
                         for n in store.neighbours(row["doc_id"], row["ordinal"]))
        hits.append(SearchHit(id=pid, score=float(score), text=row["text"], context=row["context"],
                              highlight=span, document=document_info(row, id_key="doc_id"),
                              paragraph=row["ordinal"], of=row["n"], start=row["start"], end=row["end"],
                              neighbours=near, ocr_confidence=row["ocr"] if has_ocr else None,
                              language=_language(row), **(more(pid, row["text"]) if more else {})))
    return hits


def _language(row) -> str:
    """The passage's stored language; `und` in an index built before languages were stored."""
    return row["language"] if "language" in row.keys() else "und"
