"""Keyword engine: bm25s (index/keyword.py) or SQLite FTS5, chosen by measurement.

    flock /tmp/cpu.lock .venv/bin/python bench/keyword_engines.py [--index DIR] [--questions 200]

Quality: the existing SciFact index (--index: its passages.sqlite and bm25/ folder, not rebuilt);
top 1000 passages per query folded to documents by best passage; train is the measurement, test is
printed for reference only. Engines: bm25s as the index stores it (Lucene BM25, k1=1.2, b=0.75,
bm25s English stopwords, Snowball stemming); FTS5 'porter unicode61' over the raw texts (question =
OR of its quoted non-stopword terms); FTS5 'unicode61' over the bm25s-analysed tokens joined by
spaces (same analysis as bm25s, so only the engine differs). FTS5's bm25() (k1=1.2, b=0.75, idf
log((N-n+0.5)/(n+0.5)) floored at 1e-6) is lower-is-better and is negated.
Latency: top-1000 (id, score) per question, single thread, after one warm-up pass, over the SOTU
passages (20k) and the same texts repeated 10 times (200k: IDFs differ from a real corpus of that
size, postings lengths scale). bm25s is timed as the server loads it (saved, then loaded with mmap);
FTS5 from a temp-file database with mmap on, after 'optimize'.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _common import ROOT, SOTU_INDEX, header, real_questions, report, table  # noqa: E402

from index.keyword import KeywordIndex, analyse  # noqa: E402
from index.store import PassageStore  # noqa: E402
from search.evaluate import PASSAGE_DEPTH, fold, load_dataset  # noqa: E402
from search.metrics import evaluate_run  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "scifact"


def scifact_index() -> Path:
    """The SciFact index `statement-search eval` builds and caches (built here if it is missing)."""
    from index.embedder import TorchEmbedder
    from search.evaluate import CACHE_ROOT, prepare_index
    from search.settings import load_settings

    return prepare_index(SCIFACT, TorchEmbedder(load_settings().model, threads=1), CACHE_ROOT, progress=True)
QUALITY = ["engine", "split", "queries", "ndcg@10", "recall@10", "recall@100", "mrr@10"]
LATENCY = ["engine", "passages", "build_s", "size_mib", "p50_ms", "p95_ms", "mean_hits", "questions"]


def passages(index: Path) -> tuple[list[str], np.ndarray]:
    """Indexed text (PassageDraft.embed_text) and document id of every passage, by passage id."""
    store = PassageStore(index / "passages.sqlite")
    rows = store.keyword_texts()
    assert [r[0] for r in rows] == list(range(len(rows))), "passage ids are not 0..n-1"
    docs = dict(store.conn.execute("SELECT id, doc_id FROM passages"))
    return [t for _, t in rows], np.asarray([docs[pid] for pid, _ in rows], dtype=object)


class Fts5:
    """A contentless FTS5 table in a temp file; `tokens` indexes bm25s-analysed tokens, else raw text."""

    def __init__(self, texts: list[str], tokens: bool, directory: str):
        self.tokens = tokens
        self.path = Path(directory) / f"fts-{'tokens' if tokens else 'porter'}-{len(texts)}.sqlite"
        tokenizer = "unicode61 remove_diacritics 0" if tokens else "porter unicode61"
        began = time.perf_counter()
        self.conn = sqlite3.connect(self.path)
        self.conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, content='', tokenize=\"{tokenizer}\")")
        docs = (" ".join(d) for d in analyse(texts)) if tokens else iter(texts)
        with self.conn:
            self.conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(docs))
            self.conn.execute("INSERT INTO t(t) VALUES ('optimize')")
        self.build_s = time.perf_counter() - began
        self.conn.execute("PRAGMA mmap_size = 4294967296")

    def terms(self, query: str) -> list[str]:
        if self.tokens:
            return analyse([query])[0]
        from bm25s.stopwords import STOPWORDS_EN
        return [w for w in re.findall(r"[^\W_]{2,}", query.lower()) if w not in STOPWORDS_EN]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = self.terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        return [(int(i), -s) for i, s in self.conn.execute(
            "SELECT rowid, bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", (match, k))]


def mib(path: Path) -> float:
    files = path.rglob("*") if path.is_dir() else [path]
    return round(sum(f.stat().st_size for f in files if f.is_file()) / 2**20, 1)


def quality(index: Path, tmp: str) -> list[dict]:
    texts, doc_of = passages(index)
    bm25 = KeywordIndex.load(index)
    assert len(bm25) == len(texts), "bm25/ and passages.sqlite disagree"
    engines = {"bm25s": bm25, "fts5 porter": Fts5(texts, False, tmp), "fts5 bm25s-tokens": Fts5(texts, True, tmp)}
    rows = []
    for split in ("train", "test"):
        data = load_dataset(SCIFACT, split)
        for name, engine in engines.items():
            run = {qid: fold(engine.search(q, PASSAGE_DEPTH), doc_of) for qid, q in data.queries.items()}
            scores = evaluate_run(run, data.qrels)
            rows.append({"engine": name, "split": split if split == "train" else "test (reference only)",
                         "queries": len(data.queries), **{k: round(v, 4) for k, v in scores.items()}})
            print(rows[-1], flush=True)
    return rows


def timed(engine, questions: list[str]) -> dict:
    for q in questions:  # warm-up: page cache, numpy/sqlite code paths
        engine.search(q, PASSAGE_DEPTH)
    ms, hits = [], []
    for q in questions:
        began = time.perf_counter()
        hits.append(len(engine.search(q, PASSAGE_DEPTH)))
        ms.append((time.perf_counter() - began) * 1000)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_hits": round(float(np.mean(hits)), 1), "questions": len(questions)}


def latency(questions: list[str], tmp: str, copies: tuple[int, ...] = (1, 10)) -> list[dict]:
    base, _ = passages(SOTU_INDEX)
    rows = []
    for n in copies:
        texts = base * n
        began = time.perf_counter()
        built = KeywordIndex.build(texts)
        build_s = time.perf_counter() - began
        folder = Path(tmp) / f"bm25s-{len(texts)}"
        built.save(folder)
        del built
        engines = [("bm25s", KeywordIndex.load(folder), build_s, mib(folder))]
        for tokens in (False, True):
            fts = Fts5(texts, tokens, tmp)
            engines.append((f"fts5 {'bm25s-tokens' if tokens else 'porter'}", fts, fts.build_s, mib(fts.path)))
        for name, engine, build_s, size in engines:
            rows.append({"engine": name, "passages": f"{len(texts)}" + (f" ({n}x SOTU)" if n > 1 else " (SOTU)"),
                         "build_s": round(build_s, 1), "size_mib": size, **timed(engine, questions)})
            print(rows[-1], flush=True)
    return rows


def question_set(n: int) -> list[str]:
    """SOTU questions and the paraphrase set, then SciFact claims (off-topic filler) up to `n`."""
    pool = real_questions() + [json.loads(line)["text"] for line in
                               (SCIFACT / "queries.jsonl").read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(pool))[:n]


def main() -> None:
    import bm25s

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=None,
                    help="built SciFact index folder [default: the one `statement-search eval` caches]")
    ap.add_argument("--questions", type=int, default=200, help="questions for the latency runs")
    args = ap.parse_args()
    probe = sqlite3.connect(":memory:")
    fts5 = ("ENABLE_FTS5",) in probe.execute("PRAGMA compile_options").fetchall()
    versions = {"sqlite_version": sqlite3.sqlite_version, "fts5_compiled": fts5, "bm25s": bm25s.__version__}
    print(versions)
    with tempfile.TemporaryDirectory(prefix="keyword-engines-") as tmp:
        args.index = args.index or scifact_index()
        rows = quality(args.index.resolve(), tmp)
        questions = question_set(args.questions)
        sotu = len(set(questions) & set(real_questions()))
        print(f"latency questions: {len(questions)} ({sotu} SOTU/paraphrase, {len(questions) - sotu} SciFact claims)")
        lat = latency(questions, tmp)
    report("keyword_engines", header("Keyword engines: bm25s vs SQLite FTS5 (SciFact quality, SOTU latency)"),
           rows, QUALITY, {**versions, "latency": lat, "index": str(args.index)})
    print("\nLatency, top-1000 (id, score), one thread:\n")
    print(table(lat, LATENCY))


if __name__ == "__main__":
    main()
