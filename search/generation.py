"""One index generation opened for reading: manifest, vector index, vectors, BM25, passages, metadata."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from index.build import DB_FILE, VECTORS_FILE
from index.errors import IndexUnavailable
from index.integrity import verify_files
from index.keyword import KeywordIndex
from index.manifest import Manifest, check_model, read_manifest
from index.store import PassageStore
from index.vectors import FaissIndex

from .filters import DocumentTable


class Generation:
    """The files of one generation, opened read-only (memory-mapped where they can be)."""

    def __init__(self, directory: Path, model_name: str, model_sha256: str):
        self.path = Path(directory).resolve()  # pin the generation the link points at now
        self.manifest: Manifest = read_manifest(self.path)
        check_model(self.manifest, Path(directory), model_name, model_sha256)
        verify_files(self.path, self.manifest.files)  # sizes, and sha256 of the small files (index.integrity)
        try:
            spec = self.manifest.index
            self.vector_index = FaissIndex.load(self.path, kind=spec.get("type", "flat"), params=spec.get("params"))
            self.vectors = np.load(self.path / VECTORS_FILE, mmap_mode="r")
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

    def close(self) -> None:
        self.store.close()
