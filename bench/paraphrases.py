"""Score paraphrased questions (tests/data/paraphrases.jsonl) on a SOTU + seed index, per mode.

A question is answered at rank r when the r-th passage belongs to the expected statement and
contains one of the expected substrings. Prints top-1, top-10 and MRR@10 per mode (and per fusion
setting with --grid), and with --calibrate the question-passage cosine of the top hit for in-scope
paraphrases, natural questions and out-of-scope questions (tests/data/out_of_scope.txt), against
fixed lines and against each index's own line (search/weak.py: probe questions measured at build).

    flock /tmp/cpu.lock .venv/bin/python bench/paraphrases.py [--grid] [--calibrate] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import QUESTIONS as SOTU_QUESTIONS  # noqa: E402
from _common import SOTU  # noqa: E402

from index.build import build_index  # noqa: E402
from index.manifest import read_manifest  # noqa: E402
from index.statements import scan_corpus  # noqa: E402
from search.duplicates import collapse_duplicates  # noqa: E402
from search.settings import load_settings  # noqa: E402

SEED = ROOT / "data" / "statements" / "durov-2024-09-06.txt"
QUESTIONS = ROOT / "tests" / "data" / "paraphrases.jsonl"
OUT_OF_SCOPE = ROOT / "tests" / "data" / "out_of_scope.txt"
MODES = ("vector", "keyword", "hybrid")


def squash(text: str) -> str:
    return " ".join(text.split())


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prepare_corpus(folder: Path, sotu: Path = SOTU, seed: Path = SEED) -> Path:
    """A flat folder of links to every SOTU address and the seed statement (ids are file stems)."""
    folder.mkdir(parents=True, exist_ok=True)
    for src in sorted(sotu.glob("*.txt")) + [seed]:
        link = folder / src.name
        if not link.exists():
            link.symlink_to(src.resolve())
    return folder


def prepare_index(index: Path, corpus: Path, encoder, reuse_from: Path | None) -> Path:
    """Build the combined index unless it already holds this corpus; seed vectors from another index."""
    fingerprint = scan_corpus(corpus).fingerprint
    if index.exists():
        try:
            manifest = read_manifest(index.resolve())
            if manifest.corpus.get("fingerprint") == fingerprint and manifest.probes:
                return index
        except Exception:
            pass
    if not index.exists() and reuse_from is not None and reuse_from.exists():
        # build_index reuses vectors of the index's live generation by passage hash:
        # start from a copy of the SOTU index so only the seed statement is embedded.
        copy = index.parent / f".{index.name}.gen-seeded"
        shutil.copytree(reuse_from.resolve(), copy)
        index.symlink_to(copy.name)
    build_index(corpus, index, encoder)
    return index


def answer_rank(searcher, question: dict, ranked: list[tuple[int, float]]) -> int | None:
    rows = searcher.store.passages([pid for pid, _ in ranked])
    expect = [squash(e) for e in question["expect"]]
    for rank, (pid, _) in enumerate(ranked, 1):
        row = rows.get(pid)
        if row and row["doc_id"] == question["doc"] and any(e in squash(row["text"]) for e in expect):
            return rank
    return None


def score(searcher, questions: list[dict], mode: str, depth: int = 10) -> dict:
    ranks = []
    for qu in questions:
        qvec = searcher.embed_question(qu["question"])
        ranked, _ = collapse_duplicates(searcher.store, searcher.ranker.rank(qu["question"], qvec, depth * 3, mode),
                                        depth)
        ranks.append(answer_rank(searcher, qu, ranked[:depth]))
    n = len(ranks)
    return {"top1": sum(r == 1 for r in ranks) / n, "top10": sum(r is not None for r in ranks) / n,
            "mrr@10": sum(1 / r for r in ranks if r) / n, "questions": n,
            "missed": [qu["question"] for qu, r in zip(questions, ranks) if r is None]}


def top_cosines(searcher, questions: list[str]) -> list[float]:
    """Cosine of the best passage by vector search for each question."""
    out = []
    for text in questions:
        out.append(searcher.ranker.vector_top(searcher.embed_question(text), 1)[0][1])
    return out


IN_SCOPE_SEED = ROOT / "tests" / "data" / "in_scope_seed.txt"
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def calibrate(searcher, seed_searcher, questions: list[dict]) -> dict:
    """Cosine distributions of in-scope and out-of-scope questions, and how each threshold splits them."""
    outside = _lines(OUT_OF_SCOPE)
    # in-scope: the cosine of the expected passage itself (what must stay "strong")
    expected = []
    for qu in questions:
        ranked = searcher.ranker.vector_top(searcher.embed_question(qu["question"]), 200)
        r = answer_rank(searcher, qu, ranked)
        if r is not None:
            expected.append(ranked[r - 1][1])
    groups = {
        "in: natural seed questions, top-1 (seed index)": (top_cosines(seed_searcher, _lines(IN_SCOPE_SEED)), True),
        "in: seed paraphrases, top-1 (seed index)":
            (top_cosines(seed_searcher, [q["question"] for q in questions if q["doc"] == SEED.stem]), True),
        "in: paraphrases, expected passage (sotu+seed)": (expected, True),
        "out: off-topic, top-1 (seed index)": (top_cosines(seed_searcher, outside), False),
        "out: off-topic, top-1 (sotu+seed)": (top_cosines(searcher, outside), False),
        "in: SOTU questions (bench/_common.py), top-1 (sotu+seed)": (top_cosines(searcher, SOTU_QUESTIONS), True),
    }
    lines = {"seed": seed_searcher.weak_line, "sotu+seed": searcher.weak_line}
    out = {"lines": lines, "probes": {name: list(s.manifest.probes) for name, s in
                                      (("seed", seed_searcher), ("sotu+seed", searcher))}}
    print(f"\nper-index line (weak_below {searcher.settings.weak_below}, weak_quantile "
          f"{searcher.settings.weak_quantile}): " + ", ".join(f"{k} {v:.3f}" for k, v in lines.items()))
    print("\n| questions | n | min | median | max | " + " | ".join(f"right at {t}" for t in THRESHOLDS)
          + " | right at the index's line |")
    print("|---|---|---|---|---|" + "---|" * (len(THRESHOLDS) + 1))
    for name, (values, inside) in groups.items():
        v = np.asarray(values)
        line = lines["seed"] if "(seed" in name else lines["sotu+seed"]
        right = [float(np.mean(v >= t) if inside else np.mean(v < t)) for t in THRESHOLDS + (line,)]
        out[name] = {"values": [round(float(x), 3) for x in v], "right": dict(zip(THRESHOLDS, right)),
                     "right_at_line": right[-1]}
        print(f"| {name} | {len(v)} | {v.min():.3f} | {np.median(v):.3f} | {v.max():.3f} | "
              + " | ".join(f"{r:.2f}" for r in right) + " |")
    for name, values in out["probes"].items():
        v = np.asarray(values)
        print(f"probes ({len(v)}, index/probes.py) top-1 on {name}: min {v.min():.3f} median {np.median(v):.3f} "
              f"p90 {np.quantile(v, 0.9):.3f} max {v.max():.3f}")
    return out


def main() -> None:
    from search.searcher import Searcher

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / "state" / "bench" / "paraphrase-index")
    ap.add_argument("--reuse", type=Path, default=ROOT / "state" / "sotu-index",
                    help="An existing SOTU index whose vectors seed the first build.")
    ap.add_argument("--grid", action="store_true", help="Also score every fusion setting of the tuning grid.")
    ap.add_argument("--calibrate", action="store_true", help="Print the cosine distributions behind the weak line.")
    ap.add_argument("--json", type=Path, help="Write the results here as JSON.")
    args = ap.parse_args()

    settings = load_settings()
    embedder = settings.make_embedder(threads=0)
    corpus = prepare_corpus(args.index.parent / "paraphrase-corpus")
    index = prepare_index(args.index, corpus, embedder, args.reuse)
    searcher = Searcher(index, settings, embedder)
    questions = load_questions()
    results: dict = {"default": {"fusion": settings.fusion, "hybrid_weight": settings.hybrid_weight,
                                 "gate": settings.keyword_gate}}
    print(f"{len(questions)} questions, index {index} ({searcher.passages} passages)")
    print("| mode | top-1 | top-10 | MRR@10 |\n|---|---|---|---|")
    for mode in MODES:
        r = score(searcher, questions, mode)
        results[mode] = r
        print(f"| {mode} | {r['top1']:.3f} | {r['top10']:.3f} | {r['mrr@10']:.3f} |")
    for mode in MODES:
        for miss in results[mode]["missed"]:
            print(f"  missed by {mode}: {miss}")
    if args.grid:
        from tune_fusion import FUSION_GRID, label

        results["grid"] = {}
        print("\n| fusion | top-1 | top-10 | MRR@10 |\n|---|---|---|---|")
        for fusion, weight, gate in FUSION_GRID:
            tuned = searcher.with_settings(fusion=fusion, hybrid_weight=weight, gate_low=gate[0], gate_high=gate[1])
            r = score(tuned, questions, "hybrid")
            results["grid"][label(fusion, weight, gate)] = r
            print(f"| {label(fusion, weight, gate)} | {r['top1']:.3f} | {r['top10']:.3f} | {r['mrr@10']:.3f} |")
    if args.calibrate:
        seed_index = args.index.parent / "seed-index"
        seed_corpus = args.index.parent / "seed-corpus"
        seed_corpus.mkdir(parents=True, exist_ok=True)
        if not (seed_corpus / SEED.name).exists():
            (seed_corpus / SEED.name).symlink_to(SEED.resolve())
        seed_searcher = Searcher(prepare_index(seed_index, seed_corpus, embedder, None), settings, embedder)
        results["calibration"] = calibrate(searcher, seed_searcher, questions)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
