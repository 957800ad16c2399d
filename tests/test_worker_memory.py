"""What keeps a `serve` worker small (docs/performance.md, "Worker memory"): libraries a search never uses
stay unimported, bm25s reads and scores without scipy and tqdm, glibc's mmap threshold is fixed, and the
question encoder holds one tokenizer. Each runs in a fresh interpreter, where the imports are real."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NOT_FOR_SEARCH = ("scipy", "tqdm", "feedgen", "lxml", "rapidfuzz")


def run_python(code: str, **env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_server_process_scores_bm25_without_scipy_tqdm_or_the_feed_and_quote_libraries(tmp_path):
    from index.keyword import KeywordIndex

    texts = ["The tariff on imports was raised.", "Congress debated the national debt.",
             "Imports of steel and the tariff question", "Nothing about trade here at all"]
    built = KeywordIndex.build(texts, ["en"] * len(texts))
    built.save(tmp_path)
    question = "tariff on steel imports"
    got = run_python(f"""
import json, sys
import web.cli  # what `statement-search serve` has imported when it starts
from index.keyword import KeywordIndex, import_for_reading
import_for_reading()
import search.quotes, web.feeds  # their libraries load when a quote is checked or a feed is written
scores = KeywordIndex.load({str(tmp_path)!r}).scores({question!r}).tolist()
print(json.dumps({{"scores": scores, "loaded": sorted(m for m in {NOT_FOR_SEARCH!r} if m in sys.modules)}}))
""")
    assert got["loaded"] == []
    assert np.array_equal(np.asarray(got["scores"], dtype=np.float32), built.scores(question))
    assert max(got["scores"]) > 0


def test_quote_alignment_and_feeds_still_load_their_libraries_when_used():
    got = run_python("""
import json, sys
from search.quotes import align, tokens
quote, passage = "we shall raise the tarif", "Next year we shall raise the tariff on imports."
a = align(quote, tokens(quote), passage, tokens(passage))
print(json.dumps({"rapidfuzz": "rapidfuzz" in sys.modules, "verbatim": a.verbatim}))
""")
    assert got == {"rapidfuzz": True, "verbatim": False}


def test_tune_malloc_sets_the_threshold_unless_the_operator_did():
    got = run_python("""
import json
from web.serve import tune_malloc
print(json.dumps({"set": tune_malloc()}))
""")
    assert got["set"] is (sys.platform.startswith("linux"))
    got = run_python("""
import json
from web.serve import tune_malloc
print(json.dumps({"set": tune_malloc()}))
""", MALLOC_MMAP_THRESHOLD_="262144")
    assert got["set"] is False
