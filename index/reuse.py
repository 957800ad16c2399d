"""What a new generation can take from the live one: vectors of passages (and their sentences) whose
embedded text and model are unchanged, keyed by the passage hash; and the embed-or-reuse step that
both a full build and a live addition run (`passage_vectors`, `sentence_vectors`)."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout, sentences, store
from .embedder import Embedder
from .manifest import check_compatible, read_manifest

log = logging.getLogger(__name__)


def passage_hash(model_sha: str, text: str) -> str:
    """The reuse key: sha256 of the model's weights sha256 and the embedded text."""
    return hashlib.sha256(f"{model_sha}\0{text}".encode()).hexdigest()


@dataclass
class Previous:
    """The live generation's vectors by passage hash (empty when there is none to reuse)."""

    passages: dict[str, np.ndarray] = field(default_factory=dict)
    _rows: dict[str, int] = field(default_factory=dict)
    _sentences: sentences.SentenceTable | None = None

    def sentence_vectors(self, passage_hash: str) -> np.ndarray | None:
        """The sentence vectors of the passage with this hash, or None when the live generation has none."""
        if self._sentences is None or passage_hash not in self._rows:
            return None
        return self._sentences.vectors[self._sentences.rows(self._rows[passage_hash])]

    @classmethod
    def of(cls, live: Path | None, embedder: Embedder) -> Previous:
        """Read the generation at `live` when the same model and backend built it (`check_compatible`:
        int8 vectors differ slightly from fp32 ones); format 1 generations (before sentence vectors)
        give their passage vectors. Anything unusable means nothing is reused."""
        if live is None:
            return cls()
        try:
            manifest = read_manifest(live, accept_older=True)
            check_compatible(manifest, live, embedder)
            vectors = np.load(live / layout.VECTORS_FILE, mmap_mode="r")
            passages = store.PassageStore(live / layout.DB_FILE)
            try:
                rows = passages.hashes()
            finally:
                passages.close()
            table = (sentences.SentenceTable.load(live, len(vectors)) if manifest.sentences else None)
        except Exception as exc:  # an unusable old index only means nothing is reused
            log.info("not reusing vectors from %s: %s", live, exc)
            return cls()
        return cls({h: vectors[i] for i, h in rows}, {h: i for i, h in rows}, table)

    @classmethod
    def of_hashes(cls, live: Path, known_rows: dict[str, int], with_sentences: bool) -> Previous:
        """The live generation's vectors of only the passages `known_rows` names ({hash: passage id}): what a
        live addition looks up (never the whole generation)."""
        vectors = np.load(live / layout.VECTORS_FILE, mmap_mode="r")
        table = sentences.SentenceTable.load(live, len(vectors)) if with_sentences else None
        return cls({h: vectors[r] for h, r in known_rows.items()}, dict(known_rows), table)


def passage_vectors(texts: list[str], hashes: list[str], embedder: Embedder, previous: Previous,
                    batch_size: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every passage's vector, reused by hash or embedded; and the positions of those embedded (the
    passages new to the index: their hash is not in `previous`), sorted."""
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo: list[int] = []
    for i, h in enumerate(hashes):
        if h in previous.passages:
            vectors[i] = previous.passages[h]
        else:
            todo.append(i)
    if todo:
        vectors[todo] = embedder.encode([texts[i] for i in todo], batch_size=batch_size, progress=progress)
    return vectors, np.asarray(todo, dtype=np.int64)


def sentence_vectors(spans: list[tuple[int, int, int]], texts: list[str], hashes: list[str], embedder: Embedder,
                     previous: Previous, batch_size: int, progress: bool) -> tuple[np.ndarray, int]:
    """Every sentence row's vector: a passage whose hash the live generation holds reuses its sentences;
    and how many sentences were embedded."""
    vectors = np.zeros((len(spans), embedder.dimension), dtype=np.float32)
    todo: list[int] = []
    row = 0
    while row < len(spans):
        pid = spans[row][0]
        end = row
        while end < len(spans) and spans[end][0] == pid:
            end += 1
        old = previous.sentence_vectors(hashes[pid])
        if old is not None and len(old) == end - row:
            vectors[row:end] = old
        else:
            todo.extend(range(row, end))
        row = end
    if todo:
        vectors[todo] = embedder.encode([texts[i] for i in todo], batch_size=batch_size, progress=progress)
    return vectors, len(todo)
