"""Shared by the bench/ scripts: machine line, JSON result files and markdown tables."""
from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from index.embedder import available_cores  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SHARED = ROOT.parent / "shared" / "data"  # the example data beside the project, as tests/conftest.py finds it
SOTU = SHARED / "statements" / "us-sotu-1790-2008"
SOTU_INDEX = ROOT / "state" / "sotu-index"
BENCH_STATE = ROOT / "state" / "bench"


def cpu_line() -> str:
    """The machine's CPU model line from /proc/cpuinfo, with the cores this process may use."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({available_cores()} cores available)"


def header(title: str) -> dict:
    return {"benchmark": title, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": cpu_line(),
            "python": platform.python_version()}


def table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def report(name: str, meta: dict, rows: list[dict], columns: list[str], extra: dict | None = None) -> Path:
    """Write bench/results/<name>-<timestamp>.json and print the markdown table with date and CPU."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({**meta, **(extra or {}), "rows": rows}, indent=2) + "\n")
    print(f"\n### {meta['benchmark']}\n\n{meta['date']} · {meta['cpu']}\n")
    print(table(rows, columns))
    print(f"\n(written to {path.relative_to(ROOT)})")
    return path


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MiB."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sotu_passages(encoder, limit: int | None = None, seed: int = 0) -> list[str]:
    """Embedding texts of the SOTU corpus split as the index splits it (a seeded sample if `limit`)."""
    import random

    from index.passages import split_statement, statement_heading
    from index.statements import scan_corpus

    texts = [d.embed_text for st in scan_corpus(SOTU).statements
             for d in split_statement(st.text, encoder.passage_limit, encoder.count_tokens,
                                      statement_heading(st.speaker, st.title, st.text))]
    if limit and limit < len(texts):
        texts = random.Random(seed).sample(texts, limit)
    return texts


# Real questions a reader of the State of the Union addresses might ask (query benchmarks).
QUESTIONS = [
    "What did the president say about tariffs on imported goods?",
    "How should the national debt be paid off?",
    "What was said about slavery and its abolition?",
    "Plans to build railroads across the continent",
    "Relations with Great Britain and the Treaty of Ghent",
    "What are the reasons for going to war with Mexico?",
    "Support for public schools and education of children",
    "How will the government help farmers during the depression?",
    "Social Security and old age pensions",
    "The threat of communism and the Soviet Union",
    "Civil rights and voting rights for all citizens",
    "Reducing taxes for working families",
    "Health insurance for every American",
    "The war on terror after September 11",
    "Immigration and securing the borders",
    "Protecting the environment and clean air",
    "What did the president say about the Panama Canal?",
    "Energy independence and dependence on foreign oil",
    "The gold standard and the currency",
    "Treaties with the Indian tribes",
    "Reforming the civil service and ending the spoils system",
    "The cost of the army and the navy",
    "Monopolies, trusts and regulating big business",
    "What was said about the League of Nations?",
    "Space exploration and landing on the moon",
    "Balancing the federal budget",
    "Crime, drugs and safer streets",
    "Welfare reform and getting people back to work",
    "Aid to Europe after the Second World War",
    "Nuclear weapons and arms control",
    "Veterans' benefits and pensions for soldiers",
    "The Louisiana purchase and westward expansion",
    "Postal service and post roads",
    "Piracy in the Mediterranean and the Barbary states",
    "Women's suffrage",
    "Unemployment and creating jobs",
    "Trade agreements with Canada and Mexico",
    "Improving the nation's highways",
    "Funding for scientific research",
    "Inflation and rising prices",
]


def real_questions() -> list[str]:
    """QUESTIONS plus the paraphrased questions of tests/data/paraphrases.jsonl when present."""
    extra = []
    path = ROOT / "tests" / "data" / "paraphrases.jsonl"
    if path.is_file():
        extra = [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    return QUESTIONS + extra


def remove_index(index: Path) -> None:
    """The index link and every generation, lock and temporary folder beside it: a full build starts empty.
    (shutil.rmtree refuses the link, so an earlier run's vectors would otherwise be reused.)"""
    for path in index.parent.glob(f".{index.name}.*"):
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    if index.is_symlink() or index.is_file():
        index.unlink()
    else:
        shutil.rmtree(index, ignore_errors=True)
