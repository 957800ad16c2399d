"""manifest.json: what an index directory holds and which model made it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from search.errors import IndexUnavailable

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (Path(directory) / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise IndexUnavailable(
            f"no index at {directory}: run `statement-search rebuild-index --index {directory}`",
            code="index_missing")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexUnavailable(f"unreadable manifest {path}: {exc}; rebuild the index", code="index_corrupt")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexUnavailable(
            f"index {directory} has format version {manifest.get('format_version')}, this release reads "
            f"{FORMAT_VERSION}: run `statement-search rebuild-index --index {directory}`", code="index_format")
    return manifest


def check_model(manifest: dict[str, Any], directory: Path, model_name: str, model_sha256: str) -> None:
    """Refuse an index built with other weights than the configured model's."""
    built = manifest.get("model", {})
    if built.get("sha256") != model_sha256:
        raise IndexUnavailable(
            f"index {directory} was built with model {built.get('name')!r} (sha256 {str(built.get('sha256'))[:12]}…) "
            f"but the configured model is {model_name!r} (sha256 {model_sha256[:12]}…): run "
            f"`statement-search rebuild-index --index {directory} --model {model_name}` or configure the "
            "index's model", code="model_mismatch")
