"""Score the Russian / transliterated / mixed / English question set (bench/multilingual_questions.jsonl)
on an index of the demo corpus (data/statements: the English statements, the Russian Telegram export and
the scanned letter), per mode, through the service's own search (`Searcher.search`).

A question is answered at rank r when the r-th hit belongs to the expected statement and contains one of
the expected substrings. Prints top-1, top-10 and MRR@10 per mode, overall and per kind of question
(ru, ru-inflected, translit, mixed, en, en-scan), and the questions each mode missed. The questions were
written before any result was seen, and are not tuned to the system (docs/quality.md).

    flock /tmp/cpu.lock .venv/bin/python bench/multilingual.py [--index DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import header  # noqa: E402

from index.build import build_index  # noqa: E402
from search.settings import load_settings  # noqa: E402

QUESTIONS = ROOT / "bench" / "multilingual_questions.jsonl"
CORPUS = ROOT / "data" / "statements"
MODES = ("keyword", "vector", "hybrid")


def squash(text: str) -> str:
    return " ".join(text.split())


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prepare_index(index: Path, corpus: Path, embedder) -> tuple[Path, list[tuple[str, str]]]:
    """Build the index (a new generation every run, so it is always analysed by the code under test; the
    vectors of unchanged passages are reused from the previous one); (index, skipped files)."""
    report = build_index(corpus, index, embedder)
    return index, report.skipped


def answer_rank(hits, question: dict) -> int | None:
    expect = [squash(e) for e in question["expect"]]
    for rank, hit in enumerate(hits, 1):
        if hit.document.id == question["doc"] and any(e in squash(hit.text) for e in expect):
            return rank
    return None


def summary(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {"questions": n, "top1": sum(r == 1 for r in ranks) / n, "top10": sum(r is not None for r in ranks) / n,
            "mrr@10": sum(1 / r for r in ranks if r) / n}


def score(searcher, questions: list[dict], mode: str, depth: int = 10) -> dict:
    ranks = [answer_rank(searcher.search(q["question"], k=depth, mode=mode).hits, q) for q in questions]
    kinds: dict[str, list[int | None]] = defaultdict(list)
    for q, r in zip(questions, ranks):
        kinds[q["kind"]].append(r)
    return {**summary(ranks), "by_kind": {k: summary(v) for k, v in kinds.items()},
            "ranks": {q["question"]: r for q, r in zip(questions, ranks)},
            "missed": [q["question"] for q, r in zip(questions, ranks) if r is None]}


def main() -> None:
    from search.searcher import Searcher

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / "state" / "bench" / "multilingual-index")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--json", type=Path, help="Write the results here as JSON.")
    args = ap.parse_args()

    settings = load_settings({"index": args.index})
    embedder = settings.make_embedder(threads=0)
    args.index.parent.mkdir(parents=True, exist_ok=True)
    index, skipped = prepare_index(args.index, args.corpus, embedder)
    searcher = Searcher(index, settings, embedder)
    questions = load_questions()
    meta = header("multilingual question set")
    print(f"{meta['date']} · {meta['cpu']}")
    print(f"{len(questions)} questions, index {index} ({searcher.passages} passages, "
          f"{searcher.manifest.counts.documents} statements); skipped files: {[p for p, _ in skipped]}")
    results: dict = {**meta, "skipped": skipped, "modes": {}}
    for mode in MODES:
        results["modes"][mode] = score(searcher, questions, mode)
    print("\n| mode | top-1 | top-10 | MRR@10 |\n|---|---|---|---|")
    for mode, r in results["modes"].items():
        print(f"| {mode} | {r['top1']:.3f} | {r['top10']:.3f} | {r['mrr@10']:.3f} |")
    kinds = list(dict.fromkeys(q["kind"] for q in questions))
    print("\nMRR@10 (top-1 / top-10) by kind of question:\n")
    print("| kind | n | " + " | ".join(MODES) + " |\n|---|---|" + "---|" * len(MODES))
    for kind in kinds:
        cells = []
        for mode in MODES:
            s = results["modes"][mode]["by_kind"][kind]
            cells.append(f"{s['mrr@10']:.3f} ({s['top1']:.2f} / {s['top10']:.2f})")
        n = results["modes"][MODES[0]]["by_kind"][kind]["questions"]
        print(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    for mode in MODES:
        for miss in results["modes"][mode]["missed"]:
            print(f"  missed by {mode}: {miss}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
