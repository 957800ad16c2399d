"""ONNX Runtime embedding: the bundled model exported locally, fp32 or int8, same vectors as torch.

The graph is BERT + mean pooling + L2 normalisation, exactly what sentence-transformers computes for
all-MiniLM-L6-v2, so a vector from here is interchangeable with one from `Embedder` (fp32 agrees to
~1e-6; int8 to a cosine of ~0.99). Exports are cached under `<cache>/<weights sha256[:16]>/` and
rebuilt when missing, so the weights pin the graph just as they pin the torch model.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .embedder import available_cores, file_sha256, resolve_model
from .errors import IndexUnavailable

log = logging.getLogger(__name__)
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
OPSET = 17


def _export(model_path: Path, target: Path) -> None:
    """Trace BERT + mean pooling + normalisation to an ONNX file (torch is needed only here)."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids, use_cache=False, return_dict=True)
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            summed = (out.last_hidden_state * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)  # sentence-transformers' mean pooling
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    bert = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    wrapper = Pooled(bert).eval()
    dummy = {"input_ids": torch.ones(2, 16, dtype=torch.long),
             "attention_mask": torch.ones(2, 16, dtype=torch.long),
             "token_type_ids": torch.zeros(2, 16, dtype=torch.long)}
    dynamic = {name: {0: "batch", 1: "tokens"} for name in dummy} | {"embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape-dependent Python branches; verified by tests
        torch.onnx.export(wrapper, (), str(target), kwargs=dummy, input_names=list(dummy),
                          output_names=["embedding"], dynamic_axes=dynamic, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the fp32 graph, per-channel weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)


def ensure_onnx(model_path: Path, sha256: str, cache: Path, int8: bool) -> Path:
    """The cached ONNX file for these weights, exported (and quantised) first if it is missing."""
    folder = Path(cache) / sha256.replace(":", "_")[:16]
    target = folder / (INT8_FILE if int8 else FP32_FILE)
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:  # publish by rename: no half-written graph
        fp32 = folder / FP32_FILE
        if not fp32.is_file():
            log.info("exporting %s to ONNX under %s", model_path, folder)
            _export(model_path, Path(tmp) / FP32_FILE)
            os.replace(Path(tmp) / FP32_FILE, fp32)
        if int8:
            log.info("quantising %s to int8", fp32)
            _quantize(fp32, Path(tmp) / INT8_FILE)
            os.replace(Path(tmp) / INT8_FILE, target)
    (folder / "source.json").write_text(json.dumps({"model": str(model_path), "sha256": sha256, "opset": OPSET}))
    return target


ENCODER_FILE = "model.onnx"
ENCODER_META = "encoder.json"


def encoder_matches(path: Path, sha256: str, stamp: Mapping[str, Any] | None = None) -> bool:
    """Whether the encoder file at `path` is the one the manifest recorded.

    Hashing the 22 MB graph took every worker that loaded a generation tens of milliseconds. The build
    records the file's size and mtime beside its sha256: another size is refused at once, the recorded
    size and mtime together are taken as the file the build hashed, and anything else (a copied index,
    a file rewritten in place, an older manifest without the stamp) is hashed and compared as before."""
    st = path.stat()
    if stamp and "size" in stamp:
        if st.st_size != int(stamp["size"]):
            return False
        if st.st_mtime_ns == int(stamp.get("mtime_ns", -1)):
            return True
    return file_sha256(path) == sha256


class OnnxEmbedder:
    """Encodes text to L2-normalised float32 vectors with ONNX Runtime; the `Embedder` interface.

    Built from a model name (exported to ONNX under `cache` on first use: torch is needed only then),
    or, with `from_directory`, from the question encoder a generation carries (tokenizers and
    onnxruntime only: a serving process never imports torch).
    """

    def __init__(self, model: str, cache: Path, int8: bool = False, threads: int = 0):
        path, sha256 = resolve_model(model)
        model_path = Path(path)
        if not (model_path / "tokenizer.json").is_file():
            raise IndexUnavailable(f"the ONNX backend needs a local model folder with tokenizer.json, "
                                   f"got {model!r}", code="model_missing")
        config = json.loads((model_path / "sentence_bert_config.json").read_text()) \
            if (model_path / "sentence_bert_config.json").is_file() else {}
        try:
            onnx_path = ensure_onnx(model_path, sha256, cache, int8)
        except Exception as exc:
            raise IndexUnavailable(f"cannot export {model!r} to ONNX under {cache}: {exc}",
                                   code="model_missing") from exc
        self._open(name=model, sha256=sha256, backend="onnx-int8" if int8 else "onnx", onnx_path=onnx_path,
                   tokenizer=model_path / "tokenizer.json", max_tokens=int(config.get("max_seq_length", 256)),
                   dimension=int(json.loads((model_path / "config.json").read_text())["hidden_size"]),
                   threads=threads)

    @classmethod
    def from_directory(cls, directory: Path, threads: int = 0, expect_sha256: str | None = None,
                       expect_stamp: Mapping[str, Any] | None = None) -> OnnxEmbedder:
        """The question encoder saved in a generation by `save_encoder`; IndexUnavailable when it is missing
        or its graph is not the one the manifest recorded (`expect_sha256`; see `encoder_matches` for how
        `expect_stamp`, the manifest's size and mtime of the file, spares the hash)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / ENCODER_META).read_text())
            onnx_path = directory / ENCODER_FILE
            if expect_sha256 is not None and not encoder_matches(onnx_path, expect_sha256, expect_stamp):
                raise ValueError(f"{onnx_path} does not match the sha256 the manifest recorded")
            embedder = cls.__new__(cls)
            embedder._open(name=meta["name"], sha256=meta["sha256"], backend=meta["backend"], onnx_path=onnx_path,
                           tokenizer=directory / "tokenizer.json", max_tokens=int(meta["max_tokens"]),
                           dimension=int(meta["dimension"]), threads=threads)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexUnavailable(f"the question encoder in {directory} is unusable ({exc}); rebuild the index",
                                   code="index_corrupt") from None
        return embedder

    def _open(self, name: str, sha256: str, backend: str, onnx_path: Path, tokenizer: Path, max_tokens: int,
              dimension: int, threads: int) -> None:
        from tokenizers import Tokenizer

        self.name, self.sha256, self.backend = name, sha256, backend
        self.batch_size = 16 if backend == "onnx-int8" else 8  # fastest of 8..128 on SOTU passages (bench/embed.py)
        self.max_tokens, self.dimension = max_tokens, dimension
        self.onnx_path, self._tokenizer_file = Path(onnx_path), Path(tokenizer)
        self._counter = None  # the untruncated tokenizer `count_tokens` uses: made when a build first counts
        self._batcher = Tokenizer.from_file(str(tokenizer))
        self._batcher.no_padding()
        self._batcher.enable_truncation(self.max_tokens)
        self._threads = threads
        self._session = None
        self._session_lock = threading.Lock()

    @property
    def session(self):
        """The ONNX Runtime session, created on first use in the process that encodes: a server's parent
        loads the encoder but never encodes, so no runtime thread pool crosses a fork."""
        if self._session is None:
            import onnxruntime as ort

            with self._session_lock:
                if self._session is None:
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self._threads if self._threads > 0 else available_cores()
                    options.inter_op_num_threads = 1
                    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
                    self._inputs = {i.name for i in session.get_inputs()}
                    self._session = session
        return self._session

    def save_encoder(self, directory: Path) -> dict:
        """Put this encoder (graph, tokenizer, shape) in `directory` (hard links where the filesystem allows);
        return the manifest's record of it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for source, name in ((self.onnx_path, ENCODER_FILE), (self._tokenizer_file, "tokenizer.json")):
            try:
                os.link(source, directory / name)
            except OSError:
                shutil.copy2(source, directory / name)
        (directory / ENCODER_META).write_text(json.dumps(
            {"name": self.name, "sha256": self.sha256, "backend": self.backend, "max_tokens": self.max_tokens,
             "dimension": self.dimension}, indent=2))
        st = (directory / ENCODER_FILE).stat()
        return {"dir": directory.name, "file": ENCODER_FILE, "sha256": file_sha256(directory / ENCODER_FILE),
                "backend": self.backend, "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    @property
    def tokenizer(self):
        """The tokenizer without truncation that `count_tokens` uses, loaded on first use: only building
        an index counts tokens, and a server's question encoder would otherwise hold a second copy of the
        vocabulary (about 8 MB resident in every worker: docs/performance.md, "Worker memory")."""
        if self._counter is None:
            from tokenizers import Tokenizer

            counter = Tokenizer.from_file(str(self._tokenizer_file))
            counter.no_padding()
            counter.no_truncation()
            self._counter = counter  # one assignment: threads that race here each get a working tokenizer
        return self._counter

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` without the [CLS]/[SEP] the model adds."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def passage_limit(self) -> int:
        return self.max_tokens - 2  # room for [CLS] and [SEP]

    def encode(self, texts: list[str], batch_size: int = 0, progress: bool = False) -> np.ndarray:
        """Embed `texts`, batched by length (longest first) so padding stays small; 0: the measured best."""
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._batcher.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Batches", unit="passage")
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            feeds = {name: np.zeros((len(chunk), width), dtype=np.int64)
                     for name in ("input_ids", "attention_mask", "token_type_ids")}
            for row, i in enumerate(chunk):
                e = encodings[i]
                n = len(e.ids)
                feeds["input_ids"][row, :n] = e.ids
                feeds["attention_mask"][row, :n] = e.attention_mask
                feeds["token_type_ids"][row, :n] = e.type_ids
            out[chunk] = self.session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return out
