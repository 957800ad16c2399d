"""Embedding on a Ray cluster: Ray Data `map_batches` over an actor pool, one model per actor.

Ray is imported only when a `RayEncoder` encodes; everything else of a build stays in the driver.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Fewer texts than this are embedded in the driver even with --ray: every Ray encode starts an actor pool
# (actors start, each loads the model: 2.0-3.2 s more than in-process for 100 texts, docs/scale.md),
# and a build encodes up to 3 lists; 2,000 texts take ~18 s locally on 2 cores. Ray never serves a small build.
RAY_MIN_TEXTS = 2000


@dataclass(frozen=True)
class EncoderSpec:
    """What an actor needs to load the same encoder as the driver: backend, model, ONNX cache."""

    backend: str = "torch"  # torch | onnx | onnx-int8
    model: str = ""  # "" means the bundled default model
    onnx_cache: str = ""
    threads: int = 1  # per actor: one CPU each, as the actor pool requests

    def load(self):
        """The encoder this spec names (index.embedder.make_embedder)."""
        from .embedder import DEFAULT_MODEL, make_embedder

        return make_embedder(self.backend, self.model or DEFAULT_MODEL, Path(self.onnx_cache or "state/onnx"),
                             self.threads)


class EmbedActor:
    """A Ray Data actor: loads the model once, then embeds batches of {"row", "text"}.

    Each output row also names the actor that embedded it ("node id:pid"), so the driver knows where
    the work ran (RayEncoder.embedded_by).
    """

    def __init__(self, spec: EncoderSpec, batch_size: int):
        import os

        import ray

        self.encoder = spec.load()
        self.batch_size = batch_size
        self.where = f"{ray.get_runtime_context().get_node_id()}:{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]], batch_size=self.batch_size)
        return {"row": np.asarray(batch["row"], dtype=np.int64), "vector": vectors,
                "actor": np.full(len(vectors), self.where)}


class RayEncoder:
    """The build's encoder interface, with `encode` run by Ray Data on the cluster at `address`.

    `local` (an encoder of the same spec, loaded in the driver) counts tokens for the splitter and
    embeds lists shorter than `min_texts` (and than one batch), where starting Ray's actor pool would
    cost more than the work; such an encode neither imports Ray nor connects to the cluster.
    """

    name: str  # these four are copied from `local`
    sha256: str
    dimension: int
    backend: str

    def __init__(self, local, spec: EncoderSpec, address: str = "auto", actors: int = 0,
                 batch_size: int = 0, rows_per_block: int = 0, min_texts: int = 0):
        self.local = local
        self.spec = spec
        self.address = address
        self.actors = actors  # 0: one per CPU the cluster has
        self.batch_size = batch_size or getattr(local, "batch_size", 32)
        self.rows_per_block = rows_per_block or 8 * self.batch_size  # rows an actor task embeds
        self.min_texts = min_texts
        self.embedded_by: dict[str, int] = {}  # "node id:pid" of each actor -> rows it returned, this encode
        for name in ("name", "sha256", "dimension", "backend"):
            setattr(self, name, getattr(local, name))
        if hasattr(local, "save_encoder"):  # an ONNX build still carries its question encoder
            self.save_encoder = local.save_encoder

    @property
    def passage_limit(self) -> int:
        return self.local.passage_limit

    def count_tokens(self, text: str) -> int:
        return self.local.count_tokens(text)

    def _connect(self):
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, logging_level="WARNING")
        return ray

    def encode(self, texts: list[str], batch_size: int = 0, progress: bool = False) -> np.ndarray:
        """Vectors of `texts` in input order, embedded by the actor pool."""
        if len(texts) < max(self.batch_size, self.min_texts):
            return self.local.encode(texts, batch_size=batch_size or self.batch_size)
        ray = self._connect()
        actors = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        items = [{"row": i, "text": t} for i, t in enumerate(texts)]
        blocks = max(1, -(-len(items) // self.rows_per_block))
        # An actor pool's actors get max_restarts=-1 and max_task_retries=-1 from Ray Data itself (passing
        # them is deprecated): an actor lost with its process or node is restarted and its batch retried.
        vectors = (ray.data.from_items(items, override_num_blocks=blocks)
                   .map_batches(EmbedActor, fn_constructor_kwargs={"spec": self.spec,
                                                                   "batch_size": batch_size or self.batch_size},
                                batch_size=self.rows_per_block, compute=ray.data.ActorPoolStrategy(size=actors),
                                num_cpus=1, batch_format="numpy"))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        seen = np.zeros(len(texts), dtype=bool)
        self.embedded_by = {}
        for batch in vectors.iter_batches(batch_format="numpy", batch_size=None):
            out[batch["row"]] = batch["vector"]
            seen[batch["row"]] = True
            for where, rows in zip(*np.unique(batch["actor"], return_counts=True)):
                self.embedded_by[str(where)] = self.embedded_by.get(str(where), 0) + int(rows)
        if not seen.all():
            raise RuntimeError(f"Ray returned {int(seen.sum())} of {len(texts)} vectors")
        return out


def ray_encoder(settings, address: str, actors: int = 0, local=None) -> RayEncoder:
    """A RayEncoder for `settings` (embedding_backend, model, onnx_cache, batch_size, ray_min_texts) on `address`."""
    spec = EncoderSpec(backend=settings.embedding_backend, model=settings.model,
                       onnx_cache=str(Path(getattr(settings, "onnx_cache", "") or "state/onnx").resolve()))
    local = local if local is not None else spec.load()
    return RayEncoder(local, spec, address, actors, getattr(settings, "batch_size", 0),
                      min_texts=getattr(settings, "ray_min_texts", RAY_MIN_TEXTS))
