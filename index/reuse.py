"""What a new generation can take from the live one: vectors of passages (and their sentences) whose
embedded text and model are unchanged, keyed by the passage hash."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout, sentences, store
from .embedder import Embedder
from .manifest import check_model, read_manifest

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
    def of(cls, index: Path, embedder: Embedder) -> Previous:
        """Read the live generation of `index` when the same model and backend built it; format 1
        generations (before sentence vectors) give their passage vectors."""
        live = layout.current_generation(index)
        if live is None:
            return cls()
        try:
            manifest = read_manifest(live, accept_older=True)
            check_model(manifest, live, embedder.name, embedder.sha256)
            if manifest.model.backend != embedder.backend:  # int8 vectors differ slightly from fp32
                raise ValueError(f"built with the {manifest.model.backend} backend")
            vectors = np.load(live / layout.VECTORS_FILE, mmap_mode="r")
            rows = store.PassageStore(live / layout.DB_FILE).hashes()
            table = (sentences.SentenceTable.load(live, len(vectors)) if manifest.sentences else None)
        except Exception as exc:  # an unusable old index only means nothing is reused
            log.info("not reusing vectors from %s: %s", live, exc)
            return cls()
        return cls({h: vectors[i] for i, h in rows}, {h: i for i, h in rows}, table)
