"""Metadata sidecars: NAME.EXT.meta.json beside a file, or one metadata.csv per folder keyed by file name."""
from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SIDECAR_SUFFIX = ".meta.json"
FOLDER_FILE = "metadata.csv"
FILE_COLUMNS = ("file", "filename", "name", "path")  # the first of these a metadata.csv has names the file


class SidecarError(ValueError):
    """A sidecar that cannot be used; the message names the file and says why."""


def is_sidecar(path: Path) -> bool:
    """Sidecars describe statements; they are never statements themselves."""
    return path.name.lower().endswith(SIDECAR_SUFFIX) or path.name.lower() == FOLDER_FILE


def read_json_sidecar(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"metadata sidecar {path} is not readable JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise SidecarError(f"metadata sidecar {path} must hold a JSON object")
    return _clean(obj)


def read_folder_csv(path: Path) -> dict[str, dict[str, Any]]:
    """Rows of a folder's metadata.csv by file name; empty cells say nothing."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SidecarError(f"{path} is not a readable UTF-8 CSV file ({exc})") from None
    if not rows:
        return {}
    columns = {c.strip().lower(): c for c in rows[0] if c}
    key = next((columns[c] for c in FILE_COLUMNS if c in columns), None)
    if key is None:
        raise SidecarError(f"{path} needs a 'file' column naming each file")
    out = {}
    for row in rows:
        name = (row.get(key) or "").strip()
        if name:
            out[name] = _clean({k.strip().lower(): v for k, v in row.items() if k and k != key})
    return out


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """Lower-case keys; values as given (strings trimmed); empty values dropped."""
    out = {}
    for k, v in obj.items():
        if isinstance(v, str):
            v = v.strip()
        if v not in (None, "", [], {}):
            out[str(k).strip().lower()] = v
    return out


class Sidecars:
    """Finds the metadata for a file: its folder's metadata.csv row, overridden by its own .meta.json."""

    def __init__(self):
        self._folders: dict[Path, dict[str, dict[str, Any]]] = {}
        self.problems: list[tuple[str, str]] = []  # (path, why) for sidecars that could not be used

    def for_file(self, path: Path) -> dict[str, Any]:
        meta = dict(self._folder(path.parent).get(path.name, {}))
        own = path.with_name(path.name + SIDECAR_SUFFIX)
        if own.is_file():
            try:
                meta.update(read_json_sidecar(own))
            except SidecarError as exc:
                log.warning("%s", exc)
                self.problems.append((str(own), str(exc)))
        return meta

    def _folder(self, folder: Path) -> dict[str, dict[str, Any]]:
        if folder not in self._folders:
            self._folders[folder] = {}
            csv_path = next((p for p in (folder / FOLDER_FILE, folder / FOLDER_FILE.upper()) if p.is_file()), None)
            if csv_path is not None:
                try:
                    self._folders[folder] = read_folder_csv(csv_path)
                except SidecarError as exc:
                    log.warning("%s", exc)
                    self.problems.append((str(csv_path), str(exc)))
        return self._folders[folder]
