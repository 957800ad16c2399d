"""Sentence vectors, embedded at build time: the highlighter's and the ranking's second view of a passage.

Every passage of two or more sentences gets one vector per sentence, embedded with the passage's
lead-in context but not its statement heading (passages.statement_heading): the quote check compares a
bare quote with these vectors, and its lines were calibrated that way (with the heading, 3 of 10
paraphrased quotes were recognised instead of 6: docs/quality.md). They live beside the passage vectors:

    sentences.npy       float32 (sentences × dimension), memory-mapped when served
    sentence_spans.npy  int32 (sentences × 3): passage id, start, end (offsets in the passage text)

Rows are grouped by passage in id order, so a passage's sentences are one slice. A passage of one
sentence has no rows: its sentence *is* the passage (same text, same context, same vector).
float32, not float16: a query re-scores a few thousand candidate sentences, and NumPy's float16 →
float32 cast of those rows cost more than the rest of the re-scoring (bench: 3.5 → 1.25 ms per query,
a whole search 24.4 → 18.0 ms on SOTU). The file doubles (SOTU: 39 → 79 MB, on disk and in the shared
page cache). Generations written with float16 (earlier builds) are still read: rows are cast as used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from .dots import row_dots
from .passages import PassageDraft, indexed_text, sentence_spans

SENTENCES_FILE = "sentences.npy"
SPANS_FILE = "sentence_spans.npy"
DTYPE = np.float32


def passage_sentences(draft: PassageDraft) -> list[tuple[int, int]]:
    """Spans of a passage's sentences in its text; empty for a passage of one sentence."""
    spans = sentence_spans(draft.text)
    return spans if len(spans) >= 2 else []


def embed_texts(draft: PassageDraft, spans: list[tuple[int, int]]) -> list[str]:
    """What each sentence is embedded as: the passage's lead-in context, then the sentence."""
    return [indexed_text(draft.context, draft.text[a:b]) for a, b in spans]


class SentenceTable:
    """The sentence vectors and spans of one generation, by passage id."""

    def __init__(self, vectors: np.ndarray, spans: np.ndarray, passages: int):
        # Plain ndarray views of the memory maps: same shared pages, without np.memmap's per-index Python cost.
        self.vectors = np.asarray(vectors)
        self.spans = np.asarray(spans)
        # offsets[p]:offsets[p + 1] are passage p's rows
        self.offsets = np.searchsorted(np.asarray(spans[:, 0]), np.arange(passages + 1)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.spans)

    @classmethod
    def load(cls, directory: Path, passages: int, mmap: bool = True) -> SentenceTable:
        mode: Literal["r"] | None = "r" if mmap else None
        return cls(np.load(Path(directory) / SENTENCES_FILE, mmap_mode=mode),
                   np.load(Path(directory) / SPANS_FILE, mmap_mode=mode), passages)

    def rows(self, pid: int) -> slice:
        return slice(int(self.offsets[pid]), int(self.offsets[pid + 1]))

    def of(self, pid: int) -> tuple[list[tuple[int, int]], np.ndarray]:
        """(spans, float32 vectors) of one passage's sentences; both empty for a one-sentence passage."""
        rows = self.rows(pid)
        return ([(a, b) for _, a, b in self.spans[rows].tolist()],
                np.asarray(self.vectors[rows], dtype=np.float32))

    def best_cosines(self, pids: np.ndarray, questions: np.ndarray) -> np.ndarray:
        """Each passage's best sentence cosine to the question, -inf for a passage without sentence rows; for
        a (searches × dimension) matrix of questions, a (passages × searches) matrix (saved searches)."""
        pids = np.asarray(pids, dtype=np.int64)
        questions = np.asarray(questions, dtype=np.float32)
        starts, ends = self.offsets[pids], self.offsets[pids + 1]
        counts = ends - starts
        out = np.full((len(pids), *questions.shape[:-1]), -np.inf, dtype=np.float32)
        has = counts > 0
        if not has.any():
            return out
        starts, counts = starts[has], counts[has]
        # row indices of every sentence of every passage, passage by passage
        first = np.repeat(starts - np.cumsum(counts) + counts, counts)
        rows = first + np.arange(int(counts.sum()))
        if questions.ndim == 1:  # one question (every search): the rows are read in place
            sims = row_dots(self.vectors, rows, questions)
        else:
            sims = np.asarray(self.vectors[rows], dtype=np.float32) @ questions.T
        out[has] = np.maximum.reduceat(sims, np.concatenate(([0], np.cumsum(counts)[:-1])), axis=0)
        return out


def write(directory: Path, vectors: np.ndarray, spans: np.ndarray) -> None:
    """Store a generation's sentence vectors (as DTYPE) and spans."""
    np.save(Path(directory) / SENTENCES_FILE, np.asarray(vectors, dtype=DTYPE))
    np.save(Path(directory) / SPANS_FILE, np.asarray(spans, dtype=np.int32).reshape(-1, 3))
