"""The one generation writer: every new generation of an index, whether a full build (index/build.py) or a
live add/remove (index/update.py), is made by the same named steps.

    with generation_writer(index) as writer:   # 1 lock   one writer per index path (filelock); the link checked
                                               # 2 clear  a crashed writer's leftovers removed (layout.cleanup)
        writer.previous                        # 3 the live generation (id, path), None before the first build
        tmp = writer.stage()                   # 4 stage  a fresh temporary folder the caller writes files into
        manifest = writer.manifest(...)        # 5 the one place a Manifest is made: id, time, version, checksums
        record = writer.publish(manifest, ...) # 6 publish: rename + atomic symlink swap (layout.publish)
                                               # 7 tidy   generations past the newest two removed

An exception anywhere inside the block removes the temporary folder and leaves the live generation as it
was; a process killed there leaves a temporary folder, which step 2 of the next writer removes.
`writer.step(name)` times the caller's own steps; the timings travel in the record.

`publish` returns a `PublishedGeneration`: the new and the previous generation (id and path) and
`new_passage_ids`, the passages whose hash (model weights + embedded text) the previous generation did not
hold. That is what saved-search alerts evaluate: the passages a generation brought, not the whole index.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import layout
from .integrity import file_table
from .manifest import Counts, Manifest, ModelInfo, write_manifest

log = logging.getLogger(__name__)


def package_version() -> str:
    try:
        return metadata.version("statement-search")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class GenerationRef:
    """One generation of an index: its id and its directory (`.INDEX.gen-<id>`)."""

    generation: str
    path: Path

    @classmethod
    def live(cls, index: Path) -> GenerationRef | None:
        path = layout.current_generation(index)
        return None if path is None else cls(layout.generation_id(path), path)


def _no_ids() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class PublishedGeneration:
    """What one writer published: the typed record behind `BuildReport` and `UpdateReport`.

    `new_passage_ids` (sorted int64) are the passages of the new generation whose hash (model weights +
    embedded text) the previous generation did not hold, i.e. the ones that were embedded: a full rebuild's
    passages that reused no vector (every passage for a first build or another model), an addition's
    appended passages less those whose text the index already had (the unchanged paragraphs of a replaced
    statement), none for a removal. `added_passage_ids` are every id this generation gave out (a rebuild:
    all of them, as it renumbers; an addition: the appended ids). `renumbered` says passage ids of
    `previous` mean nothing in this generation (a full rebuild); a live update keeps them."""

    index: Path
    generation: str
    path: Path
    manifest: Manifest
    previous: GenerationRef | None
    new_passage_ids: np.ndarray = field(default_factory=_no_ids, compare=False)
    added_passage_ids: np.ndarray = field(default_factory=_no_ids, compare=False)
    renumbered: bool = False
    timings: dict[str, float] = field(default_factory=dict)


class GenerationWriter:
    """One writer of a new generation of `index`, made by `generation_writer` under the build lock."""

    def __init__(self, index: Path, previous: GenerationRef | None):
        self.index = Path(index)
        self.previous = previous
        self.tmp: Path | None = None
        self.published: PublishedGeneration | None = None
        self.timings: dict[str, float] = {}
        self._mark = time.perf_counter()

    def step(self, name: str) -> None:
        """Record the seconds since the previous step under `name`."""
        now = time.perf_counter()
        self.timings[name] = round(now - self._mark, 3)
        self._mark = now

    def stage(self) -> Path:
        """Step 4: the temporary folder the new generation is written into (next to the index)."""
        if self.tmp is not None or self.published is not None:
            raise RuntimeError("one generation per writer")
        self.tmp = layout.temporary_dir(self.index)
        self._mark = time.perf_counter()
        return self.tmp

    def manifest(self, *, model: ModelInfo, dimension: int, counts: Counts, index: dict[str, Any],
                 keyword: dict[str, Any], sentences: dict[str, Any], encoder: dict[str, Any],
                 probes: tuple[float, ...], corpus: dict[str, Any],
                 unchanged: Mapping[str, Mapping[str, Any]] | None = None) -> Manifest:
        """Step 5: the generation's Manifest, written into the staged folder once every other file is there.

        The writer fills in the generation id, build time, package version and the `files` table (size and
        sha256 of every file, checked at load: index.integrity); `unchanged` are checksum entries of files
        copied byte for byte from the live generation, taken as they are instead of hashing again."""
        tmp = self._staged()
        made = Manifest(
            generation=layout.new_generation_id(), model=model, dimension=dimension, counts=counts,
            index=index, keyword=keyword, sentences=sentences, encoder=encoder, probes=probes, corpus=corpus,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), package_version=package_version(),
            files=file_table(tmp, unchanged))
        write_manifest(tmp, made)
        self.step("manifest")
        return made

    def publish(self, manifest: Manifest, new_passage_ids: np.ndarray | None = None,
                added_passage_ids: np.ndarray | None = None, renumbered: bool = False) -> PublishedGeneration:
        """Step 6: make the staged folder the live generation (atomic), and the record of what changed."""
        tmp = self._staged()
        final = layout.publish(tmp, self.index, manifest.generation)
        self.tmp = None
        self.step("publish")
        self.published = PublishedGeneration(
            index=self.index, generation=manifest.generation, path=final, manifest=manifest,
            previous=self.previous, new_passage_ids=_ids(new_passage_ids), added_passage_ids=_ids(added_passage_ids),
            renumbered=renumbered, timings=self.timings)
        return self.published

    def discard(self) -> None:
        """Remove the staged folder, if any (a failure before publish)."""
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _staged(self) -> Path:
        if self.tmp is None:
            raise RuntimeError("stage() the generation first")
        return self.tmp


def _ids(ids: np.ndarray | None) -> np.ndarray:
    out = np.unique(np.asarray(ids if ids is not None else [], dtype=np.int64))
    out.setflags(write=False)
    return out


@contextmanager
def generation_writer(index: Path) -> Iterator[GenerationWriter]:
    """Steps 1-3 and 7 around the caller's block: lock, clear leftovers, read the live generation; after a
    publish, remove generations past the newest two. The temporary folder never outlives a failure."""
    index = Path(index)
    layout.check_link(index)
    with layout.build_lock(index):
        layout.cleanup(index)
        writer = GenerationWriter(index, GenerationRef.live(index))
        try:
            yield writer
        finally:
            writer.discard()
        if writer.published is not None:
            layout.cleanup(index)
