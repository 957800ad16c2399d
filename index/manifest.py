"""manifest.json: what an index directory holds and which model made it, as a typed `Manifest`.

`index.build` writes one per generation; `read_manifest` returns it, refusing a missing, unreadable or
foreign-format file with IndexUnavailable (code index_missing, index_corrupt or index_format).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import IndexUnavailable

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 2  # 2: sentence vectors (index/sentences.py) and the generation's own question encoder
OLDER_FORMATS = (1,)  # read only to reuse their passage vectors in a rebuild
PROBE_KEY = "weak_probes"  # where the off-topic probe measurement lives (index/probes.py)


@dataclass(frozen=True)
class ModelInfo:
    """The model that made the vectors: its name, weights sha256 and runtime."""

    name: str
    sha256: str
    backend: str = "torch"


@dataclass(frozen=True)
class Counts:
    documents: int
    passages: int
    embedded: int = 0
    reused: int = 0


@dataclass(frozen=True)
class Manifest:
    """One generation's description. `index` and `keyword` are the specs their loaders need (from
    `FaissIndex` and `KeywordIndex`); `probes` are the off-topic probes' best cosines (search/weak.py)."""

    generation: str
    model: ModelInfo
    dimension: int
    counts: Counts
    index: dict[str, Any]
    keyword: dict[str, Any]
    built_at: str
    package_version: str
    sentences: dict[str, Any] = field(default_factory=dict)
    encoder: dict[str, Any] = field(default_factory=dict)
    probes: tuple[float, ...] = ()
    corpus: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    normalized: bool = True
    metric: str = "inner_product"
    files: dict[str, Any] = field(default_factory=dict)  # {relative path: {size, sha256}}; empty in older ones

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        top1 = list(out.pop("probes"))
        out[PROBE_KEY] = {"count": len(top1), "top1": top1, "source": "index/probes.py"}
        return out

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """A Manifest from decoded JSON; ValueError/KeyError/TypeError on a wrong shape."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        probes = data.get(PROBE_KEY) or {}
        return cls(
            generation=str(data["generation"]), model=ModelInfo(**data["model"]), dimension=int(data["dimension"]),
            counts=Counts(**data["counts"]), index=dict(data["index"]), keyword=dict(data.get("keyword") or {}),
            built_at=str(data["built_at"]), package_version=str(data.get("package_version", "")),
            sentences=dict(data.get("sentences") or {}), encoder=dict(data.get("encoder") or {}),
            probes=tuple(float(x) for x in probes.get("top1") or ()), corpus=dict(data.get("corpus") or {}),
            format_version=int(data["format_version"]), normalized=bool(data.get("normalized", True)),
            metric=str(data.get("metric", "inner_product")), files=_files(data.get("files")))


def _files(value: Any) -> dict[str, Any]:
    """The optional `files` table: {relative path: {"size": int, "sha256": str}}; TypeError on another shape."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise TypeError("files must map relative paths to {size, sha256}")
    return {str(k): {"size": int(v["size"]), "sha256": str(v.get("sha256", ""))} for k, v in value.items()}


def write_manifest(directory: Path, manifest: Manifest) -> None:
    (Path(directory) / MANIFEST_FILE).write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")


def read_manifest(directory: Path, accept_older: bool = False) -> Manifest:
    """The manifest of the generation at `directory`; IndexUnavailable when missing, unreadable or foreign.

    `accept_older` also reads OLDER_FORMATS (for reuse by a rebuild, never for serving)."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise IndexUnavailable(
            f"no index at {directory}: run `statement-search rebuild-index --index {directory}`",
            code="index_missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexUnavailable(f"unreadable manifest in {directory} ({exc}); rebuild the index",
                               code="index_corrupt") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version != FORMAT_VERSION and not (accept_older and version in OLDER_FORMATS):
        why = (" (built before sentence vectors; a rebuild reuses its passage vectors and embeds only the "
               "sentences)" if version in OLDER_FORMATS else "")
        raise IndexUnavailable(
            f"index {directory} has format version {version}, this release serves {FORMAT_VERSION}{why}: "
            f"run `statement-search rebuild-index --index {directory}`", code="index_format")
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexUnavailable(f"manifest in {directory} is incomplete ({exc!r}); rebuild the index",
                               code="index_corrupt") from None


class ModelIdentity(Protocol):
    """What identifies the maker of vectors: an `Embedder` or a `ModelInfo` both have these."""

    name: str
    sha256: str
    backend: str


def check_compatible(manifest: Manifest, directory: Path, model: ModelIdentity) -> None:
    """The one model/backend compatibility check: IndexUnavailable (model_mismatch) unless `model` is the
    weights (sha256) and the runtime (backend: torch, onnx, onnx-int8) that made this generation's vectors.

    Used by every path that pairs a generation with an encoder: a rebuild reusing its vectors
    (index/reuse.py, which then reuses nothing), a live add/remove (index/update.py, refused) and a
    searcher encoding questions for it (search/generation.py). The backend matters because int8 vectors
    differ slightly from fp32 ones: mixing them in one index, or querying one with the other, is refused."""
    built = manifest.model
    if built.sha256 != model.sha256:
        raise IndexUnavailable(
            f"index {directory} was built with model {built.name!r} (sha256 {built.sha256[:12]}…) "
            f"but the configured model is {model.name!r} (sha256 {model.sha256[:12]}…): run "
            f"`statement-search rebuild-index --index {directory} --model {model.name}` or configure the "
            "index's model", code="model_mismatch")
    if built.backend != model.backend:
        raise IndexUnavailable(
            f"index {directory} was built with the {built.backend} backend but this would embed with "
            f"{model.backend}: use --backend {built.backend} (embedding_backend) or run "
            f"`statement-search rebuild-index --index {directory} --backend {model.backend}`",
            code="model_mismatch")
