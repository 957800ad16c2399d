"""One index generation opened for reading: manifest, vector index, vectors, sentence vectors, BM25,
passages, metadata, and the question encoder that must match its vectors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import Embedder, make_embedder
from index.errors import IndexUnavailable
from index.integrity import verify_files
from index.keyword import KeywordIndex
from index.layout import DB_FILE, ENCODER_DIR
from index.manifest import Manifest, check_model, read_manifest
from index.sentences import SentenceTable
from index.store import PassageStore
from index.vectors import FaissIndex

from .filters import DocumentTable
from .settings import Settings


class Generation:
    """The files of one generation, opened read-only (memory-mapped where they can be)."""

    def __init__(self, directory: Path, exact_subset_max: int | None = None):
        self.path = Path(directory).resolve()  # pin the generation the link points at now
        self.manifest: Manifest = read_manifest(self.path)
        verify_files(self.path, self.manifest.files)  # sizes, and sha256 of the small files (index.integrity)
        try:
            limit: dict[str, Any] = {} if exact_subset_max is None else {"exact_subset_max": exact_subset_max}
            self.vector_index = FaissIndex.load(self.path, self.manifest.index, **limit)
            self.vectors = np.asarray(self.vector_index.matrix)  # vectors.npy, memory-mapped once (ndarray view)
            self.sentences = SentenceTable.load(self.path, len(self.vectors))
            self.keyword = KeywordIndex.load(self.path)
            self.store = PassageStore(self.path / DB_FILE)
            self.table = DocumentTable(self.store)
        except Exception as exc:
            raise IndexUnavailable(f"index {directory} is unreadable ({exc}); rebuild it",
                                   code="index_corrupt") from exc

    @property
    def generation(self) -> str:
        return self.manifest.generation

    @property
    def passages(self) -> int:
        return self.manifest.counts.passages

    def question_encoder(self, settings: Settings, given: Embedder | None = None) -> Embedder:
        """The encoder for questions: `given` when it is the model and backend that made these vectors,
        else the encoder this generation carries (ONNX builds), else the configured model (torch builds),
        refused with IndexUnavailable(model_mismatch) when its weights differ from the index's."""
        built = self.manifest.model
        if given is not None and given.sha256 == built.sha256 and given.backend == built.backend:
            return given
        encoder: Embedder
        if self.manifest.encoder:
            from index.onnx_backend import OnnxEmbedder

            encoder = OnnxEmbedder.from_directory(self.path / ENCODER_DIR, threads=settings.threads,
                                                  expect_sha256=self.manifest.encoder.get("sha256"))
        else:
            encoder = given if given is not None else make_embedder(built.backend, settings.model,
                                                                    settings.onnx_cache, settings.threads)
        check_model(self.manifest, self.path, encoder.name, encoder.sha256)
        return encoder

    def close(self) -> None:
        self.store.close()
