"""build_index: corpus folder → passages → embeddings → a new index generation, swapped in atomically."""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from . import layout, sentences, store
from .embedder import Embedder
from .errors import CorpusError
from .integrity import file_table
from .keyword import KeywordIndex
from .manifest import Counts, Manifest, ModelInfo, read_manifest, write_manifest
from .passages import PassageDraft, split_statement, statement_heading
from .probes import measure_probes
from .reuse import Previous, passage_hash
from .statements import Statement, scan_corpus
from .vectors import COMPRESSED_THRESHOLD, FaissIndex, choose_index_type

log = logging.getLogger(__name__)
DB_FILE, VECTORS_FILE, ENCODER_DIR = layout.DB_FILE, layout.VECTORS_FILE, layout.ENCODER_DIR


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
    sentences: int = 0
    sentences_embedded: int = 0


def _trained_index(index: Path, index_type: str) -> FaissIndex | None:
    """The live generation's trained ivf/ivfpq index of this type, unless its drift says retrain."""
    live = layout.current_generation(index)
    if live is None or index_type not in ("ivf", "ivfpq"):
        return None
    try:
        spec = read_manifest(live).index
        if spec.get("type") != index_type:
            return None
        previous = FaissIndex.load(live, spec, mmap=False)
    except Exception as exc:  # an unusable old index only means training again
        log.info("not reusing the trained index of %s: %s", live, exc)
        return None
    return None if previous.needs_retrain else previous


def _split(statements: list[Statement], embedder: Embedder) -> list[list[PassageDraft]]:
    return [split_statement(st.text, embedder.passage_limit, embedder.count_tokens,
                            statement_heading(st.speaker, st.title, st.text)) for st in statements]


@dataclass
class Rows:
    """What a set of statements writes: SQLite rows, the texts to embed, and their sentences."""

    documents: list[tuple] = field(default_factory=list)
    passages: list[tuple] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)       # passage i's indexed text (heading, context, text)
    hashes: list[str] = field(default_factory=list)      # passage i's reuse key
    sentence_spans: list[tuple[int, int, int]] = field(default_factory=list)  # (i, start, end), grouped by i
    sentence_texts: list[str] = field(default_factory=list)


def statement_rows(statements: list[Statement], drafts: list[list[PassageDraft]], embedder: Embedder,
                   first: int = 0) -> Rows:
    """The rows of `statements` split into `drafts`; passage ids start at `first`. In `texts`, `hashes` and
    `sentence_spans`, i counts these passages from 0 (the position in this batch, `first` less than the id)."""
    rows = Rows()
    for st, ds in zip(statements, drafts):
        rows.documents.append((st.id, st.title, st.speaker, st.date, st.source,
                               json.dumps(st.extra, ensure_ascii=False, sort_keys=True), st.path, st.text, len(ds)))
        for ordinal, d in enumerate(ds, 1):
            i = len(rows.texts)
            h = passage_hash(embedder.sha256, d.embed_text)
            rows.passages.append((first + i, st.id, ordinal, d.paragraph, d.part, d.start, d.end, d.context, d.text, h))
            rows.texts.append(d.embed_text)
            rows.hashes.append(h)
            spans = sentences.passage_sentences(d)
            rows.sentence_spans.extend((i, a, b) for a, b in spans)
            rows.sentence_texts.extend(sentences.embed_texts(d, spans))
    return rows


def package_version() -> str:
    try:
        return metadata.version("statement-search")
    except metadata.PackageNotFoundError:
        return "0+unknown"


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
    drafts = _split(scan.statements, embedder)
    total = sum(len(d) for d in drafts)
    if total == 0:
        raise CorpusError(f"no statements with text found under {corpus}; the existing index is unchanged")

    batch_size = batch_size or embedder.batch_size  # 0: the backend's measured best
    with layout.build_lock(index):
        layout.cleanup(index)
        previous = Previous.of(index, embedder)
        tmp = layout.temporary_dir(index)
        try:
            kind = choose_index_type(index_type, total, ann_threshold, compressed_threshold)
            report = _write_generation(tmp, scan, drafts, embedder, previous, batch_size, progress, corpus,
                                      kind, _trained_index(index, kind))
            layout.publish(tmp, index, report.generation)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        layout.cleanup(index)
    return BuildReport(index=index, generation=report.generation, documents=len(scan.statements),
                       passages=total, embedded=report.counts.embedded, reused=report.counts.reused,
                       skipped=scan.skipped, seconds=time.perf_counter() - began,
                       sentences=report.sentences["count"], sentences_embedded=report.sentences["embedded"])


def _write_generation(tmp: Path, scan, drafts, embedder: Embedder, previous: Previous,
                      batch_size: int, progress: bool, corpus: Path, index_type: str = "flat",
                      trained: FaissIndex | None = None) -> Manifest:
    generation = layout.new_generation_id()
    rows = statement_rows(scan.statements, drafts, embedder)  # a full build: position = passage id
    doc_rows, passage_rows, texts, hashes = rows.documents, rows.passages, rows.texts, rows.hashes
    sentence_spans, sentence_texts = rows.sentence_spans, rows.sentence_texts

    vectors, embedded = _passage_vectors(texts, hashes, embedder, previous, batch_size, progress)
    sentence_vectors, sentences_embedded = _sentence_vectors(sentence_spans, sentence_texts, hashes, embedder,
                                                             previous, batch_size, progress)
    conn = store.create(tmp / DB_FILE)
    with conn:
        store.insert_documents(conn, doc_rows)
        store.insert_passages(conn, passage_rows)
    conn.close()
    np.save(tmp / VECTORS_FILE, vectors)
    sentences.write(tmp, sentence_vectors, np.asarray(sentence_spans, dtype=np.int32).reshape(-1, 3))
    # The "no strong match" line's measurement for this corpus (search/weak.py): the probes' best
    # cosine to any passage or sentence, the score the ranking uses.
    probes = measure_probes(embedder, vectors, sentence_vectors, batch_size)
    vector_index = FaissIndex.build(vectors, None, index_type, trained=trained)
    vector_index.save(tmp)
    keyword_index = KeywordIndex.build(texts)
    keyword_index.save(tmp)
    manifest = Manifest(
        generation=generation,
        model=ModelInfo(embedder.name, embedder.sha256, embedder.backend),
        dimension=embedder.dimension,
        counts=Counts(documents=len(doc_rows), passages=len(passage_rows), embedded=embedded,
                      reused=len(texts) - embedded),
        # Every generation rebuilds its vector index from vectors.npy (the canonical vectors); ivf and
        # ivfpq reuse the live generation's trained lists unless the manifest's drift says retrain.
        index={**vector_index.spec(), "rebuilt": "from vectors.npy"},
        keyword=keyword_index.spec(),
        sentences={"file": sentences.SENTENCES_FILE, "spans": sentences.SPANS_FILE,
                   "dtype": np.dtype(sentences.DTYPE).name, "count": len(sentence_spans),
                   "embedded": sentences_embedded, "reused": len(sentence_spans) - sentences_embedded},
        encoder=_save_encoder(embedder, tmp),
        probes=tuple(round(float(p), 4) for p in probes),
        corpus={"path": str(corpus.resolve()), "fingerprint": scan.fingerprint,
                "skipped": [p for p, _ in scan.skipped]},
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        package_version=package_version(),
        files=file_table(tmp),  # every file's size and sha256, checked at load (index.integrity)
    )
    write_manifest(tmp, manifest)
    return manifest


def _passage_vectors(texts: list[str], hashes: list[str], embedder: Embedder, previous: Previous,
                     batch_size: int, progress: bool) -> tuple[np.ndarray, int]:
    """Every passage's vector, reused by hash or embedded; and how many were embedded."""
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = []
    for i, h in enumerate(hashes):
        if h in previous.passages:
            vectors[i] = previous.passages[h]
        else:
            todo.append(i)
    if todo:
        vectors[todo] = embedder.encode([texts[i] for i in todo], batch_size=batch_size, progress=progress)
    return vectors, len(todo)


def _sentence_vectors(spans: list[tuple[int, int, int]], texts: list[str], hashes: list[str], embedder: Embedder,
                      previous: Previous, batch_size: int, progress: bool) -> tuple[np.ndarray, int]:
    """Every sentence row's vector: a passage whose hash the live generation holds reuses its sentences."""
    vectors = np.zeros((len(spans), embedder.dimension), dtype=np.float32)
    todo: list[int] = []
    row = 0
    while row < len(spans):
        pid = spans[row][0]
        end = row
        while end < len(spans) and spans[end][0] == pid:
            end += 1
        old = previous.sentence_vectors(hashes[pid])
        if old is not None and len(old) == end - row:
            vectors[row:end] = old
        else:
            todo.extend(range(row, end))
        row = end
    if todo:
        vectors[todo] = embedder.encode([texts[i] for i in todo], batch_size=batch_size, progress=progress)
    return vectors, len(todo)


def _save_encoder(embedder: Embedder, directory: Path) -> dict:
    """Store the question encoder in the generation when the backend can (ONNX): a replica then needs no
    export step and cannot pair these vectors with another encoder. The manifest block, or {}."""
    save = getattr(embedder, "save_encoder", None)
    return save(directory / ENCODER_DIR) if save is not None else {}
