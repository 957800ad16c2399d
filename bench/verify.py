"""Check every quote of tests/data/quotes.jsonl on one seed + SOTU index; print the confusion matrix.

The index holds the seed statement and the SOTU addresses the set quotes (the same index for
every quote). Prints a markdown confusion matrix (expected rows, verdict columns), accuracy per
category, and with --features each quote's best word similarity, coverage and sentence cosine
(the numbers the lines in search.verify.VerifyLines are chosen from).

    flock /tmp/cpu.lock .venv/bin/python bench/verify.py [--features] [--rebuild] [--json out.json]

Latency only (docs/performance.md): `--timing state/sotu-index` checks every quote of the set against
that index (its own question encoder, one thread, as a worker runs), twice: "cold" with the question
cache emptied first, "cached" with the quote's vector already there, and prints p50/p95/p99 of each.

    flock /tmp/cpu.lock .venv/bin/python bench/verify.py --timing state/sotu-index
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import remove_index  # noqa: E402

from index.build import build_index  # noqa: E402
from index.embedder import TorchEmbedder  # noqa: E402
from search.quotes import align, tokens  # noqa: E402
from search.searcher import Searcher  # noqa: E402
from search.settings import load_settings  # noqa: E402
from search.verify import VERDICTS, best_paraphrase, pool_from_searcher, rare_words, validate_quote, verify  # noqa: E402

QUOTES = ROOT / "tests" / "data" / "quotes.jsonl"
SEED = ROOT / "data" / "statements"
SOTU = ROOT.parent / "shared" / "data" / "statements" / "us-sotu-1790-2008"
STATE = ROOT / "state" / "bench" / "verify"


def load_quotes(path: Path = QUOTES) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def corpus_for(rows: list[dict], folder: Path, sotu: Path = SOTU, seed: Path = SEED) -> Path:
    """A flat folder with the seed statements and every SOTU address the set names (ids = file stems)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for src in seed.glob("*.txt"):
        shutil.copy(src, folder / src.name)
    names = {d for r in rows for d in [r.get("document"), *r.get("also", [])] if d}
    for name in sorted(names):
        src = sotu / f"{name}.txt"
        if src.exists():
            shutil.copy(src, folder / src.name)
    return folder


def confusion(results: list[dict]) -> str:
    """Markdown confusion matrix: expected verdict per row, returned verdict per column."""
    counts = Counter((r["expected"], r["verdict"]) for r in results)
    lines = ["| expected \\ got | " + " | ".join(VERDICTS) + " |", "|---|" + "---|" * len(VERDICTS)]
    for e in VERDICTS:
        lines.append(f"| {e} | " + " | ".join(str(counts[(e, g)]) for g in VERDICTS) + " |")
    return "\n".join(lines)


def per_category(results: list[dict]) -> str:
    cats: dict[str, list[bool]] = {}
    for r in results:
        cats.setdefault(r["category"], []).append(r["ok"])
    lines = ["| category | quotes | correct | accuracy |", "|---|---|---|---|"]
    for c, oks in cats.items():
        lines.append(f"| {c} | {len(oks)} | {sum(oks)} | {sum(oks) / len(oks):.2f} |")
    return "\n".join(lines)


def features(searcher: Searcher, quote: str) -> dict:
    """Best word similarity / coverage over the candidates and the best sentence cosine."""
    text, toks = validate_quote(quote, 10_000)
    pool = pool_from_searcher(searcher, text, rare_words(toks, text), None)
    best = max((align(text, toks, c.text, tokens(c.text)) for c in pool.candidates),
               key=lambda a: (a.similarity, a.coverage), default=None)
    return {"similarity": round(best.similarity, 3) if best else 0.0,
            "coverage": round(best.coverage, 3) if best else 0.0,
            "cosine": round(best_paraphrase(text, pool), 3), "candidates": len(pool.candidates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", action="store_true", help="print the calibration features per quote")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the index even if one exists")
    parser.add_argument("--json", type=Path, help="write per-quote results here")
    parser.add_argument("--timing", type=Path, metavar="INDEX", help="only time every quote's check on INDEX")
    parser.add_argument("--rounds", type=int, default=3, help="with --timing: passes over the set per row")
    args = parser.parse_args()
    rows = load_quotes()
    if args.timing:
        return timing(args.timing, rows, args.rounds)
    embedder = TorchEmbedder()
    index = STATE / "index"
    if args.rebuild or not (index / "manifest.json").exists():
        remove_index(index)  # from empty: a rebuild over it would reuse vectors by passage hash
        report = build_index(corpus_for(rows, STATE / "corpus"), index, embedder)
        print(f"built {report.documents} statements, {report.passages} passages in {report.seconds:.1f}s")
    searcher = Searcher(index, load_settings({"index": index}, environ={}), embedder)
    results, took = [], []
    for r in rows:
        res = verify(searcher, r["quote"])
        took.append(res.took_ms)
        docs = {m.document.id for m in res.matches}
        ok = res.verdict in r.get("acceptable", [r["expected"]])
        out = {**r, "verdict": res.verdict, "ok": ok,
               "document_ok": r["document"] is None or r["document"] in docs,
               "first_said": res.first_said.document.id if res.first_said else None}
        if args.features:
            out.update(features(searcher, r["quote"]))
            print(f"{r['id']} {r['category']:10} {res.verdict:10} sim={out['similarity']:.3f} "
                  f"cov={out['coverage']:.3f} cos={out['cosine']:.3f} {'ok' if ok else 'WRONG'}  {r['quote'][:60]}")
        results.append(out)
    print(f"\n{len(rows)} quotes, {sum(r['ok'] for r in results)} verdicts correct, "
          f"{sum(r['document_ok'] for r in results)} with the expected statement among the matches; "
          f"median {sorted(took)[len(took) // 2]:.0f} ms per quote ({time.strftime('%Y-%m-%d')})\n")
    print(confusion(results) + "\n")
    print(per_category(results))
    wrong = [r for r in results if not r["ok"] or not r["document_ok"]]
    for r in wrong:
        print(f"- {r['id']} {r['category']}: expected {r['expected']}, got {r['verdict']}: {r['quote']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def timing(index: Path, rows: list[dict], rounds: int) -> None:
    """p50/p95/p99 of a quote check on `index`, cold (question cache emptied) and cached."""
    import numpy as np
    from _common import header, report

    from search.live import set_threads

    set_threads(1)  # one BLAS/FAISS thread, as a serving worker runs
    searcher = Searcher.load(load_settings({"index": index, "threads": 1}, environ={}))
    quotes = [r["quote"] for r in rows]
    verify(searcher, "a warm-up quote about the thread pools and the page cache")
    out = []
    for attempt in ("cold", "cached"):
        took, cpu = [], []
        for _ in range(rounds):
            if attempt == "cold":
                searcher.cache = type(searcher.cache)()
            for q in quotes:
                began, began_cpu = time.perf_counter(), time.thread_time()
                verify(searcher, q)
                took.append((time.perf_counter() - began) * 1000)
                cpu.append((time.thread_time() - began_cpu) * 1000)
        p50, p95, p99 = (round(float(v), 1) for v in np.percentile(took, [50, 95, 99]))
        out.append({"vector": attempt, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                    "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 1), "checks": len(took)})
        print(out[-1], flush=True)
    report("verify-timing", header(f"Quote check latency ({len(quotes)} quotes, 1 thread)"), out,
           ["vector", "p50_ms", "p95_ms", "p99_ms", "cpu_p50_ms", "checks"], {"index": str(index)})


if __name__ == "__main__":
    main()
