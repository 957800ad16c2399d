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
from index.manifest import Manifest, check_compatible, read_manifest
from index.sentences import SentenceTable
from index.store import PassageStore
from index.vectors import VectorIndex, load_vector_index

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
            self.vector_index: VectorIndex = load_vector_index(self.path, self.manifest.index, **limit)
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
        """This generation's question encoder (`question_encoder` below)."""
        return question_encoder(self.manifest, self.path, settings, given)

    def close(self) -> None:
        self.store.close()


def question_encoder(manifest: Manifest, path: Path, settings: Settings, given: Embedder | None = None) -> Embedder:
    """The encoder for questions of the generation at `path`: `given` when it is the model and backend that
    made its vectors, else the encoder the generation carries (ONNX builds), else the configured model under
    the generation's backend (torch builds); whichever it is passes `check_compatible`, or
    IndexUnavailable(model_mismatch)."""
    if given is not None:
        try:
            check_compatible(manifest, path, given)
            return given
        except IndexUnavailable:
            if given.sha256 != manifest.model.sha256 and not manifest.encoder:
                raise  # other weights, and no encoder of its own: the configured model cannot serve it
            # another runtime of the same weights: this generation's own encoder, or its backend's, below
    if manifest.encoder:
        from index.onnx_backend import OnnxEmbedder

        encoder: Embedder = OnnxEmbedder.from_directory(path / ENCODER_DIR, threads=settings.threads,
                                                        expect_sha256=manifest.encoder.get("sha256"),
                                                        expect_stamp=manifest.encoder)
    else:
        encoder = make_embedder(manifest.model.backend, settings.model, settings.onnx_cache,
                                settings.threads)
    check_compatible(manifest, path, encoder)
    return encoder
