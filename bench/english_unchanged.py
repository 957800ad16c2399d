"""Check that English keyword scoring is unchanged by the per-language analysis: SciFact's corpus indexed by
the BM25 of an older revision (before languages) and by this one; every test query's BM25 scores and ideal
score compared, and whether the sentence model is taken to read it (no language gate on an English index).

    .venv/bin/python bench/english_unchanged.py [--rev aa78c18] [--dataset ../shared/data/scifact]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.analysis import is_english  # noqa: E402
from index.keyword import KeywordIndex  # noqa: E402
from index.language import detect  # noqa: E402


def old_keyword_module(rev: str):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:index/keyword.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "keyword_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("index.keyword_old", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    module.__package__ = "index"
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", default="aa78c18", help="a revision before per-language analysis")
    ap.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    docs = [json.loads(line) for line in (args.dataset / "corpus.jsonl").read_text().splitlines() if line.strip()]
    texts = [d.get("title", "") + "\n" + d["text"] for d in docs]
    languages = [detect(t) for t in texts]
    before = old_keyword_module(args.rev).KeywordIndex.build(texts)
    after = KeywordIndex.build(texts, languages)
    qrels = (args.dataset / "qrels" / f"{args.split}.tsv").read_text().splitlines()[1:]
    judged = {line.split("\t")[0] for line in qrels}
    queries = [json.loads(line) for line in (args.dataset / "queries.jsonl").read_text().splitlines() if line.strip()]
    queries = [q for q in queries if q["_id"] in judged]
    present = tuple(sorted(after.languages or {}))
    scores = sum(np.array_equal(before.scores(q["text"]), after.scores(q["text"])) for q in queries)
    ideal = sum(abs(before.ideal_score(q["text"]) - after.ideal_score(q["text"])) < 1e-9 for q in queries)
    english = sum(is_english(q["text"], present) for q in queries)
    print(f"passages by language: {after.languages}")
    print(f"{len(queries)} {args.split} queries: identical BM25 scores {scores}, identical ideal score {ideal}, "
          f"read by the sentence model {english}")


if __name__ == "__main__":
    main()
