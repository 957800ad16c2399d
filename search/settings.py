"""The one settings object: every field has a default, an environment variable and a help line.

Precedence: explicit overrides (CLI flags, test config) > environment > defaults.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import SearchError

ENV_PREFIX = "STATEMENT_SEARCH_"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    index: Path = _f(PROJECT_ROOT / "state" / "index",
                     "Index directory (a symlink to the current generation).")
    corpus: Path = _f(PROJECT_ROOT / "data" / "statements",
                      "Folder of statements (.txt, .md, .jsonl), read recursively.")
    model: str = _f(DEFAULT_MODEL,
                    "Sentence-transformers model: the bundled default, a local path or a name.")
    embedding_backend: str = _f("torch", "Embedding runtime: torch, onnx (exported fp32) or onnx-int8 "
                                         "(dynamically quantised); onnx exports are cached under onnx_cache.")
    onnx_cache: Path = _f(PROJECT_ROOT / "state" / "onnx",
                          "Folder for ONNX exports of the model, one subfolder per weights sha256.")
    index_type: str = _f("auto", "Vector index: flat (exact), hnsw (approximate), or auto "
                                 "(flat below ann_threshold passages, hnsw above).")
    ann_threshold: int = _f(100_000, "Passages above which index_type=auto builds the approximate index "
                                     "(exact flat search costs ~10-20 ms a query there; docs/performance.md).")
    batch_size: int = _f(0, "Passages per embedding batch (batches are sorted by length); 0: the backend's "
                            "measured best (torch 32, onnx 8, onnx-int8 16; docs/performance.md).")
    max_query_chars: int = _f(1000, "Longest accepted question, in characters.")
    max_k: int = _f(100, "Largest number of results one request may ask for.")
    max_offset: int = _f(1000, "Deepest result offset one request may ask for.")
    default_k: int = _f(10, "Results per page when k is not given.")
    mode: str = _f("hybrid", "Retrieval mode: hybrid, vector or keyword.")
    fusion: str = _f("adaptive", "Hybrid fusion: adaptive (cosine and BM25 over the question's ideal BM25), "
                                 "weighted (BM25 over its best), minmax or rrf; see docs/quality.md.")
    hybrid_weight: float = _f(0.5, "Weight of the vector side in score fusion (0 to 1).")
    gate_low: float = _f(0.15, "Adaptive fusion: below this best-keyword-match coverage (BM25 over the "
                              "question's ideal) the keyword side is left out; see docs/quality.md.")
    gate_high: float = _f(0.25, "Adaptive fusion: from this coverage up the keyword side counts in full "
                               "(linear between gate_low and gate_high).")
    candidates: int = _f(100, "Candidates taken from each side before fusion.")
    weak_below: float = _f(0.30, "Floor of the \"no strong match\" line: hits whose question-passage cosine "
                                 "is below the line are marked weak; calibrated in docs/quality.md.")
    weak_quantile: float = _f(0.9, "The line is also at least this quantile of the best cosines the index's "
                                   "off-topic probe questions reach (measured at build time); 0: the floor only.")
    facet_depth: int = _f(1000, "Ranked candidates over which facets and date sorting are computed.")
    exact_subset_max: int = _f(50000, "Filtered searches over at most this many passages are scored exactly.")
    host: str = _f("127.0.0.1", "Address `serve` listens on.")
    port: int = _f(8000, "Port `serve` listens on.")
    workers: int = _f(2, "Worker processes for `serve`.")
    threads: int = _f(1, "Torch and FAISS threads per worker process (0: all cores).")
    reload_interval: float = _f(2.0, "Seconds between checks for a newly built index generation.")

    @property
    def keyword_gate(self) -> tuple[float, float]:
        return (self.gate_low, self.gate_high)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in fields(cls)}

    @classmethod
    def env_name(cls, name: str) -> str:
        return ENV_PREFIX + name.upper()

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **_coerce({k: v for k, v in changes.items() if v is not None}))


def _coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in types:
            raise SearchError(f"unknown setting {key!r}", code="bad_setting")
        kind = types[key]
        try:
            if kind == "Path":
                value = Path(value).expanduser()
            elif kind == "int":
                value = int(value)
            elif kind == "float":
                value = float(value)
            elif kind == "bool":
                value = value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes", "on"}
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise SearchError(f"setting {key} must be {kind}, got {value!r}", code="bad_setting") from None
        out[key] = value
    return out


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then STATEMENT_SEARCH_* environment variables, then `overrides` (None values ignored)."""
    environ = os.environ if environ is None else environ
    from_env = {f.name: environ[Settings.env_name(f.name)]
                for f in fields(Settings) if Settings.env_name(f.name) in environ}
    settings = Settings().replace(**from_env)
    return settings.replace(**dict(overrides or {}))
