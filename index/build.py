"""build_index: corpus folder → passages → embeddings → a new index generation, swapped in atomically."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from search.errors import CorpusError

from . import layout, store
from .manifest import FORMAT_VERSION, check_model, read_manifest, write_manifest
from .passages import PassageDraft, split_statement
from .probes import PROBE_KEY, PROBES, probe_top1
from .statements import Statement, scan_corpus
from .keyword import KeywordIndex
from .vectors import FaissIndex, choose_index_type

log = logging.getLogger(__name__)
DB_FILE = "passages.sqlite"
VECTORS_FILE = "vectors.npy"


class Encoder(Protocol):
    name: str
    sha256: str
    dimension: int
    passage_limit: int

    def count_tokens(self, text: str) -> int: ...
    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class BuildReport:
    index: Path
    generation: str
    documents: int
    passages: int
    embedded: int
    reused: int
    skipped: list[tuple[str, str]]
    seconds: float


def passage_hash(model_sha: str, text: str) -> str:
    return hashlib.sha256(f"{model_sha}\0{text}".encode()).hexdigest()


def _previous_vectors(index: Path, encoder: Encoder) -> dict[str, np.ndarray]:
    """Vectors of the live generation keyed by passage hash, when it was built by the same model."""
    live = layout.current_generation(index)
    if live is None:
        return {}
    try:
        manifest = read_manifest(live)
        check_model(manifest, live, encoder.name, encoder.sha256)
        built_with = manifest["model"].get("backend", "torch")
        if built_with != getattr(encoder, "backend", "torch"):  # int8 vectors differ slightly from fp32
            raise ValueError(f"built with the {built_with} backend")
        vectors = np.load(live / VECTORS_FILE, mmap_mode="r")
        rows = store.PassageStore(live / DB_FILE).hashes()
    except Exception as exc:  # an unusable old index only means nothing is reused
        log.info("not reusing vectors from %s: %s", live, exc)
        return {}
    return {h: vectors[i] for i, h in rows}


def _trained_index(index: Path, index_type: str) -> FaissIndex | None:
    """The live generation's trained ivf/ivfpq index of this type, unless its drift says retrain."""
    live = layout.current_generation(index)
    if live is None or index_type not in ("ivf", "ivfpq"):
        return None
    try:
        spec = read_manifest(live)["index"]
        if spec.get("type") != index_type:
            return None
        previous = FaissIndex.load(live, spec, mmap=False)
    except Exception as exc:  # an unusable old index only means training again
        log.info("not reusing the trained index of %s: %s", live, exc)
        return None
    return None if previous.needs_retrain else previous


def _split(statements: list[Statement], encoder: Encoder) -> list[list[PassageDraft]]:
    return [split_statement(st.text, encoder.passage_limit, encoder.count_tokens) for st in statements]


def package_version() -> str:
    try:
        return metadata.version("statement-search")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_index(corpus: Path, index: Path, encoder: Encoder, batch_size: int = 64,
                progress: bool = False, index_type: str = "auto", ann_threshold: int = 100_000) -> BuildReport:
    """Index every statement under `corpus` into a new generation of `index`; reuse unchanged vectors."""
    began = time.perf_counter()
    corpus, index = Path(corpus), Path(index)
    if not corpus.is_dir():
        raise CorpusError(f"corpus folder {corpus} does not exist or is not a folder")
    scan = scan_corpus(corpus)
    drafts = _split(scan.statements, encoder)
    total = sum(len(d) for d in drafts)
    if total == 0:
        raise CorpusError(f"no statements with text found under {corpus}; the existing index is unchanged")

    batch_size = batch_size or getattr(encoder, "batch_size", 32)  # 0: the backend's measured best
    with layout.build_lock(index):
        layout.cleanup(index)
        previous = _previous_vectors(index, encoder)
        tmp = layout.temporary_dir(index)
        try:
            kind = choose_index_type(index_type, total, ann_threshold)
            report = _write_generation(tmp, scan, drafts, encoder, previous, batch_size, progress, corpus,
                                      kind, _trained_index(index, kind))
            layout.publish(tmp, index, report["generation"])
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        layout.cleanup(index)
    return BuildReport(index=index, generation=report["generation"], documents=len(scan.statements),
                       passages=total, embedded=report["embedded"], reused=report["reused"],
                       skipped=scan.skipped, seconds=time.perf_counter() - began)


def _write_generation(tmp: Path, scan, drafts, encoder: Encoder, previous: dict[str, np.ndarray],
                      batch_size: int, progress: bool, corpus: Path, index_type: str = "flat",
                      trained: FaissIndex | None = None) -> dict:
    generation = layout.new_generation_id()
    doc_rows, passage_rows, texts, hashes = [], [], [], []
    pid = 0
    for st, ds in zip(scan.statements, drafts):
        doc_rows.append((st.id, st.title, st.speaker, st.date, st.source,
                         json.dumps(st.extra, ensure_ascii=False, sort_keys=True), st.path, st.text, len(ds)))
        for ordinal, d in enumerate(ds, 1):
            h = passage_hash(encoder.sha256, d.embed_text)
            passage_rows.append((pid, st.id, ordinal, d.paragraph, d.part, d.start, d.end, d.context, d.text, h))
            texts.append(d.embed_text)
            hashes.append(h)
            pid += 1

    vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    todo = [i for i, h in enumerate(hashes) if h not in previous]
    for i, h in enumerate(hashes):
        if h in previous:
            vectors[i] = previous[h]
    if todo:
        vectors[todo] = encoder.encode([texts[i] for i in todo], batch_size=batch_size, progress=progress)

    conn = store.create(tmp / DB_FILE)
    with conn:
        store.insert_documents(conn, doc_rows)
        store.insert_passages(conn, passage_rows)
    conn.close()
    np.save(tmp / VECTORS_FILE, vectors)
    # The "no strong match" line's measurement for this corpus (search/weak.py).
    probes = probe_top1(encoder.encode(list(PROBES), batch_size=batch_size), vectors)
    vector_index = FaissIndex.build(vectors, None, index_type, trained=trained)
    vector_index.save(tmp)
    KeywordIndex.build(texts).save(tmp)
    write_manifest(tmp, {
        "format_version": FORMAT_VERSION,
        "generation": generation,
        "model": {"name": encoder.name, "sha256": encoder.sha256, "backend": getattr(encoder, "backend", "torch")},
        "dimension": encoder.dimension,
        "normalized": True,
        "metric": "inner_product",
        # Every generation adds all of vectors.npy (the canonical vectors) to a fresh index; ivf types
        # reuse the live generation's trained centres until its drift passes params.retrain_above.
        "index": {**vector_index.spec(), "rebuilt": "full, from vectors.npy"},
        "keyword": {"type": "bm25s", "k1": 1.2, "b": 0.75, "method": "lucene", "stemmer": "english",
                    "stopwords": "en", "dir": "bm25"},
        PROBE_KEY: {"count": len(probes), "top1": probes, "source": "index/probes.py"},
        "counts": {"documents": len(doc_rows), "passages": len(passage_rows),
                   "embedded": len(todo), "reused": len(texts) - len(todo)},
        "corpus": {"path": str(corpus.resolve()), "fingerprint": scan.fingerprint,
                   "skipped": [p for p, _ in scan.skipped]},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "package_version": package_version(),
    })
    return {"generation": generation, "embedded": len(todo), "reused": len(texts) - len(todo)}
