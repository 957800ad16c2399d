"""build_index: corpus folder → passages → embeddings → a new index generation, swapped in atomically
by the one generation writer (index/writer.py)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout, sentences
from .embedder import Embedder
from .errors import CorpusError
from .keyword import KeywordIndex
from .manifest import Counts, ModelInfo, read_manifest
from .passages import PassageDraft
from .probes import measure_probes
from .reuse import Previous, passage_vectors, sentence_vectors
from .rows import split_statements, statement_rows
from .statements import CorpusScan, scan_corpus
from .store import StoreWriter
from .vectors import COMPRESSED_THRESHOLD, FaissIndex, choose_index_type
from .writer import GenerationRef, GenerationWriter, PublishedGeneration, generation_writer, package_version

__all__ = ["BuildReport", "build_index", "package_version", "DB_FILE", "VECTORS_FILE"]
log = logging.getLogger(__name__)
DB_FILE, VECTORS_FILE, ENCODER_DIR = layout.DB_FILE, layout.VECTORS_FILE, layout.ENCODER_DIR


@dataclass(frozen=True)
class BuildReport:
    """What one full build did. `new_passage_ids` are the passages of the new generation that reused no
    vector (their hash was not in `previous_generation`; every passage for a first build): what saved-search
    alerts evaluate. A full build renumbers passages, so ids of the previous generation mean nothing here."""

    index: Path
    generation: str
    documents: int
    passages: int
    embedded: int
    reused: int
    skipped: list[tuple[str, str]]
    seconds: float
    sentences: int = 0
    sentences_embedded: int = 0
    path: Path | None = None                    # the new generation's directory
    previous_generation: str | None = None      # the generation it replaced (None for a first build)
    previous_path: Path | None = None
    new_passage_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), compare=False)
    record: PublishedGeneration | None = field(default=None, compare=False, repr=False)


def _trained_index(live: GenerationRef | None, index_type: str) -> FaissIndex | None:
    """The live generation's trained ivf/ivfpq index of this type, unless its drift says retrain."""
    if live is None or index_type not in ("ivf", "ivfpq"):
        return None
    try:
        spec = read_manifest(live.path).index
        if spec.get("type") != index_type:
            return None
        previous = FaissIndex.load(live.path, spec, mmap=False)
    except Exception as exc:  # an unusable old index only means training again
        log.info("not reusing the trained index of %s: %s", live.path, exc)
        return None
    return None if previous.needs_retrain else previous


def build_index(corpus: Path, index: Path, embedder: Embedder, batch_size: int = 64,
                progress: bool = False, index_type: str = "auto", ann_threshold: int = 100_000,
                compressed_threshold: int = COMPRESSED_THRESHOLD) -> BuildReport:
    """Index every statement under `corpus` into a new generation of `index`; reuse unchanged vectors."""
    began = time.perf_counter()
    corpus, index = Path(corpus), Path(index)
    if not corpus.is_dir():
        raise CorpusError(f"corpus folder {corpus} does not exist or is not a folder; the existing index is unchanged")
    layout.check_link(index)
    scan = scan_corpus(corpus)
    drafts = split_statements(scan.statements, embedder)
    total = sum(len(d) for d in drafts)
    if total == 0:
        raise CorpusError(f"no statements with text found under {corpus}; the existing index is unchanged")

    batch_size = batch_size or embedder.batch_size  # 0: the backend's measured best
    with generation_writer(index) as writer:
        previous = Previous.of(writer.previous.path if writer.previous else None, embedder)
        kind = choose_index_type(index_type, total, ann_threshold, compressed_threshold)
        record = _write_generation(writer, scan, drafts, embedder, previous, batch_size, progress, corpus,
                                   kind, _trained_index(writer.previous, kind))
    counts, sentence_counts = record.manifest.counts, record.manifest.sentences
    return BuildReport(index=index, generation=record.generation, documents=len(scan.statements),
                       passages=total, embedded=counts.embedded, reused=counts.reused,
                       skipped=scan.skipped, seconds=time.perf_counter() - began,
                       sentences=sentence_counts["count"], sentences_embedded=sentence_counts["embedded"],
                       path=record.path, previous_generation=record.previous.generation if record.previous else None,
                       previous_path=record.previous.path if record.previous else None,
                       new_passage_ids=record.new_passage_ids, record=record)


def _write_generation(writer: GenerationWriter, scan: CorpusScan, drafts: list[list[PassageDraft]],
                      embedder: Embedder, previous: Previous, batch_size: int, progress: bool, corpus: Path,
                      index_type: str = "flat", trained: FaissIndex | None = None) -> PublishedGeneration:
    """The writer's steps for a full build: embed (or reuse), then every file, then manifest and publish."""
    tmp = writer.stage()
    rows = statement_rows(scan.statements, drafts, embedder)  # a full build: position = passage id
    vectors, new_ids = passage_vectors(rows.texts, rows.hashes, embedder, previous, batch_size, progress)
    sentence_vecs, sentences_embedded = sentence_vectors(rows.sentence_spans, rows.sentence_texts, rows.hashes,
                                                         embedder, previous, batch_size, progress)
    writer.step("embed")
    db = StoreWriter.create(tmp / DB_FILE)
    try:
        db.write(rows.documents, rows.passages)
    finally:
        db.close()
    np.save(tmp / VECTORS_FILE, vectors)
    sentences.write(tmp, sentence_vecs, np.asarray(rows.sentence_spans, dtype=np.int32).reshape(-1, 3))
    writer.step("sqlite_vectors")
    # The "no strong match" line's measurement for this corpus (search/weak.py): the probes' best
    # cosine to any passage or sentence, the score the ranking uses.
    probes = measure_probes(embedder, vectors, sentence_vecs, batch_size)
    vector_index = FaissIndex.build(vectors, None, index_type, trained=trained)
    vector_index.save(tmp)
    keyword_index = KeywordIndex.build(rows.texts, rows.languages)
    keyword_index.save(tmp)
    writer.step("indexes")
    n_spans = len(rows.sentence_spans)
    manifest = writer.manifest(
        model=ModelInfo(embedder.name, embedder.sha256, embedder.backend),
        dimension=embedder.dimension,
        counts=Counts(documents=len(rows.documents), passages=len(rows.passages), embedded=len(new_ids),
                      reused=len(rows.texts) - len(new_ids)),
        # Every generation rebuilds its vector index from vectors.npy (the canonical vectors); ivf and
        # ivfpq reuse the live generation's trained lists unless the manifest's drift says retrain.
        index={**vector_index.spec(), "rebuilt": "from vectors.npy"},
        keyword=keyword_index.spec(),
        sentences={"file": sentences.SENTENCES_FILE, "spans": sentences.SPANS_FILE,
                   "dtype": np.dtype(sentences.DTYPE).name, "count": n_spans,
                   "embedded": sentences_embedded, "reused": n_spans - sentences_embedded},
        encoder=_save_encoder(embedder, tmp),
        probes=tuple(round(float(p), 4) for p in probes),
        corpus={"path": str(corpus.resolve()), "fingerprint": scan.fingerprint,
                "skipped": [p for p, _ in scan.skipped]})
    return writer.publish(manifest, new_passage_ids=new_ids, added_passage_ids=np.arange(len(rows.texts)),
                          renumbered=True)


def _save_encoder(embedder: Embedder, directory: Path) -> dict:
    """Store the question encoder in the generation when the backend can (ONNX): a replica then needs no
    export step and cannot pair these vectors with another encoder. The manifest block, or {}."""
    save = getattr(embedder, "save_encoder", None)
    return save(directory / ENCODER_DIR) if save is not None else {}
