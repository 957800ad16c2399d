"""The one settings object: every field has a default, an environment variable and a help line.

Precedence: explicit overrides (CLI flags, test config) > environment > defaults. A pydantic model
does the type coercion and range checks (an environment variable is always a string); pydantic-settings
was not needed: it reads only os.environ, while tests pass their own environment mapping.
Relative paths are relative to the working directory, never to the installed package.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.distributed import RAY_MIN_TEXTS
from index.embedder import BACKENDS, DEFAULT_MODEL, Embedder, make_embedder
from index.readers.ocr import DEFAULT_LANGUAGES as OCR_LANGUAGES
from index.vectors import COMPRESSED_THRESHOLD, INDEX_TYPES

from .errors import SettingError
from .fusion import METHODS

ENV_PREFIX = "STATEMENT_SEARCH_"
Mode = Literal["hybrid", "vector", "keyword"]
MODES: tuple[str, ...] = get_args(Mode)
if TYPE_CHECKING:  # a Literal built from a tuple is not a type to mypy; pydantic checks the values
    Fusion = str
    Backend = str
    IndexType = str
else:
    Fusion = Literal[METHODS]
    Backend = Literal[BACKENDS]
    IndexType = Literal[("auto",) + INDEX_TYPES]


def _f(default: Any, help: str, **limits: Any) -> Any:
    return Field(default=default, description=help, **limits)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    index: Path = _f(Path("state/index"), "Index directory (a symlink to the current generation).")
    corpus: Path = _f(Path("data/statements"), "Folder of statements (.txt, .md, .jsonl, Telegram export JSON, HTML, "
                                               "PDF, DOCX, with optional metadata sidecars), read recursively.")
    model: str = _f(DEFAULT_MODEL, "Sentence-transformers model: the bundled default, a local path or a name.")
    embedding_backend: Backend = _f("onnx-int8", "Embedding runtime of builds: onnx-int8 (int8-quantised ONNX), "
                                                 "onnx (fp32 ONNX) or torch; ONNX exports are cached under onnx_cache "
                                                 "and an ONNX index carries its question encoder "
                                                 "(docs/performance.md).")
    onnx_cache: Path = _f(Path("state/onnx"), "Folder for ONNX exports of the model, one subfolder per weights sha256.")
    index_type: IndexType = _f("auto", "Vector index: flat (exact), hnsw (approximate), ivf, ivfpq (compressed), or "
                                       "auto (flat up to ann_threshold passages, hnsw up to compressed_threshold, "
                                       "ivfpq above).")
    ann_threshold: int = _f(100_000, "Passages above which index_type=auto builds the approximate index "
                                     "(exact flat search costs ~10-20 ms a query there; docs/performance.md).", ge=0)
    compressed_threshold: int = _f(COMPRESSED_THRESHOLD, "Passages above which index_type=auto builds the "
                                                         "compressed ivfpq index (IVF-PQ codes, exact re-ranking from "
                                                         "vectors.npy) instead of hnsw, whose RAM reaches 8 GiB there "
                                                         "(docs/scale.md); 0: never.", ge=0)
    ray_address: str = _f("", "Ray cluster that embeds new passages and sentences in rebuild-index (an address "
                              "or auto); empty: embed locally, Ray is not imported.")
    ray_min_texts: int = _f(RAY_MIN_TEXTS, "With ray_address, lists of fewer new passages or sentences than "
                                  "this are still embedded locally: each Ray encode starts an actor pool "
                                  "(2-3 s measured, docs/scale.md), so Ray never serves a small build.", ge=0)
    batch_size: int = _f(0, "Passages per embedding batch (batches are sorted by length); 0: the backend's "
                            "measured best (torch 32, onnx 8, onnx-int8 16; docs/performance.md).", ge=0)
    max_query_chars: int = _f(1000, "Longest accepted question, in characters.", ge=1)
    max_k: int = _f(100, "Largest number of results one request may ask for.", ge=1)
    max_offset: int = _f(1000, "Deepest result offset one request may ask for.", ge=0)
    default_k: int = _f(10, "Results per page when k is not given.", ge=1)
    mode: Mode = _f("hybrid", "Retrieval mode: hybrid, vector or keyword.")
    fusion: Fusion = _f("adaptive", "Hybrid fusion: adaptive (cosine and BM25 over the question's ideal BM25), "
                                    "weighted (BM25 over its best), minmax or rrf; see docs/quality.md.")
    hybrid_weight: float = _f(0.6, "Weight of the vector side in score fusion (0 to 1).", ge=0, le=1)
    gate_low: float = _f(0.2, "Adaptive fusion: below this best-keyword-match coverage (BM25 over the "
                               "question's ideal) the keyword side is left out; see docs/quality.md.")
    gate_high: float = _f(0.3, "Adaptive fusion: from this coverage up the keyword side counts in full "
                                "(linear between gate_low and gate_high).")
    score_sentences: bool = _f(True, "Score a passage by the better of its own cosine and its best sentence's "
                                     "(sentence vectors embedded at build time); see docs/quality.md.")
    candidates: int = _f(100, "Candidates taken from each side before fusion.", ge=1)
    weak_below: float = _f(0.30, "Floor of the \"no strong match\" line: hits whose question-passage cosine "
                                 "is below the line are marked weak; calibrated in docs/quality.md.")
    weak_quantile: float = _f(0.9, "The line is also at least this quantile of the best cosines the index's "
                                   "off-topic probe questions reach (measured at build time); 0: the floor only.",
                              ge=0, le=1)
    weak_coverage: float = _f(0.5, "For results ranked by keywords alone (a question or passage not in English, "
                                   "which the sentence model cannot read): weak below this share of the "
                                   "question's ideal BM25; calibrated in docs/quality.md.", ge=0, le=1)
    facet_depth: int = _f(1000, "Ranked candidates over which facets and date sorting are computed.", ge=1)
    exact_subset_max: int = _f(50000, "Filtered searches over at most this many passages are scored exactly.", ge=0)
    host: str = _f("127.0.0.1", "Address `serve` listens on.")
    port: int = _f(8000, "Port `serve` listens on.", ge=0, le=65535)
    workers: int = _f(2, "Worker processes for `serve`.", ge=1)
    threads: int = _f(1, "Torch and FAISS threads per worker process (0: all cores).", ge=0)
    worker_threads: int = _f(2, "Request threads per `serve` worker process; requests are read completely "
                                "before a thread takes them (web/worker.py). 2: with a worker per core, "
                                "more threads only contend for the GIL (docs/performance.md).",
                              ge=1, le=256)
    read_timeout: float = _f(10.0, "Seconds a client has to send a whole request (headers and body); slower "
                                   "or idle connections are closed without taking a thread.", gt=0)
    rate_limit: str = _f("", "Requests per client address, e.g. 60/minute;1000/hour (flask-limiter); over it "
                             "429. Empty: no limit. /api/health is exempt.")
    proxy_hops: int = _f(0, "Trusted reverse proxies in front of `serve` (nginx: 1). The client address that "
                            "rate limits key on, and the scheme, are then read from that many X-Forwarded-For / "
                            "X-Forwarded-Proto entries (werkzeug ProxyFix). 0: the peer address; never set it "
                            "without a proxy, or clients can pick their own address.", ge=0, le=5)
    rate_limit_storage: str = _f("memory://", "Where rate-limit counters live: memory:// (per worker process) or a "
                                              "shared store such as redis://host:6379.")
    api_key: str = _f("", "When set, the JSON API (all but /api/health and /api/openapi.json) needs the header "
                          "X-API-Key with this value; empty: open.")
    cors_origins: str = _f("", "Comma-separated origins allowed to call the JSON API from a browser (CORS); "
                               "empty: none.")
    request_budget: float = _f(0.0, "Seconds a search or quote check may run; past it the request ends with 503 "
                                    "time_budget, checked between the search's stages (search/deadline.py). "
                                    "0: no budget (gunicorn's 120 s worker timeout still applies).", ge=0)
    max_batch_rows: int = _f(10_000, "Most quotes in one batch check (verify --batch, POST /api/verify/batch).", ge=1)
    max_batch_bytes: int = _f(4 * 1024 * 1024, "Largest batch file (or fact-check file) accepted, in bytes.", ge=1)
    batch_rate_limit: str = _f("10/minute;100/day", "Batch uploads per client address (POST /api/verify/batch "
                                                    "and the batch page), flask-limiter syntax; empty: no limit.")
    batch_keep_days: float = _f(30.0, "Days a finished batch job's results are kept; older ones are deleted when a "
                                      "new job is stored.", gt=0)
    batch_lease: float = _f(60.0, "Seconds a worker's claim on a batch job lasts without renewal; a job whose "
                                  "worker died is taken over by another after this (search/jobs.py).", gt=0)
    reload_interval: float = _f(2.0, "Seconds between checks for a newly built index generation.")
    ocr_languages: str = _f(OCR_LANGUAGES, "Tesseract languages for scanned PDF pages and images, joined by + "
                                           "(e.g. eng+rus); a file's sidecar `language` overrides it. Each needs "
                                           "its tesseract-ocr-LANG package (docs/formats.md).",
                            pattern=r"^[A-Za-z_]{2,20}(\+[A-Za-z_]{2,20})*$")
    watch_debounce_ms: int = _f(1000, "rebuild-index --watch: milliseconds of quiet that close a batch of "
                                      "corpus changes (one new generation per batch).", ge=50, le=600_000)
    watchlists: str = _f("", "SQLite file of saved searches, their matches and the webhook outbox; empty: "
                             "INDEX.watchlists.sqlite beside the index link (outside the generations, so a "
                             "rebuild keeps it; docs/factcheck.md).")
    webhook_allow_private: bool = _f(False, "Let saved-search webhooks call private, loopback and shared "
                                            "addresses (10/8, 127/8, ::1, ...); link-local and metadata "
                                            "addresses are refused always (docs/factcheck.md).")
    webhook_timeout: float = _f(10.0, "Seconds one webhook call may take before it counts as failed "
                                      "(and is retried with backoff).", gt=0, le=120)

    @property
    def keyword_gate(self) -> tuple[float, float]:
        return (self.gate_low, self.gate_high)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {name: f.description or "" for name, f in cls.model_fields.items()}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {name: f.default for name, f in cls.model_fields.items()}

    @classmethod
    def env_name(cls, name: str) -> str:
        return ENV_PREFIX + name.upper()

    @property
    def watchlists_path(self) -> Path:
        """Where saved searches live: `watchlists`, or INDEX.watchlists.sqlite beside the index link."""
        if self.watchlists:
            return Path(self.watchlists)
        from .sidecar import WATCHLISTS, sidecar_path

        return sidecar_path(self.index, WATCHLISTS)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` applied (None values ignored), validated; SettingError on a bad value."""
        return _validated({**self.model_dump(), **{k: v for k, v in changes.items() if v is not None}})

    def make_embedder(self, threads: int | None = None) -> Embedder:
        """The embedder these settings name (backend, model, ONNX cache), with `threads` (default: threads)."""
        return make_embedder(self.embedding_backend, self.model, self.onnx_cache,
                             self.threads if threads is None else threads)


def _validated(values: Mapping[str, Any]) -> Settings:
    try:
        return Settings.model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            raise SettingError(f"unknown setting {name!r}") from None
        kind = getattr(Settings.model_fields.get(name) and Settings.model_fields[name].annotation, "__name__", "valid")
        raise SettingError(f"setting {name} must be {kind}: {err['msg'].lower()}, got {err.get('input')!r}") from None


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then STATEMENT_SEARCH_* environment variables, then `overrides` (None values ignored)."""
    environ = os.environ if environ is None else environ
    from_env = {name: environ[Settings.env_name(name)] for name in Settings.model_fields
                if Settings.env_name(name) in environ}
    return _validated({**from_env, **{k: v for k, v in (overrides or {}).items() if v is not None}})
