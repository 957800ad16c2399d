"""Calibrate the keyword-coverage "no strong match" line (setting `weak_coverage`) for questions the English
sentence model cannot read: the coverage (BM25 over the question's ideal BM25) of the top hit of
answered non-English questions against that of off-topic Russian / Ukrainian questions
(bench/data/off_topic_ru.txt), on the index the multilingual question set uses.

    flock /tmp/cpu.lock .venv/bin/python bench/weak_languages.py [--index DIR] [--questions FILE] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.settings import load_settings  # noqa: E402

OFF_TOPIC = ROOT / "bench" / "data" / "off_topic_ru.txt"


def squash(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    from search.searcher import Searcher

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / "state" / "bench" / "multilingual-index")
    ap.add_argument("--questions", type=Path, default=ROOT / "bench" / "multilingual_questions.jsonl")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = load_settings({"index": args.index})
    searcher = Searcher(args.index, settings, settings.make_embedder(threads=0))
    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    on_topic, answered = [], 0
    for q in questions:
        if searcher.ranker.reads(q["question"]):
            continue
        hits = searcher.search(q["question"], k=1).hits
        if hits and hits[0].document.id == q["doc"] and any(squash(e) in squash(hits[0].text) for e in q["expect"]):
            answered += 1
            on_topic.append(searcher.keyword_coverage(q["question"], [hits[0].id])[hits[0].id])
    off = [line.strip() for line in OFF_TOPIC.read_text(encoding="utf-8").splitlines() if line.strip()]
    off_topic = []
    for question in off:
        hits = searcher.search(question, k=1).hits
        off_topic.append(searcher.keyword_coverage(question, [hits[0].id])[hits[0].id] if hits else 0.0)
    rows = []
    for line in (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        kept = float(np.mean([c >= line for c in on_topic])) if on_topic else 0.0
        caught = float(np.mean([c < line for c in off_topic]))
        rows.append({"line": line, "answered_kept_strong": kept, "off_topic_caught": caught})
    print(f"{answered} non-English questions answered at rank 1; {len(off_topic)} off-topic questions")
    print("answered top-hit coverage:", sorted(round(c, 3) for c in on_topic))
    print("off-topic top-hit coverage:", sorted(round(c, 3) for c in off_topic))
    print("\n| weak_coverage | answered kept strong | off-topic caught |\n|---|---|---|")
    for r in rows:
        print(f"| {r['line']} | {r['answered_kept_strong']:.2f} | {r['off_topic_caught']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"on_topic": on_topic, "off_topic": off_topic, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
