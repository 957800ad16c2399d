"""Live additions and removals: a new generation made from the live one, at a cost that follows the change.

`update_statements` (and its two faces `add_statements`, `remove_statements`) reads the given files,
drops the statements it replaces or removes, and writes a new generation under the same build lock and
atomic publish as `index.build.build_index`, without scanning the corpus:

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
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import layout, sentences, store
from .build import _passage_vectors, _sentence_vectors, _split, package_version, statement_rows
from .embedder import Embedder
from .errors import CorpusError, IndexUnavailable
from .integrity import file_table, generation_files
from .keyword import KeywordIndex
from .manifest import Counts, Manifest, check_model, read_manifest, write_manifest
from .probes import measure_probes
from .reuse import Previous
from .statements import Statement, scan_corpus, statement_files
from .vectors import FAISS_FILE, FaissIndex

log = logging.getLogger(__name__)
DB_FILE, VECTORS_FILE, TOMBSTONES_FILE = layout.DB_FILE, layout.VECTORS_FILE, layout.TOMBSTONES_FILE


@dataclass(frozen=True)
class UpdateReport:
    """What one incremental update did. `generation` is the new one (the live one when nothing changed)."""

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
    layout.check_link(index)
    with layout.build_lock(index):
        live = layout.current_generation(index)
        if live is None:
            raise IndexUnavailable(f"no index at {index} yet: run `statement-search rebuild-index --index {index}` "
                                   "first", code="index_missing")
        manifest = read_manifest(live)
        check_model(manifest, live, embedder.name, embedder.sha256)
        if manifest.model.backend != embedder.backend:
            raise IndexUnavailable(f"index {index} was built with the {manifest.model.backend} backend, this "
                                   f"update would embed with {embedder.backend}: use --backend "
                                   f"{manifest.model.backend}", code="model_mismatch")
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
            gone = old.passage_ids_of(removed + replaced)
            tmp = layout.temporary_dir(index)
            try:
                report = _write(tmp, live, manifest, old, statements, removed + replaced, gone, embedder,
                                batch_size, progress)
                final = layout.publish(tmp, index, report["generation"])
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            old.close()
        layout.cleanup(index)
    log.info("published %s; seconds by step: %s", final, report["fields"]["timings"])
    return UpdateReport(index=index, published=True, added=tuple(st.id for st in statements if st.id not in known),
                        replaced=tuple(replaced), removed=tuple(removed), skipped=skipped,
                        seconds=time.perf_counter() - began, **report["fields"], generation=report["generation"])


def _write(tmp: Path, live: Path, manifest: Manifest, old: store.PassageStore, statements: list[Statement],
           dropped_docs: list[str], gone: list[int], embedder: Embedder, batch_size: int, progress: bool) -> dict:
    """Write the new generation into `tmp`; {"generation", "fields" of the UpdateReport}."""
    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = round(now - mark, 3)
        mark = now

    live_vectors = np.load(live / VECTORS_FILE, mmap_mode="r")
    first = len(live_vectors)  # new passage ids start after every id the vector index holds
    rows = statement_rows(statements, _split(statements, embedder), embedder, first)
    doc_rows, passage_rows, texts, hashes = rows.documents, rows.passages, rows.texts, rows.hashes
    spans, sentence_texts = rows.sentence_spans, rows.sentence_texts  # spans: position among the new passages
    lap("read_split")

    # Reuse by hash, looking up only the new passages' hashes (not the whole live generation).
    known_rows = old.ids_by_hash(hashes)
    table = sentences.SentenceTable.load(live, first) if manifest.sentences else None
    previous = Previous({h: live_vectors[r] for h, r in known_rows.items()}, dict(known_rows), table)
    vectors, embedded = _passage_vectors(texts, hashes, embedder, previous, batch_size, progress)
    sentence_vectors, sentences_embedded = _sentence_vectors(spans, sentence_texts, hashes, embedder, previous,
                                                             batch_size, progress)
    lap("embed")

    shutil.copyfile(live / DB_FILE, tmp / DB_FILE)
    conn = sqlite3.connect(tmp / DB_FILE)
    with conn:
        store.delete_documents(conn, dropped_docs)
        store.insert_documents(conn, doc_rows)
        store.insert_passages(conn, passage_rows)
    documents = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    conn.close()
    if passages == 0:
        raise CorpusError("this would leave the index without any statement; the index is unchanged",
                          code="index_would_be_empty")
    lap("sqlite")

    copied: list[str] = []  # files identical to the live generation's: their checksums are reused
    _append_rows(live / VECTORS_FILE, tmp / VECTORS_FILE, vectors)
    span_rows = np.asarray([(first + p, a, b) for p, a, b in spans], dtype=np.int32).reshape(-1, 3)
    _append_rows(live / sentences.SENTENCES_FILE, tmp / sentences.SENTENCES_FILE,
                 np.asarray(sentence_vectors, dtype=sentences.DTYPE).reshape(-1, manifest.dimension))
    _append_rows(live / sentences.SPANS_FILE, tmp / sentences.SPANS_FILE, span_rows)
    if not len(vectors):
        copied += [VECTORS_FILE, sentences.SENTENCES_FILE, sentences.SPANS_FILE]
    lap("copy_vectors")

    spec = dict(manifest.index)
    old_removed = np.load(live / spec["tombstones"]["file"]) if spec.get("tombstones") else np.empty(0, np.int64)
    removed = np.union1d(old_removed, np.asarray(gone, dtype=np.int64))
    if len(vectors):
        vector_index = FaissIndex.load(live, spec, mmap=False)
        before = len(vector_index)
        vector_index.add(vectors, np.arange(first, first + len(vectors), dtype=np.int64), _keep_matrix=True)
        vector_index.set_removed(removed)
        vector_index.save(tmp)
        what = f"added {len(vectors)} to {vector_index.kind} (ntotal {before} -> {len(vector_index)})"
        if vector_index.needs_retrain:
            log.warning("the added vectors fit the trained lists worse than retrain_above allows (drift %.2f): "
                        "run rebuild-index to retrain", vector_index.drift)
        spec = {**vector_index.spec(), "rebuilt": spec.get("rebuilt", "from vectors.npy")}
    else:
        shutil.copyfile(live / spec.get("file", FAISS_FILE), tmp / spec.get("file", FAISS_FILE))
        copied.append(spec.get("file", FAISS_FILE))
        np.save(tmp / TOMBSTONES_FILE, removed)
        spec["tombstones"] = {"file": TOMBSTONES_FILE, "count": int(len(removed))}
        what = f"unchanged {spec['type']} ({len(live_vectors)} ids)"
    if len(removed):
        what += f", {len(removed)} tombstones"
    spec["updated"] = "incremental: added with add_with_ids, removed as tombstones"
    lap("vector_index")

    # BM25 as a build over every passage id would score it (removed ones as empty text, so ids stay
    # positions and never match): updated from the live index's stored entries and passage lengths, or
    # rebuilt from the texts when the live index predates stored lengths.
    try:
        keyword = KeywordIndex.load(live).updated(texts, gone)
        keyword_how = f"updated ({len(texts)} new passage{'' if len(texts) == 1 else 's'} analysed)"
    except ValueError as exc:
        log.info("rebuilding BM25: %s", exc)
        db = store.PassageStore(tmp / DB_FILE)
        keyword_texts = [""] * (first + len(texts))
        for pid, text in db.keyword_texts():
            keyword_texts[pid] = text
        db.close()
        keyword = KeywordIndex.build(keyword_texts)
        keyword_how = f"rebuilt ({len(keyword_texts)} passages analysed)"
    keyword.save(tmp)
    lap("bm25")

    # The weak line's probes: the best cosine over the union only grows with added passages; a removal keeps
    # the previous measurement (the next full build measures again).
    probes = manifest.probes
    if len(vectors):
        added = measure_probes(embedder, vectors, sentence_vectors, batch_size)
        probes = tuple(round(float(x), 4) for x in np.maximum(np.asarray(probes or added), added))
    encoder = live / layout.ENCODER_DIR
    if encoder.is_dir():
        shutil.copytree(encoder, tmp / layout.ENCODER_DIR)
        copied += [f"{layout.ENCODER_DIR}/{p}" for p in generation_files(encoder)]
    lap("probes_encoder")

    generation = layout.new_generation_id()
    total_sentences = int(manifest.sentences.get("count", 0)) + len(spans)
    history = dict(manifest.corpus.get("updates") or {})
    history = {"since": history.get("since", manifest.generation), "generations": history.get("generations", 0) + 1,
               "statements_added_or_replaced": history.get("statements_added_or_replaced", 0) + len(statements),
               "statements_removed": history.get("statements_removed", 0) + len(dropped_docs) - len(
                   [st for st in statements if st.id in set(dropped_docs)])}
    new_manifest = Manifest(
        generation=generation, model=manifest.model, dimension=manifest.dimension,
        counts=Counts(documents=documents, passages=passages, embedded=embedded, reused=len(texts) - embedded),
        index=spec, keyword=keyword.spec(),
        sentences={**manifest.sentences, "count": total_sentences, "embedded": sentences_embedded,
                   "reused": len(spans) - sentences_embedded},
        encoder=manifest.encoder, probes=probes,
        # The corpus fingerprint is the last full scan's; `updates` counts what changed since then.
        corpus={**manifest.corpus, "updates": history},
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), package_version=package_version(),
        files=file_table(tmp, {rel: manifest.files[rel] for rel in copied if rel in manifest.files}))
    write_manifest(tmp, new_manifest)
    lap("checksums_manifest")
    return {"generation": generation, "fields": {
        "passages_added": len(texts), "passages_removed": len(gone), "embedded": embedded,
        "reused": len(texts) - embedded, "sentences_embedded": sentences_embedded, "documents": documents,
        "passages": passages, "tombstones": int(len(removed)), "vector_index": what, "keyword_index": keyword_how,
        "timings": timings}}


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
