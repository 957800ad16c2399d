"""Percolation cost per new generation: 1,000 saved searches against the passages new in a generation of
20k, 200k and 1M passages (search/percolate.py).

What is real and what is made up, so the figures can be read right:
- the new passages are real SOTU paragraphs, embedded with the real model (and their sentences, as a
  build embeds them); the 1,000 saved questions are real SOTU sentences' opening words, embedded by the
  real model on the first percolation (then cached in the saved-search file, as in production);
- the rest of the corpus is synthetic: passages.sqlite holds N real-sized rows (SOTU paragraph texts
  cycled, one statement per 20 passages), and vectors.npy has N rows that are never written (a sparse
  file: percolation memory-maps it and reads only the new rows, which is the claim being measured);
- the weak line is set to 0.40 by the manifest's probes (SOTU's measured line is of that order).
Two generations are written per size: the previous (N passages) and the current (N + B, a live update's
layout: new ids after the last row); a third row per size presents the same files as a full rebuild (no
update history in the manifest), where the new passages are found by comparing all (statement, hash)
pairs. Each row is one percolation, measured under `flock /tmp/cpu.lock`:

    flock /tmp/cpu.lock .venv/bin/python bench/percolate.py --sizes 20000 200000 1000000 --searches 1000
"""
from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_STATE, SOTU, header, peak_rss_mb, report  # noqa: E402

from index import sentences as sentence_files  # noqa: E402
from index.layout import DB_FILE, VECTORS_FILE  # noqa: E402
from index.manifest import Counts, Manifest, ModelInfo, write_manifest  # noqa: E402
from index.passages import sentence_spans, split_statement, statement_heading  # noqa: E402
from index.statements import scan_corpus  # noqa: E402
from index.store import StoreWriter  # noqa: E402
from search.percolate import percolate  # noqa: E402
from search.settings import load_settings  # noqa: E402
from search.watchlists import WatchlistStore, make_saved_search  # noqa: E402

STATE = BENCH_STATE / "percolate"
PROBES = (0.40,) * 10  # the weak line: 0.40


def sotu_drafts(encoder) -> list[tuple[str, str, str]]:
    """(statement id, embedded text, passage text) of every SOTU passage, as the index splits them."""
    out = []
    for st in scan_corpus(SOTU).statements:
        heading = statement_heading(st.speaker, st.title, st.text)
        for d in split_statement(st.text, encoder.passage_limit, encoder.count_tokens, heading):
            out.append((st.id, d.embed_text, d.text))
    return out


def new_material(encoder, drafts, count: int, seed: int = 1):
    """`count` real passages with their vectors, sentence spans and sentence vectors (cached on disk)."""
    cache = STATE / f"new-{count}-{encoder.backend}.npz"
    picked = random.Random(seed).sample(drafts, count)
    texts = [p[2] for p in picked]
    if cache.exists():
        data = np.load(cache)
        return picked, data["vectors"], data["spans"], data["sentences"]
    vectors = encoder.encode([p[1] for p in picked])
    spans, sentence_texts = [], []
    for i, text in enumerate(texts):
        found = sentence_spans(text)
        if len(found) >= 2:
            for a, b in found:
                spans.append((i, a, b))
                sentence_texts.append(text[a:b])
    sentence_vectors = encoder.encode(sentence_texts) if sentence_texts else np.zeros((0, vectors.shape[1]))
    STATE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, spans=np.asarray(spans, dtype=np.int32).reshape(-1, 3),
             sentences=np.asarray(sentence_vectors, dtype=np.float32))
    return picked, vectors, np.asarray(spans, dtype=np.int32).reshape(-1, 3), sentence_vectors


def questions(drafts, count: int, seed: int = 2) -> list[str]:
    """`count` questions: the opening words (up to 12) of random SOTU sentences."""
    rng, out = random.Random(seed), []
    while len(out) < count:
        text = rng.choice(drafts)[2]
        spans = sentence_spans(text) or [(0, len(text))]
        a, b = rng.choice(spans)
        words = text[a:b].split()[:12]
        if len(words) >= 4:
            out.append(" ".join(words))
    return out


def _rows(drafts, start: int, count: int, per_doc: int = 20, prefix: str = "doc"):
    docs, passages = [], []
    for i in range(start, start + count):
        doc = f"{prefix}-{i // per_doc}"
        if i % per_doc == 0 or i == start:
            docs.append((doc, f"Title {doc}", "Speaker", "1900-01-01", None, "{}", f"{doc}.txt", "", per_doc, "en"))
        text = drafts[i % len(drafts)][2]
        passages.append((i, doc, i % per_doc + 1, i % per_doc, 0, 0, len(text), "", text,
                         hashlib.sha256(f"{i}".encode()).hexdigest(), None, "en"))
    return docs, passages


def _manifest(generation: str, model, dimension: int, passages: int, sentences: int, updates: dict | None) -> Manifest:
    return Manifest(generation=generation, model=model, dimension=dimension, counts=Counts(documents=passages // 20,
                                                                                             passages=passages),
                    index={"type": "flat"}, keyword={}, built_at="bench", package_version="bench",
                    sentences={"count": sentences}, probes=PROBES,
                    corpus={"updates": updates} if updates else {})


def write_generations(n: int, new, drafts, model, dimension: int) -> tuple[Path, Path]:
    """previous (n passages) and current (n + len(new)) generation folders, as a live update leaves them."""
    picked, vectors, spans, sentence_vectors = new
    root = STATE / f"n{n}-b{len(picked)}"
    previous, current = root / "previous", root / "current"
    if (current / "manifest.json").exists():
        return previous, current
    shutil.rmtree(root, ignore_errors=True)
    previous.mkdir(parents=True)
    writer = StoreWriter.create(previous / DB_FILE)
    for start in range(0, n, 100_000):
        docs, passages = _rows(drafts, start, min(100_000, n - start))
        writer.write(docs, passages)
    writer.close()
    np.lib.format.open_memmap(previous / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(n, dimension)).flush()
    write_manifest(previous, _manifest("previous", model, dimension, n, 0, None))

    current.mkdir()
    writer = StoreWriter.copy_of(previous / DB_FILE, current / DB_FILE)
    docs = [(f"new-{i}", f"New {i}", "New Speaker", "2026-01-01", None, "{}", f"new-{i}.txt", "", 1, "en")
            for i in range(len(picked))]
    writer.write(docs, [(n + i, f"new-{i}", 1, 0, 0, 0, len(p[2]), "", p[2], hashlib.sha256(p[2].encode()).hexdigest(),
                         None, "en") for i, p in enumerate(picked)])
    writer.close()
    out = np.lib.format.open_memmap(current / VECTORS_FILE, mode="w+", dtype=np.float32,
                                    shape=(n + len(picked), dimension))
    out[n:] = vectors
    out.flush()
    del out
    shifted = spans.copy()
    shifted[:, 0] += n
    sentence_files.write(current, sentence_vectors, shifted)
    write_manifest(current, _manifest("current", model, dimension, n + len(picked), len(shifted),
                                      {"since": "previous", "generations": 1}))
    return previous, current


def as_rebuild(current: Path) -> Path:
    """The same generation presented as a full rebuild (no live-update history in its manifest), so
    percolation finds the new passages by comparing every (statement, hash) pair with the previous one."""
    rebuilt = current.parent / "rebuilt"
    if not (rebuilt / "manifest.json").exists():
        rebuilt.mkdir(exist_ok=True)
        for f in current.iterdir():
            if f.name != "manifest.json" and not (rebuilt / f.name).exists():
                (rebuilt / f.name).symlink_to(f.resolve())
        text = (current / "manifest.json").read_text().replace('"updates"', '"no_updates"')
        (rebuilt / "manifest.json").write_text(text)
    return rebuilt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    parser.add_argument("--new", type=int, nargs="+", default=[10, 1000], help="new passages per generation")
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--backend", default="onnx-int8")
    args = parser.parse_args()

    settings = load_settings({"index": STATE / "index", "embedding_backend": args.backend})
    encoder = settings.make_embedder(threads=0)
    model = ModelInfo(name=encoder.name, sha256=encoder.sha256, backend=encoder.backend)
    drafts = sotu_drafts(encoder)
    asked = questions(drafts, args.searches)
    rows = []
    for b in args.new:
        new = new_material(encoder, drafts, b)
        dimension = new[1].shape[1]
        for n in args.sizes:
            previous, current = write_generations(n, new, drafts, model, dimension)
            for first, kind in ((True, "update"), (False, "update"), (False, "rebuild")):
                store_path = STATE / "watchlists.sqlite"
                if first:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
                store = WatchlistStore(store_path)
                if first:
                    for i, q in enumerate(asked):
                        name, question, mode, filters = make_saved_search(settings, f"s{i}", q)
                        store.add(name, question, mode, filters)
                with sqlite3.connect(store_path) as conn:  # percolate the same generation again
                    conn.execute("DELETE FROM generations")
                    conn.execute("DELETE FROM matches")
                began = time.perf_counter()
                target = current if kind == "update" else as_rebuild(current)
                result = percolate(store, target, previous, settings, encoder)
                seconds = time.perf_counter() - began
                rows.append({"passages": n, "new": b, "searches": len(asked), "generation": kind,
                             "questions": "encoded" if first else "cached", "seconds": round(seconds, 4),
                             "new_passages_s": result.timings.get("new_passages", 0),
                             "encode_s": result.timings.get("questions", 0), "score_s": result.timings.get("score", 0),
                             "filter_s": result.timings.get("filter", 0), "record_s": result.timings.get("record", 0),
                             "matches": result.matches, "found_new": result.new_passages})
                print(rows[-1], flush=True)
    report("percolate", header("Percolation: saved searches × the passages new in one generation"), rows,
           ["passages", "new", "searches", "generation", "questions", "seconds", "new_passages_s", "encode_s",
            "score_s", "filter_s", "record_s", "matches"], extra={"peak_rss_mb": round(peak_rss_mb(), 1)})


if __name__ == "__main__":
    main()
