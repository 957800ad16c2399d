"""build_index: corpus folder → passages → embeddings → a new index generation, swapped in atomically."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from . import layout, store
from .embedder import Embedder
from .errors import CorpusError
from .keyword import KeywordIndex
from .integrity import file_table
from .manifest import Counts, Manifest, ModelInfo, check_model, read_manifest, write_manifest
from .passages import PassageDraft, split_statement
from .probes import PROBES, probe_top1
from .statements import Statement, scan_corpus
from .vectors import FaissIndex, choose_index_type

log = logging.getLogger(__name__)
DB_FILE = "passages.sqlite"
VECTORS_FILE = "vectors.npy"


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


def _previous_vectors(index: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the live generation keyed by passage hash, when it was built by the same model."""
    live = layout.current_generation(index)
    if live is None:
        return {}
    try:
        manifest = read_manifest(live)
        check_model(manifest, live, embedder.name, embedder.sha256)
        built_with = manifest.model.backend
        if built_with != embedder.backend:  # int8 vectors differ slightly from fp32
            raise ValueError(f"built with the {built_with} backend")
        vectors = np.load(live / VECTORS_FILE, mmap_mode="r")
        rows = store.PassageStore(live / DB_FILE).hashes()
    except Exception as exc:  # an unusable old index only means nothing is reused
        log.info("not reusing vectors from %s: %s", live, exc)
        return {}
    return {h: vectors[i] for i, h in rows}


def _split(statements: list[Statement], embedder: Embedder) -> list[list[PassageDraft]]:
    return [split_statement(st.text, embedder.passage_limit, embedder.count_tokens) for st in statements]


def package_version() -> str:
    try:
        return metadata.version("statement-search")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_index(corpus: Path, index: Path, embedder: Embedder, batch_size: int = 64,
                progress: bool = False, index_type: str = "auto", ann_threshold: int = 100_000) -> BuildReport:
    """Index every statement under `corpus` into a new generation of `index`; reuse unchanged vectors."""
    began = time.perf_counter()
    corpus, index = Path(corpus), Path(index)
    if not corpus.is_dir():
        raise CorpusError(f"corpus folder {corpus} does not exist or is not a folder; the existing index is unchanged")
    if index.exists() and not index.is_symlink():
        raise CorpusError(f"{index} is a plain folder, not an index link made by rebuild-index: "
                          "move it away or choose another --index", code="index_not_link")
    scan = scan_corpus(corpus)
    drafts = _split(scan.statements, embedder)
    total = sum(len(d) for d in drafts)
    if total == 0:
        raise CorpusError(f"no statements with text found under {corpus}; the existing index is unchanged")

    batch_size = batch_size or embedder.batch_size  # 0: the backend's measured best
    with layout.build_lock(index):
        layout.cleanup(index)
        previous = _previous_vectors(index, embedder)
        tmp = layout.temporary_dir(index)
        try:
            report = _write_generation(tmp, scan, drafts, embedder, previous, batch_size, progress, corpus,
                                      choose_index_type(index_type, total, ann_threshold))
            layout.publish(tmp, index, report.generation)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        layout.cleanup(index)
    return BuildReport(index=index, generation=report.generation, documents=len(scan.statements),
                       passages=total, embedded=report.counts.embedded, reused=report.counts.reused,
                       skipped=scan.skipped, seconds=time.perf_counter() - began)


def _write_generation(tmp: Path, scan, drafts, embedder: Embedder, previous: dict[str, np.ndarray],
                      batch_size: int, progress: bool, corpus: Path, index_type: str = "flat") -> Manifest:
    generation = layout.new_generation_id()
    doc_rows, passage_rows, texts, hashes = [], [], [], []
    pid = 0
    for st, ds in zip(scan.statements, drafts):
        doc_rows.append((st.id, st.title, st.speaker, st.date, st.source,
                         json.dumps(st.extra, ensure_ascii=False, sort_keys=True), st.path, st.text, len(ds)))
        for ordinal, d in enumerate(ds, 1):
            h = passage_hash(embedder.sha256, d.embed_text)
            passage_rows.append((pid, st.id, ordinal, d.paragraph, d.part, d.start, d.end, d.context, d.text, h))
            texts.append(d.embed_text)
            hashes.append(h)
            pid += 1

    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = [i for i, h in enumerate(hashes) if h not in previous]
    for i, h in enumerate(hashes):
        if h in previous:
            vectors[i] = previous[h]
    if todo:
        vectors[todo] = embedder.encode([texts[i] for i in todo], batch_size=batch_size, progress=progress)

    conn = store.create(tmp / DB_FILE)
    with conn:
        store.insert_documents(conn, doc_rows)
        store.insert_passages(conn, passage_rows)
    conn.close()
    np.save(tmp / VECTORS_FILE, vectors)
    # The "no strong match" line's measurement for this corpus (search/weak.py).
    probes = probe_top1(embedder.encode(list(PROBES), batch_size=batch_size), vectors)
    vector_index = FaissIndex.build(vectors, np.arange(len(vectors)), index_type)
    vector_index.save(tmp)
    keyword_index = KeywordIndex.build(texts)
    keyword_index.save(tmp)
    manifest = Manifest(
        generation=generation,
        model=ModelInfo(embedder.name, embedder.sha256, embedder.backend),
        dimension=embedder.dimension,
        counts=Counts(documents=len(doc_rows), passages=len(passage_rows), embedded=len(todo),
                      reused=len(texts) - len(todo)),
        # Every generation rebuilds its vector index in full from vectors.npy (the canonical vectors),
        # so deletions and incremental builds need no in-place ANN updates.
        index={"type": index_type, "params": vector_index.params, "file": "index.faiss",
               "factory": {"flat": "IDMap2,FlatIP", "hnsw": "IDMap2,HNSWFlat", "ivf": "IDMap2,IVFFlat"}[index_type],
               "rebuilt": "full, from vectors.npy"},
        keyword=keyword_index.spec(),
        probes=tuple(probes),
        corpus={"path": str(corpus.resolve()), "fingerprint": scan.fingerprint,
                "skipped": [p for p, _ in scan.skipped]},
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        package_version=package_version(),
        files=file_table(tmp),  # every file's size and sha256, checked at load (index.integrity)
    )
    write_manifest(tmp, manifest)
    return manifest
