"""Live additions and removals: a new generation made from the live one, at a cost that follows the change.

`update_statements` (and its two faces `add_statements`, `remove_statements`) reads the given files,
drops the statements it replaces or removes, and writes a new generation through the same generation
writer as `index.build.build_index` (index/writer.py: lock, temporary folder, one Manifest, atomic
publish, cleanup), without scanning the corpus:

- passage ids stay stable: new passages get ids after the last one (rows appended to vectors.npy and to
  the sentence files); removed passages leave their rows and FAISS entries in place as tombstones
  (`tombstones.npy`, listed in the manifest's index block) that the search never returns
  (`FaissIndex.set_removed`). Their statements and passages are deleted from SQLite, so document views,
  filters and facets no longer see them. The next full `rebuild-index` renumbers and drops them.
- the vector index is never rebuilt: flat and hnsw load the live index.faiss and `add_with_ids` the new
  vectors; ivf/ivfpq add to their trained lists (drift tracked as in a full build); a removal copies it.
- only new text is embedded: a new passage whose hash the live generation holds takes its vectors.
- BM25 is updated, not rebuilt: `KeywordIndex.updated` recovers each stored entry's term frequency from
  its score and the stored passage lengths, analyses only the new passages and rescores every entry with
  the new statistics, so the result equals a rebuild (a removed passage counts as empty text). A rebuild
  took 80 s at 1M passages here, the update a few seconds (docs/performance.md). An index built before
  lengths were stored is rebuilt once.
- unchanged files are copied (never hard-linked: a generation is never written in place, but a copy
  keeps that true whatever a later tool does) and keep their manifest checksums; changed ones are hashed.
"""
from __future__ import annotations

import io
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout, sentences, store
from .embedder import Embedder
from .errors import CorpusError, IndexUnavailable
from .integrity import generation_files
from .keyword import KeywordIndex
from .manifest import Counts, Manifest, check_compatible, read_manifest
from .probes import measure_probes
from .reuse import Previous, passage_vectors, sentence_vectors
from .rows import Rows, split_statements, statement_rows
from .statements import Statement, scan_corpus, statement_files
from .vectors import FAISS_FILE, FaissIndex
from .writer import GenerationWriter, PublishedGeneration, generation_writer

log = logging.getLogger(__name__)
DB_FILE, VECTORS_FILE, TOMBSTONES_FILE = layout.DB_FILE, layout.VECTORS_FILE, layout.TOMBSTONES_FILE


def _no_ids() -> np.ndarray:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class UpdateReport:
    """What one incremental update did. `generation` is the new one (the live one when nothing changed).

    When `published`: `previous_generation` / `previous_path` are the generation it was made from, `path`
    the new one's directory; `new_passage_ids` the appended passages whose hash (model + embedded text) the
    previous generation did not hold, i.e. the ones embedded (what saved-search alerts evaluate; empty for
    a removal); `added_passage_ids` every appended id; `removed_passage_ids` the ids now tombstones.
    Passage ids are stable across live updates, so ids of the previous generation still mean the same."""

    index: Path
    generation: str
    published: bool
    added: tuple[str, ...] = ()        # statement ids new to the index
    replaced: tuple[str, ...] = ()     # ids the index held, now with the new file's text
    removed: tuple[str, ...] = ()      # ids removed
    passages_added: int = 0
    passages_removed: int = 0
    embedded: int = 0                  # passages embedded (the rest of the added ones reused their vectors)
    reused: int = 0
    sentences_embedded: int = 0
    documents: int = 0                 # statements in the new generation
    passages: int = 0                  # live passages in the new generation
    tombstones: int = 0                # removed passage ids still in the vector index
    vector_index: str = ""             # what happened to the vector index, in words
    keyword_index: str = ""            # and to BM25
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    previous_generation: str | None = None
    previous_path: Path | None = None
    new_passage_ids: np.ndarray = field(default_factory=_no_ids, compare=False)
    added_passage_ids: np.ndarray = field(default_factory=_no_ids, compare=False)
    removed_passage_ids: np.ndarray = field(default_factory=_no_ids, compare=False)
    record: PublishedGeneration | None = field(default=None, compare=False, repr=False)


def add_statements(paths: Sequence[Path], index: Path, embedder: Embedder, corpus: Path | None = None,
                   batch_size: int = 64, progress: bool = False) -> UpdateReport:
    """Index the statements of `paths` (files or folders) into a new generation; same ids replace."""
    return update_statements(index, embedder, add=paths, corpus=corpus, batch_size=batch_size, progress=progress)


def remove_statements(doc_ids: Sequence[str], index: Path, embedder: Embedder) -> UpdateReport:
    """A new generation without the statements `doc_ids`; CorpusError(document_not_found) for an unknown id."""
    return update_statements(index, embedder, remove=doc_ids)


def statement_ids_from(index: Path, paths: Iterable[Path]) -> list[str]:
    """Ids of the live generation's statements read from `paths` (a file's own, its `file:line` and
    `file#part` ones): what deleting those files removes (index/watch.py)."""
    live = layout.current_generation(Path(index))
    if live is None:
        return []
    wanted = {str(Path(p).absolute()) for p in paths}
    st = store.PassageStore(live / DB_FILE)
    try:
        rows = st.document_paths()
    finally:
        st.close()
    out = []
    for doc_id, path in rows:
        full = str(Path(path).absolute())
        if full in wanted or any(full.startswith(w) and full[len(w)] in ":#" for w in wanted if len(full) > len(w)):
            out.append(doc_id)
    return out


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, and every statement file under folders named; CorpusError for a path that is not there."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(statement_files(p))
        elif p.is_file():
            out.append(p)
        else:
            raise CorpusError(f"{p} does not exist; the index is unchanged", code="file_not_found")
    return list(dict.fromkeys(out))


def update_statements(index: Path, embedder: Embedder, add: Sequence[Path] = (), remove: Sequence[str] = (),
                      corpus: Path | None = None, batch_size: int = 64, progress: bool = False,
                      missing_ok: bool = False) -> UpdateReport:
    """One new generation that adds (or replaces) the statements of `add` and drops those of `remove`.

    Ids of files under the corpus folder (`corpus`, default the manifest's corpus.path) are what a full
    rebuild gives them; a file outside it is named by its file name without extension. Nothing readable
    in `add` raises CorpusError (nothing_readable) and leaves the live generation as it was; so does an
    unknown id in `remove` (document_not_found) unless `missing_ok`."""
    began = time.perf_counter()
    index = Path(index)
    files = expand_paths(add)
    batch_size = batch_size or embedder.batch_size
    with generation_writer(index) as writer:
        if writer.previous is None:
            raise IndexUnavailable(f"no index at {index} yet: run `statement-search rebuild-index --index {index}` "
                                   "first", code="index_missing")
        live = writer.previous.path
        manifest = read_manifest(live)
        check_compatible(manifest, index, embedder)
        root = Path(corpus or manifest.corpus.get("path") or ".")
        scan = scan_corpus(root, files=files) if files else None
        statements = scan.statements if scan else []
        skipped = list(scan.skipped) if scan else []
        if files and not statements:
            reasons = "; ".join(f"{p}: {why}" for p, why in skipped) or "no statements with text"
            raise CorpusError(f"nothing could be read from {', '.join(str(f) for f in files)} ({reasons}); "
                              "the index is unchanged", code="nothing_readable")
        old = store.PassageStore(live / DB_FILE)
        try:
            known = {doc_id for doc_id, _ in old.document_paths()}
            unknown = [d for d in dict.fromkeys(remove) if d not in known]
            if unknown and not missing_ok:
                raise CorpusError(f"no statement with id {', '.join(repr(d) for d in unknown[:5])} in {index}; "
                                  "the index is unchanged", code="document_not_found")
            new_ids = {st.id for st in statements}
            removed = [d for d in dict.fromkeys(remove) if d in known and d not in new_ids]
            replaced = [st.id for st in statements if st.id in known]
            if not statements and not removed:
                return UpdateReport(index, manifest.generation, False, skipped=skipped,
                                    documents=manifest.counts.documents, passages=manifest.counts.passages,
                                    seconds=time.perf_counter() - began)
            change = _Change(statements, removed + replaced, old.passage_ids_of(removed + replaced),
                             len(removed))
            record, outcome = _write(writer, manifest, old, change, embedder, batch_size, progress)
        finally:
            old.close()
    log.info("published %s; seconds by step: %s", record.path, record.timings)
    return UpdateReport(index=index, published=True, added=tuple(st.id for st in statements if st.id not in known),
                        replaced=tuple(replaced), removed=tuple(removed), skipped=skipped,
                        seconds=time.perf_counter() - began, generation=record.generation,
                        passages_added=len(record.added_passage_ids), passages_removed=len(change.gone),
                        embedded=len(record.new_passage_ids), reused=record.manifest.counts.reused,
                        sentences_embedded=int(record.manifest.sentences["embedded"]),
                        documents=record.manifest.counts.documents, passages=record.manifest.counts.passages,
                        tombstones=outcome.tombstones, vector_index=outcome.vector_index,
                        keyword_index=outcome.keyword_index, timings=dict(record.timings), path=record.path,
                        previous_generation=writer.previous.generation, previous_path=live,
                        new_passage_ids=record.new_passage_ids, added_passage_ids=record.added_passage_ids,
                        removed_passage_ids=np.asarray(change.gone, dtype=np.int64), record=record)


@dataclass(frozen=True)
class _Change:
    """What an update changes, decided before anything is written."""

    statements: list[Statement]  # to add (new ids) or replace (known ids)
    dropped_docs: list[str]      # statement ids leaving the index: removed, then replaced
    gone: list[int]              # their passage ids, tombstones from now on
    removed_only: int            # how many of `dropped_docs` are removals (the rest are replaced)


@dataclass(frozen=True)
class _NewPassages:
    """The added statements' rows and vectors; positions count from 0, passage ids from `first`."""

    first: int
    rows: Rows
    vectors: np.ndarray
    embedded: np.ndarray         # positions whose vectors were embedded (hash new to the index)
    sentence_vectors: np.ndarray
    sentences_embedded: int

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first, self.first + len(self.vectors), dtype=np.int64)


@dataclass(frozen=True)
class _Outcome:
    """What the update did to the vector index and BM25, in words, for the report."""

    vector_index: str
    keyword_index: str
    tombstones: int


def _write(writer: GenerationWriter, manifest: Manifest, old: store.PassageStore, change: _Change,
           embedder: Embedder, batch_size: int, progress: bool) -> tuple[PublishedGeneration, _Outcome]:
    """The writer's steps for a live update, each timed under its name."""
    assert writer.previous is not None
    live = writer.previous.path
    tmp = writer.stage()
    new = _embed(live, manifest, old, change.statements, embedder, batch_size, progress, writer.step)
    writer.step("embed")
    documents, passages = _write_store(live, tmp, new.rows, change.dropped_docs)
    writer.step("sqlite")
    copied = _append_vectors(live, tmp, new, manifest.dimension)
    writer.step("copy_vectors")
    spec, what, tombstones, faiss_copied = _update_vector_index(live, tmp, manifest, new, change.gone)
    writer.step("vector_index")
    keyword = _update_keyword(live, tmp, new, change.gone)
    writer.step("bm25")
    probes = _probes(manifest, embedder, new, batch_size)
    copied += faiss_copied + _copy_encoder(live, tmp)
    writer.step("probes_encoder")
    n_new, n_spans = len(new.rows.texts), len(new.rows.sentence_spans)
    published = writer.manifest(
        model=manifest.model, dimension=manifest.dimension,
        counts=Counts(documents=documents, passages=passages, embedded=len(new.embedded),
                      reused=n_new - len(new.embedded)),
        index=spec, keyword=keyword.spec(),
        sentences={**manifest.sentences, "count": int(manifest.sentences.get("count", 0)) + n_spans,
                   "embedded": new.sentences_embedded, "reused": n_spans - new.sentences_embedded},
        encoder=manifest.encoder, probes=probes,
        # The corpus fingerprint is the last full scan's; `updates` counts what changed since then.
        corpus={**manifest.corpus, "updates": _history(manifest, change)},
        unchanged={rel: manifest.files[rel] for rel in copied if rel in manifest.files})
    record = writer.publish(published, new_passage_ids=new.first + new.embedded, added_passage_ids=new.ids)
    return record, _Outcome(what, keyword.how, tombstones)


def _embed(live: Path, manifest: Manifest, old: store.PassageStore, statements: list[Statement],
           embedder: Embedder, batch_size: int, progress: bool, step: Callable[[str], None]) -> _NewPassages:
    """Split the added statements and take their vectors: reused by hash (looking up only the new
    passages' hashes, not the whole live generation), or embedded."""
    first = int(np.load(live / VECTORS_FILE, mmap_mode="r").shape[0])  # new ids follow every id the index holds
    rows = statement_rows(statements, split_statements(statements, embedder), embedder, first)
    step("read_split")
    previous = Previous.of_hashes(live, old.ids_by_hash(rows.hashes), bool(manifest.sentences))
    vectors, embedded = passage_vectors(rows.texts, rows.hashes, embedder, previous, batch_size, progress)
    sentence_vecs, sentences_embedded = sentence_vectors(rows.sentence_spans, rows.sentence_texts, rows.hashes,
                                                         embedder, previous, batch_size, progress)
    return _NewPassages(first, rows, vectors, embedded, sentence_vecs, sentences_embedded)


def _write_store(live: Path, tmp: Path, rows: Rows, dropped_docs: list[str]) -> tuple[int, int]:
    """The live SQLite file copied, dropped statements deleted, new ones inserted: (statements, passages).
    CorpusError (index_would_be_empty) when no passage would be left."""
    db = store.StoreWriter.copy_of(live / DB_FILE, tmp / DB_FILE)
    try:
        db.write(rows.documents, rows.passages, delete=dropped_docs)
        documents, passages = db.counts()
    finally:
        db.close()
    if passages == 0:
        raise CorpusError("this would leave the index without any statement; the index is unchanged",
                          code="index_would_be_empty")
    return documents, passages


def _append_vectors(live: Path, tmp: Path, new: _NewPassages, dimension: int) -> list[str]:
    """vectors.npy and the sentence files with the new rows appended; the files left as they were."""
    spans = np.asarray([(new.first + p, a, b) for p, a, b in new.rows.sentence_spans], dtype=np.int32).reshape(-1, 3)
    _append_rows(live / VECTORS_FILE, tmp / VECTORS_FILE, new.vectors)
    _append_rows(live / sentences.SENTENCES_FILE, tmp / sentences.SENTENCES_FILE,
                 np.asarray(new.sentence_vectors, dtype=sentences.DTYPE).reshape(-1, dimension))
    _append_rows(live / sentences.SPANS_FILE, tmp / sentences.SPANS_FILE, spans)
    return [] if len(new.vectors) else [VECTORS_FILE, sentences.SENTENCES_FILE, sentences.SPANS_FILE]


def _update_vector_index(live: Path, tmp: Path, manifest: Manifest, new: _NewPassages,
                         gone: list[int]) -> tuple[dict, str, int, list[str]]:
    """The live vector index with the new vectors added (`add_with_ids`) and `gone` as tombstones, or copied
    when nothing was added: (manifest index block, what happened in words, tombstones, files copied)."""
    spec = dict(manifest.index)
    old_removed = np.load(live / spec["tombstones"]["file"]) if spec.get("tombstones") else np.empty(0, np.int64)
    removed = np.union1d(old_removed, np.asarray(gone, dtype=np.int64))
    copied: list[str] = []
    if len(new.vectors):
        vector_index = FaissIndex.load(live, spec, mmap=False)
        before = len(vector_index)
        vector_index.add(new.vectors, new.ids, _keep_matrix=True)
        vector_index.set_removed(removed)
        vector_index.save(tmp)
        what = f"added {len(new.vectors)} to {vector_index.kind} (ntotal {before} -> {len(vector_index)})"
        if vector_index.needs_retrain:
            log.warning("the added vectors fit the trained lists worse than retrain_above allows (drift %.2f): "
                        "run rebuild-index to retrain", vector_index.drift)
        spec = {**vector_index.spec(), "rebuilt": spec.get("rebuilt", "from vectors.npy")}
    else:
        shutil.copyfile(live / spec.get("file", FAISS_FILE), tmp / spec.get("file", FAISS_FILE))
        copied.append(spec.get("file", FAISS_FILE))
        np.save(tmp / TOMBSTONES_FILE, removed)
        spec["tombstones"] = {"file": TOMBSTONES_FILE, "count": int(len(removed))}
        what = f"unchanged {spec['type']} ({new.first} ids)"
    if len(removed):
        what += f", {len(removed)} tombstones"
    spec["updated"] = "incremental: added with add_with_ids, removed as tombstones"
    return spec, what, int(len(removed)), copied


@dataclass(frozen=True)
class _Keyword:
    index: KeywordIndex
    how: str

    def spec(self) -> dict:
        return self.index.spec()


def _update_keyword(live: Path, tmp: Path, new: _NewPassages, gone: list[int]) -> _Keyword:
    """BM25 as a build over every passage id would score it (removed ones as empty text, so ids stay
    positions and never match): updated from the live index's stored entries and passage lengths, or
    rebuilt from the texts when the live index predates stored lengths."""
    texts = new.rows.texts
    try:
        keyword = KeywordIndex.load(live).updated(texts, gone, new.rows.languages)
        how = f"updated ({len(texts)} new passage{'' if len(texts) == 1 else 's'} analysed)"
    except ValueError as exc:
        log.info("rebuilding BM25: %s", exc)
        written = store.PassageStore(tmp / DB_FILE)
        keyword_texts = [""] * (new.first + len(texts))
        for pid, text in written.keyword_texts():
            keyword_texts[pid] = text
        written.close()
        keyword = KeywordIndex.build(keyword_texts)
        how = f"rebuilt ({len(keyword_texts)} passages analysed)"
    keyword.save(tmp)
    return _Keyword(keyword, how)


def _probes(manifest: Manifest, embedder: Embedder, new: _NewPassages, batch_size: int) -> tuple[float, ...]:
    """The weak line's probes: the best cosine over the union only grows with added passages; a removal keeps
    the previous measurement (the next full build measures again)."""
    probes = manifest.probes
    if len(new.vectors):
        added = measure_probes(embedder, new.vectors, new.sentence_vectors, batch_size)
        probes = tuple(round(float(x), 4) for x in np.maximum(np.asarray(probes or added), added))
    return probes


def _copy_encoder(live: Path, tmp: Path) -> list[str]:
    """The live generation's question encoder (ONNX builds), copied; the files copied."""
    encoder = live / layout.ENCODER_DIR
    if not encoder.is_dir():
        return []
    shutil.copytree(encoder, tmp / layout.ENCODER_DIR)
    return [f"{layout.ENCODER_DIR}/{p}" for p in generation_files(encoder)]


def _history(manifest: Manifest, change: _Change) -> dict:
    """The manifest's corpus.updates: what changed since the last full scan."""
    history = dict(manifest.corpus.get("updates") or {})
    return {"since": history.get("since", manifest.generation), "generations": history.get("generations", 0) + 1,
            "statements_added_or_replaced": history.get("statements_added_or_replaced", 0) + len(change.statements),
            "statements_removed": history.get("statements_removed", 0) + change.removed_only}


def _append_rows(src: Path, dst: Path, rows: np.ndarray) -> None:
    """`dst` = the .npy file `src` with `rows` appended: a copy, then the header's row count rewritten in
    place and the rows written at the end (no read of the old rows into memory); a full rewrite when the
    header would change length."""
    shutil.copyfile(src, dst)
    rows = np.ascontiguousarray(rows)
    if not len(rows):
        return
    fmt = np.lib.format
    with open(dst, "r+b") as f:
        version = fmt.read_magic(f)
        shape, fortran, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(f)
        header_len = f.tell()
        if fortran or tuple(shape[1:]) != rows.shape[1:] or not np.can_cast(rows.dtype, dtype, "same_kind"):
            raise ValueError(f"{src}: {shape} {dtype} cannot take rows {rows.shape} {rows.dtype}")
        rows = rows.astype(dtype, copy=False)  # a float16 sentence file (older builds) stays float16
        header = io.BytesIO()
        write = fmt.write_array_header_1_0 if version == (1, 0) else fmt.write_array_header_2_0
        write(header, {"descr": fmt.dtype_to_descr(dtype), "fortran_order": False,
                       "shape": (shape[0] + len(rows),) + tuple(shape[1:])})
        if len(header.getvalue()) == header_len:
            f.seek(0)
            f.write(header.getvalue())
            f.seek(0, io.SEEK_END)
            f.write(rows.tobytes())
            return
    np.save(dst, np.concatenate([np.load(src, mmap_mode="r"), rows]))
