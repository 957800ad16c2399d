"""Evaluate retrieval on a BEIR-layout folder through the production indexing and ranking path.

The BEIR corpus is rewritten as a statements .jsonl (title as a lead-in line, so every passage of a
document carries its title as context), indexed by index.build.build_index into a cache directory
keyed by the corpus and model, and queried with the service's Ranker. A document scores as its best
passage, so more passages than documents are retrieved.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.build import build_index
from index.embedder import file_sha256
from index.errors import IndexUnavailable
from index.keyword import K1, B, KeywordIndex
from index.manifest import read_manifest

from .errors import SearchError
from .metrics import evaluate_run, per_query
from .request import validate_mode
from .searcher import Searcher
from .settings import Settings

SPLITS = ("test", "train", "dev")
CACHE_ROOT = Path("state/eval")  # relative to the working directory
CONVERSION = "beir-jsonl-v1"  # bump when the corpus rewrite changes, so old caches are not reused
DOC_DEPTH = 100       # documents ranked per query (Recall@100 needs 100)
PASSAGE_DEPTH = 1000  # passages ranked per query before folding them into documents
PASSAGE_CHOICES = ("all", "first")


@dataclass(frozen=True)
class Dataset:
    path: Path
    split: str
    queries: dict[str, str]            # only the queries judged in the split
    qrels: dict[str, dict[str, int]]


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SearchError(f"{path}:{n} is not JSON ({exc.msg})", code="bad_dataset") from None


def load_dataset(path: Path, split: str = "test") -> Dataset:
    """Queries and relevance judgements of one split; SearchError when the folder is not BEIR layout."""
    path = Path(path)
    if split not in SPLITS:
        raise SearchError(f"split must be one of {', '.join(SPLITS)}, got {split!r}", code="bad_dataset")
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (path / name).is_file():
            raise SearchError(f"{path} is not a BEIR folder: {name} is missing", code="bad_dataset")
    qrels: dict[str, dict[str, int]] = {}
    with open(path / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\r\n").split("\t")
            if n == 1 and parts[0] == "query-id" or not line.strip():
                continue
            if len(parts) < 3:
                raise SearchError(f"qrels/{split}.tsv line {n}: expected query-id, corpus-id, score",
                                  code="bad_dataset")
            try:
                qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
            except ValueError:
                raise SearchError(f"qrels/{split}.tsv line {n}: score {parts[2]!r} is not a number",
                                  code="bad_dataset") from None
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(path / "queries.jsonl") if str(q["_id"]) in qrels}
    missing = set(qrels) - set(queries)
    if missing:
        raise SearchError(f"{len(missing)} judged queries are not in queries.jsonl (e.g. {sorted(missing)[0]})",
                          code="bad_dataset")
    return Dataset(path, split, queries, qrels)


def statement_text(title: str, text: str) -> str:
    """A BEIR document as a statement body: the title as a lead-in line, so it becomes every passage's context."""
    title = " ".join((title or "").split()).rstrip(" .:")
    body = (text or "").strip()
    return f"{title}:\n\n{body}" if title else body


def write_corpus(source: Path, target: Path) -> int:
    """Rewrite BEIR corpus.jsonl as a statements .jsonl ({id, title, text}); return the document count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for doc in _read_jsonl(source):
            text = statement_text(doc.get("title", ""), doc.get("text", ""))
            if not text.strip():
                continue
            out.write(json.dumps({"id": str(doc["_id"]), "title": doc.get("title") or None, "text": text},
                                 ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(target)
    return count


def cache_key(corpus: Path, model: str, model_sha256: str, backend: str = "torch") -> str:
    digest = hashlib.sha256()
    file_sha256(corpus, digest)
    digest.update(f"\0{CONVERSION}\0{model}\0{model_sha256}".encode())
    if backend != "torch":  # other runtimes give (slightly) different vectors: their own index
        digest.update(f"\0{backend}".encode())
    return digest.hexdigest()[:16]


def prepare_index(dataset: Path, embedder, cache: Path = CACHE_ROOT, batch_size: int = 64,
                  progress: bool = False) -> Path:
    """The cached index of `dataset`'s corpus, built through build_index the first time, and again (reusing
    its vectors) when its BM25 was built with other parameters than index.keyword's K1 and B."""
    corpus = Path(dataset) / "corpus.jsonl"
    root = Path(cache) / cache_key(corpus, embedder.name, embedder.sha256, embedder.backend)
    index = root / "index"
    try:
        read_manifest(index)
        current = KeywordIndex.stored_params(index) == (K1, B)
    except (IndexUnavailable, OSError, ValueError, KeyError):
        current = False
    if not current:  # none yet, an older format or other BM25 parameters: build, reusing what vectors it can
        documents = root / "corpus"
        write_corpus(corpus, documents / "corpus.jsonl")
        build_index(documents, index, embedder, batch_size=batch_size, progress=progress)
    return index


def documents_of(searcher) -> np.ndarray:
    """Document id of every passage, indexed by passage id (from the searcher's DocumentTable)."""
    return np.asarray(searcher.table.doc_ids, dtype=object)[searcher.table.passage_doc]


def fold(ranked: list[tuple[int, float]], doc_of: np.ndarray, depth: int = DOC_DEPTH) -> dict[str, float]:
    """Best passage score per document, keeping the top `depth` documents."""
    best: dict[str, float] = {}
    for pid, score in ranked:  # best first, so the first passage of a document is its best
        doc = doc_of[pid]
        if doc not in best:
            best[doc] = float(score)
            if len(best) == depth:
                break
    return best


def first_passages(searcher) -> np.ndarray:
    """Ids of every document's first passage: what a model that truncates long texts would see."""
    return np.asarray(searcher.store.first_passage_ids(), dtype=np.int64)


def run_queries(searcher, dataset: Dataset, mode: str, on_query: Callable[[], None] | None = None,
                passages: str = "all") -> tuple[dict[str, dict[str, float]], list[float]]:
    """The document run of every query and the per-query latency (embed + rank + fold) in ms.

    `passages="first"` ranks only each document's first passage (through the same rank, as a
    filter), which reproduces the published one-vector-per-document setups.
    """
    doc_of = documents_of(searcher)
    subset = first_passages(searcher) if passages == "first" else None
    run, latencies = {}, []
    for qid, text in dataset.queries.items():
        began = time.perf_counter()
        question_vector = searcher.embed_question(text)
        run[qid] = fold(searcher.ranker.rank(text, question_vector, PASSAGE_DEPTH, mode, subset), doc_of)
        latencies.append((time.perf_counter() - began) * 1000)
        if on_query:
            on_query()
    return run, latencies


def summarise(run, latencies: list[float], dataset: Dataset) -> dict[str, Any]:
    scores = evaluate_run(run, dataset.qrels)
    return {**{k: round(v, 4) for k, v in scores.items()},
            "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else 0.0,
            "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else 0.0,
            "queries": len(per_query(run, dataset.qrels))}


def evaluate(dataset_path: Path, settings: Settings, split: str = "test", mode: str | None = None,
             cache: Path = CACHE_ROOT, embedder=None, progress: Callable[[int, int], Any] | None = None,
             passages: str = "all") -> dict[str, Any]:
    """Index (or reuse) the corpus, run every judged query of `split`, return the metrics.

    `passages`: "all" scores a document by its best passage (the production path), "first" by its
    first passage only.
    """
    if passages not in PASSAGE_CHOICES:
        raise SearchError(f"passages must be one of {', '.join(PASSAGE_CHOICES)}, got {passages!r}",
                          code="bad_setting")
    mode = validate_mode(mode or settings.mode)
    dataset = load_dataset(dataset_path, split)
    embedder = embedder if embedder is not None else settings.make_embedder(threads=0)
    index = prepare_index(dataset.path, embedder, cache, settings.batch_size, progress=progress is not None)
    searcher = Searcher(index, settings, embedder)
    total = len(dataset.queries)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress:
            progress(done[0], total)

    run, latencies = run_queries(searcher, dataset, mode, tick if progress else None, passages)
    return {**summarise(run, latencies, dataset), "mode": mode, "split": split, "total": total,
            "passages": passages}
