"""Percolation: every saved search against only the passages that are new in a generation.

A passage is new when its (statement id, passage hash) pair was not in the previous generation: an
added or changed paragraph, not one whose statement was re-added unchanged. `new_passage_ids` finds
them at a cost that follows the change for live updates (ids above the previous generation's last row,
then their hashes looked up in the previous store) and with one pass over the previous store's hashes
after a full rebuild (which renumbers every passage).

A saved search matches a new passage when the search would show it as a strong match: its vector
score (the better of passage and best-sentence cosine, as search.ranking scores it) is at or above the
index's "no strong match" line (search.weak), within the saved filters and "phrases" / -exclusions
(search.phrases), and in keyword mode it shares a word with the question. All saved questions are
scored at once: one matrix product of their (cached) vectors with the new passages' stored vectors and
sentence vectors; nothing of the rest of the corpus is read.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import Embedder
from index.layout import DB_FILE, VECTORS_FILE
from index.manifest import Manifest, read_manifest
from index.sentences import SentenceTable
from index.store import PassageStore, in_chunks

from .generation import question_encoder
from .highlight import terms
from .phrases import PhraseMatcher, parse_question
from .settings import Settings
from .types import Filters
from .watchlists import MatchDraft, SavedSearch, WatchlistStore
from .weak import weak_line

log = logging.getLogger(__name__)
CHUNK = 4096  # passages scored per matrix product (bounds memory: CHUNK × saved searches floats)


@dataclass
class PercolationReport:
    generation: str
    new_passages: int = 0
    searches: int = 0
    matches: int = 0                      # new matches recorded (already-recorded ones not counted)
    deliveries: int = 0                   # webhook calls queued
    by_watchlist: dict[str, int] = field(default_factory=dict)
    skipped: str = ""                     # why nothing was done, if so
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def _derived_from(previous: Manifest, current: Manifest) -> bool:
    """Whether `current` is a live update (index/update.py) made from `previous`: same ids for kept passages."""
    before = previous.corpus.get("updates") or {}
    after = current.corpus.get("updates") or {}
    return bool(after) and after.get("since") == before.get("since", previous.generation) \
        and after.get("generations") == before.get("generations", 0) + 1


def new_passage_ids(previous: Path | None, current: Path, appended: np.ndarray | None = None) -> np.ndarray:
    """Ids (in `current`) of the passages whose (statement, passage hash) `previous` did not hold; every
    passage when there was no previous generation. `appended`: a live update's appended ids as the
    generation writer reports them (`UpdateReport.added_passage_ids`); without it they are read as the ids
    after the previous generation's last row. Not the writer's `new_passage_ids` (hashes the previous
    generation did not hold): a new statement that repeats an old paragraph word for word is new to an
    alert, not to the embedder."""
    store = PassageStore(current / DB_FILE)
    try:
        if previous is None:
            return np.asarray([pid for pid, _ in store.passage_documents()], dtype=np.int64)
        old = PassageStore(previous / DB_FILE)
        try:
            if appended is not None:
                rows = store.passage_keys(ids=appended)
                known = old.statement_hashes([r[2] for r in rows])
            elif _derived_from(read_manifest(previous), read_manifest(current)):
                rows = store.passage_keys(since=len(np.load(previous / VECTORS_FILE, mmap_mode="r")))
                known = old.statement_hashes([r[2] for r in rows])
            else:  # a full rebuild renumbers: compare every (statement, hash) pair
                rows = store.passage_keys()
                known = old.statement_hashes()
            return np.asarray([r[0] for r in rows if (r[1], r[2]) not in known], dtype=np.int64)
        finally:
            old.close()
    finally:
        store.close()


def _accepts(f: Filters, speaker: str | None, date: str | None, source: str | None, language: str = "und") -> bool:
    """search.filters.DocumentTable.subset's rule for one passage (speaker exact, source contains, dates
    inclusive, undated left out by a date filter, speaker and source case-insensitive; language one of)."""
    if f.languages and language not in f.languages:
        return False
    if f.speakers and (speaker or "").casefold() not in {s.casefold() for s in f.speakers}:
        return False
    if f.sources and not any(s.casefold() in (source or "").casefold() for s in f.sources):
        return False
    if f.after or f.before:
        if not date or (f.after and date < f.after) or (f.before and date > f.before):
            return False
    return True


class _Rule:
    """One saved search's acceptance test beyond the vector score."""

    def __init__(self, saved: SavedSearch):
        self.saved = saved
        parsed = parse_question(saved.question)
        self.text = parsed.text or saved.question  # what the search ranks by (search.searcher)
        self.matcher = PhraseMatcher(parsed) if parsed else None
        self.terms = terms(self.text) if saved.mode == "keyword" else None

    def accepts(self, row) -> bool:
        language = row["language"] if "language" in row.keys() else "und"  # generations before languages
        if not _accepts(self.saved.filters, row["speaker"], row["date"], row["source"], language or "und"):
            return False
        if self.matcher is not None and not self.matcher.matches(row["text"]):
            return False
        return self.terms is None or bool(self.terms & terms(row["text"]))


def percolate(store: WatchlistStore, current: Path, previous: Path | None, settings: Settings,
              embedder: Embedder | None = None, appended: np.ndarray | None = None) -> PercolationReport:
    """Evaluate every saved search against the passages new in `current` (vs `previous`, None for the
    first build) and record the new strong matches (and their webhook deliveries). A generation already
    percolated is skipped, so running this twice records nothing twice."""
    began = time.perf_counter()
    current = Path(current).resolve()
    manifest = read_manifest(current)
    report = PercolationReport(manifest.generation)
    mark = began

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        report.timings[name] = round(now - mark, 4)
        mark = now

    saved = store.searches()
    report.searches = len(saved)
    if store.percolated(manifest.generation):
        report.skipped = "generation already percolated"
        return report
    if not saved:
        store.record(manifest.generation, 0, [])
        report.skipped = "no saved searches"
        return report
    ids = new_passage_ids(Path(previous).resolve() if previous else None, current, appended)
    report.new_passages = len(ids)
    lap("new_passages")
    drafts: list[MatchDraft] = []
    if len(ids):
        drafts = _match(store, saved, ids, current, manifest, settings, embedder, lap)
    recorded = store.record(manifest.generation, len(ids), drafts)
    lap("record")
    if recorded is None:
        report.skipped = "generation already percolated"
    else:
        report.matches, report.deliveries, report.by_watchlist = (recorded.matches, recorded.deliveries,
                                                                  recorded.by_watchlist)
    report.seconds = time.perf_counter() - began
    log.info("percolated %s: %d new passages × %d saved searches → %d new matches in %.3fs (%s)",
             manifest.generation, report.new_passages, report.searches, report.matches, report.seconds,
             report.timings)
    return report


def _question_matrix(store: WatchlistStore, saved: list[SavedSearch], manifest: Manifest, current: Path,
                     settings: Settings, embedder: Embedder | None) -> np.ndarray:
    """The saved questions' vectors (rows in `saved` order), encoded once per model and cached in the store."""
    key = f"{manifest.model.sha256}:{manifest.model.backend}"
    cached = store.question_vectors(key)
    missing = [i for i, s in enumerate(saved) if s.id not in cached or len(cached[s.id]) != manifest.dimension]
    if missing:
        encoder = question_encoder(manifest, current, settings, embedder)
        vectors = encoder.encode([_Rule(saved[i]).text for i in missing])
        fresh = {saved[i].id: np.asarray(v, dtype=np.float32) for i, v in zip(missing, vectors)}
        store.store_vectors(key, fresh)
        cached = {**cached, **fresh}
    return np.stack([cached[s.id] for s in saved]).astype(np.float32, copy=False)


def _match(store: WatchlistStore, saved: list[SavedSearch], ids: np.ndarray, current: Path, manifest: Manifest,
           settings: Settings, embedder: Embedder | None, lap) -> list[MatchDraft]:
    questions = _question_matrix(store, saved, manifest, current, settings, embedder)
    lap("questions")
    vectors = np.load(current / VECTORS_FILE, mmap_mode="r")
    sentences = SentenceTable.load(current, len(vectors)) if settings.score_sentences and manifest.sentences else None
    line = weak_line(manifest.probes, settings.weak_below, settings.weak_quantile)
    hits: list[tuple[int, int, float]] = []  # (saved search row, passage id, score)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        scores = np.asarray(vectors[chunk], dtype=np.float32) @ questions.T  # (passages, searches)
        if sentences is not None:
            np.maximum(scores, sentences.best_cosines(chunk, questions), out=scores)
        rows, cols = np.nonzero(scores >= line)
        hits.extend(zip(cols.tolist(), chunk[rows].tolist(), scores[rows, cols].tolist()))
    lap("score")
    drafts: list[MatchDraft] = []
    if not hits:
        return drafts
    passages = PassageStore(current / DB_FILE)
    try:
        wanted = sorted({pid for _, pid, _ in hits})
        info: dict[int, dict[str, Any]] = {}
        for part, _ in in_chunks(wanted):
            info.update(passages.passages(part))
    finally:
        passages.close()
    rules: dict[int, _Rule] = {}  # built only for the searches that scored above the line
    for col, pid, score in sorted(hits, key=lambda h: (h[0], -h[2])):
        row = info.get(pid)
        rule = rules.get(col) or rules.setdefault(col, _Rule(saved[col]))
        if row is None or not rule.accepts(row):
            continue
        drafts.append(MatchDraft(watchlist_id=saved[col].id, doc_id=row["doc_id"], passage_hash=row["hash"],
                                 passage_id=pid, score=score, text=row["text"], paragraph=row["ordinal"],
                                 of=row["n"], speaker=row["speaker"], title=row["title"], date=row["date"],
                                 source=row["source"]))
    lap("filter")
    return drafts
