"""Batch check rate: 1,000 quotes through a stored batch job on the SOTU index (search/batch.py).

The quotes are drawn (seeded) from the SOTU addresses themselves: verbatim sentences, the same sentences
with one word changed or dropped (altered), sentences with their words shuffled and invented sentences
built from SOTU vocabulary (not found or paraphrase), the calibration set's quotes (tests/data/quotes.jsonl),
and a share of rows with a speaker or date filter. The job runs as `verify --batch` runs it (the quotes of
each chunk embedded in one call, then one `verify` per quote), one thread, in a fresh job store.

    flock /tmp/cpu.lock .venv/bin/python bench/batch_verify.py [--index state/sotu-index] [--quotes 1000]

Prints quotes/s, seconds for the job, p50/p95 seconds per quote, and verdicts by kind of quote.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SOTU, SOTU_INDEX, header

from search.batch import owner_name, rows_of, run_job
from search.claims import Claim
from search.filters import make_filters
from search.jobs import JobStore
from search.searcher import Searcher
from search.settings import load_settings
from search.types import Filters

QUOTES = ROOT / "tests" / "data" / "quotes.jsonl"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def statements(folder: Path) -> list[tuple[str, str, str]]:
    """(speaker, date, body) of every address."""
    out = []
    for path in sorted(folder.glob("*.txt")):
        head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
        meta = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        out.append((meta.get("Speaker", ""), meta.get("Date", ""), body))
    return out


def make_quotes(n: int, seed: int = 7) -> list[tuple[str, Claim]]:
    """(kind, claim) rows: 40 % verbatim, 25 % altered, 10 % shuffled, 10 % invented, the calibration set,
    and every fifth verbatim row filtered by its speaker or year."""
    rng = random.Random(seed)
    docs = statements(SOTU)
    sentences = [(s, d, t.strip()) for s, d, body in docs for para in body.split("\n\n")
                 for t in SENTENCE_END.split(para.replace("\n", " ")) if 60 <= len(t.strip()) <= 220]
    vocabulary = sorted({w for _, _, t in sentences[::50] for w in re.findall(r"[a-z]{4,}", t)})
    calibration = [json.loads(x)["quote"] for x in QUOTES.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows: list[tuple[str, str, Filters]] = []
    for i in range(n):
        r = i % 20
        speaker, date, text = rng.choice(sentences)
        words = text.split()
        if r < 8:
            filters = Filters()
            if r == 0:
                filters = make_filters(speaker=[speaker])
            elif r == 4:
                filters = make_filters(after=date[:4], before=date[:4])
            rows.append(("verbatim", text, filters))
        elif r < 13:
            k = rng.randrange(len(words))
            if r % 2:
                words[k] = rng.choice(vocabulary)
            else:
                del words[k]
            rows.append(("altered", " ".join(words), Filters()))
        elif r < 15:
            rng.shuffle(words)
            rows.append(("shuffled", " ".join(words), Filters()))
        elif r < 17:
            rows.append(("invented", " ".join(rng.sample(vocabulary, 12)).capitalize() + ".", Filters()))
        else:
            rows.append(("calibration", rng.choice(calibration), Filters()))
    return [(kind, Claim(i + 1, q, f)) for i, (kind, q, f) in enumerate(rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=SOTU_INDEX)
    ap.add_argument("--quotes", type=int, default=1000)
    ap.add_argument("--json", type=Path, help="Also write the figures here.")
    args = ap.parse_args()
    settings = load_settings({"index": args.index, "threads": 1})
    began = time.perf_counter()
    searcher = Searcher.load(settings)
    loaded = time.perf_counter() - began
    rows = make_quotes(args.quotes)
    kinds = {c.row: kind for kind, c in rows}
    with tempfile.TemporaryDirectory() as tmp:
        store = JobStore(Path(tmp) / "jobs.sqlite")
        job = store.create([c for _, c in rows], "bench.csv", "csv")
        owner = owner_name()
        store.claim(owner, 600, job.id)
        stamps = [time.perf_counter()]
        from tqdm import tqdm

        bar = tqdm(total=job.total, unit="quote", file=sys.stderr)

        def progress(j):
            stamps.append(time.perf_counter())
            bar.update(j.done - bar.n)

        start = time.perf_counter()
        done = run_job(store, job.id, owner, lambda: searcher, 600, progress=progress)
        seconds = time.perf_counter() - start
        bar.close()
        results = rows_of(store.results(job.id))
    assert done.status == "done" and len(results) == args.quotes
    per = sorted(b - a for a, b in itertools.pairwise(stamps))
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_kind[kinds[r.row]][r.verdict] += 1
    figures = {**header("batch verify"), "index": str(args.index), "passages": searcher.passages,
               "quotes": args.quotes, "load_s": round(loaded, 2), "seconds": round(seconds, 1),
               "quotes_per_s": round(args.quotes / seconds, 2),
               "per_quote_s_p50": round(per[len(per) // 2], 3), "per_quote_s_p95": round(per[int(len(per) * .95)], 3),
               "verdicts_by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
