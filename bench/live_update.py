"""Seconds from starting `statement-search add` of one new statement until a running server answers from it,
and from starting `remove` until it no longer does (docs/performance.md, "Live additions and removals").

    flock /tmp/cpu.lock .venv/bin/python bench/live_update.py --index state/bench/live-20k [--runs 3]
    flock /tmp/cpu.lock .venv/bin/python bench/live_update.py --synthesise 1000000 --index state/bench/live-1m \
        [--source state/sotu-index]

The server is the real `serve` (gunicorn, one worker, reload_interval 0.2 s) on 127.0.0.1; add and
remove run as the real CLI in a fresh process (its start-up, model load included). The new statement is
a real SOTU address (George W. Bush, 2008) with every paragraph reworded by a lead-in, so every passage
is embedded (nothing reused by hash), and one paragraph with a fact no other statement holds; "answers
from it" is that paragraph as the top hit of the question about it; "gone" is no hit from it in the top
10 and its document view 404.

`--synthesise N` first makes an N-passage generation from the SOTU one (state/sotu-index): the passage
rows repeated (copy c of statement d is `d@c`), vectors and the HNSW index from bench/ann.py's
state/bench/ann-N-hnsw (SOTU vectors plus noisy copies), sentence vectors for the first copy only, and
a real BM25 over all N passage texts.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from _common import BENCH_STATE, ROOT, SOTU, SOTU_INDEX, header, report

from index import layout  # noqa: E402
from index.store import PassageStore  # noqa: E402

NEW_ID = "live-bench-statement"
FACT = "The keeper of the Vell Island lighthouse counted four hundred and seventeen puffins at dawn."
QUESTION = "how many puffins did the Vell Island lighthouse keeper count?"
SOURCE = "2008-01-28_george-w-bush"  # the last SOTU address of the corpus


def new_statement(folder: Path) -> Path:
    src = SOTU / f"{SOURCE}.txt"
    text = src.read_text()
    head, _, body = text.partition("\n\n")
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    body = "\n\n".join(f"As we meet again, {p[0].lower()}{p[1:]}" for p in paragraphs)
    path = folder / f"{NEW_ID}.txt"
    path.write_text(f"{head}\n\n{FACT}\n\n{body}\n")
    return path


def start_server(index: Path, log: list[str]) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STATEMENT_SEARCH_THREADS": "1",
           "STATEMENT_SEARCH_RELOAD_INTERVAL": "0.2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "web", "serve", "--index", str(index), "--host", "127.0.0.1",
                             "--port", "0", "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [(lines.put(x), log.append(x)) for x in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            m = re.search(r"serving (http://127\.0\.0\.1:\d+/)", lines.get(timeout=1))
        except queue.Empty:
            continue
        if m:
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("server did not start:\n" + "".join(log))


def fetch(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def top_ids(base: str, k: int) -> tuple[str, list[str]]:
    status, body = fetch(base + "api/search?" + urllib.parse.urlencode({"q": QUESTION, "k": k}))
    assert status == 200, body
    return body["index"]["generation"], [r["document"]["id"] for r in body["results"]]


def cli(*args: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "web", "-v", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"{args[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return time.perf_counter() - began, out.stdout + out.stderr


def until(check, limit: float = 1800) -> float:
    began = time.perf_counter()
    while not check():
        if time.perf_counter() - began > limit:
            raise SystemExit("timed out waiting for the server")
        time.sleep(0.05)
    return time.perf_counter()


def measure(index: Path, base: str, statement: Path, runs: int) -> list[dict]:
    rows = []
    for run in range(1, runs + 1):
        began = time.perf_counter()
        cli_s, out = cli("add", str(statement), "--index", str(index), "--quiet")
        seen = until(lambda: top_ids(base, 1)[1][:1] == [NEW_ID])
        rows.append({"action": "add", "run": run, "seconds_to_served": round(seen - began, 2),
                     "cli_seconds": round(cli_s, 2), **_steps(out)})
        began = time.perf_counter()
        cli_s, out = cli("remove", NEW_ID, "--index", str(index))
        seen = until(lambda: NEW_ID not in top_ids(base, 10)[1]
                     and fetch(base + f"api/documents/{NEW_ID}")[0] == 404)
        rows.append({"action": "remove", "run": run, "seconds_to_served": round(seen - began, 2),
                     "cli_seconds": round(cli_s, 2), **_steps(out)})
        print(rows[-2], rows[-1], flush=True)
    return rows


def _steps(output: str) -> dict:
    """The update's own time and its steps (the CLI's -v log line), from the CLI output."""
    out = {}
    m = re.search(r" in ([\d.]+)s →", output)
    if m:
        out["update_seconds"] = float(m.group(1))
    m = re.search(r"seconds by step: (\{.*\})", output)
    if m:
        out["steps"] = json.loads(m.group(1).replace("'", '"'))
    m = re.search(r"; (\d+) statements, (\d+) passages", output)
    if m:
        out["passages_after"] = int(m.group(2))
    return out


def synthesise(size: int, index: Path, source: Path = SOTU_INDEX) -> None:
    """An N-passage generation of repeated SOTU passages (see the module docstring)."""
    from index.keyword import KeywordIndex
    from index.manifest import Counts, read_manifest
    from index.vectors import FaissIndex
    from index.writer import generation_writer

    began = time.perf_counter()
    live = layout.current_generation(Path(source))
    if live is None:
        raise SystemExit(f"no SOTU index at {source}: build it (rebuild-index) or pass --source")
    ann = BENCH_STATE / f"ann-{size}-hnsw"
    for folder in (ann, ROOT.parent / "main" / "state" / "bench" / f"ann-{size}-hnsw"):
        if (folder / "index.faiss").is_file():
            ann = folder
            break
    else:
        raise SystemExit(f"{ann} is missing: run bench/ann.py --sizes {size} --types hnsw first")
    manifest = read_manifest(live)
    n = int(manifest.counts.passages)
    with generation_writer(index) as writer:  # the library's one writer: lock, stage, manifest, publish, tidy
        tmp = writer.stage()
        shutil.copyfile(ann / "vectors.npy", tmp / "vectors.npy")
        shutil.copyfile(ann / "index.faiss", tmp / "index.faiss")
        for name in ("sentences.npy", "sentence_spans.npy"):
            shutil.copyfile(live / name, tmp / name)
        shutil.copytree(live / layout.ENCODER_DIR, tmp / layout.ENCODER_DIR)
        conn = sqlite3.connect(tmp / layout.DB_FILE)
        conn.execute("ATTACH ? AS base", (str(live / layout.DB_FILE),))
        schema = [r[0] for r in conn.execute("SELECT sql FROM base.sqlite_master WHERE sql IS NOT NULL")]
        for sql in schema:
            conn.execute(sql)
        copies = -(-size // n)
        with conn:
            for c in range(copies):
                suffix = "" if c == 0 else f"@{c}"
                conn.execute("INSERT INTO passages SELECT id + ?, doc_id || ?, ordinal, paragraph, part, start, \"end\", "
                             "context, text, hash FROM base.passages WHERE id + ? < ?", (c * n, suffix, c * n, size))
                conn.execute("INSERT INTO documents SELECT id || ?, title, speaker, date, source, extra, path, text, "
                             "(SELECT COUNT(*) FROM passages p WHERE p.doc_id = d.id || ?) FROM base.documents d "
                             "WHERE EXISTS (SELECT 1 FROM passages p WHERE p.doc_id = d.id || ?)",
                             (suffix, suffix, suffix))
        conn.execute("DETACH base")
        documents = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        conn.close()
        texts = [t for _, t in PassageStore(tmp / layout.DB_FILE).keyword_texts()]  # what a build indexes
        print(f"sqlite: {len(texts)} passages, {documents} statements ({time.perf_counter() - began:.0f}s)", flush=True)
        t = time.perf_counter()
        keyword = KeywordIndex.build(texts)
        keyword.save(tmp)
        print(f"bm25 over {len(texts)} passages: {time.perf_counter() - t:.0f}s", flush=True)
        spec = json.loads((ann / "spec.json").read_text())
        vector_index = FaissIndex.load(tmp, spec)
        made = writer.manifest(model=manifest.model, dimension=manifest.dimension,
                               counts=Counts(documents=documents, passages=len(texts)), index=vector_index.spec(),
                               keyword=keyword.spec(), sentences=manifest.sentences, encoder=manifest.encoder,
                               probes=manifest.probes, corpus={**manifest.corpus, "synthesised": size})
        writer.publish(made)
    print(f"synthesised {index} ({size} passages) in {time.perf_counter() - began:.0f}s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="an index link (changed by the runs)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--synthesise", type=int, default=0, help="first make an N-passage generation at --index")
    ap.add_argument("--source", type=Path, default=SOTU_INDEX, help="the SOTU index --synthesise repeats")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    index = args.index if args.index.is_absolute() else ROOT / args.index
    if args.synthesise:
        synthesise(args.synthesise, index, args.source)
    elif layout.current_generation(index) is None:
        raise SystemExit(f"no index at {index}: copy or build the SOTU index there first")
    folder = BENCH_STATE / "live-update-input"
    folder.mkdir(parents=True, exist_ok=True)
    statement = new_statement(folder)
    log: list[str] = []
    proc, base = start_server(index, log)
    try:
        generation, _ = top_ids(base, 1)
        rows = measure(index, base, statement, args.runs)
    finally:
        from web.serve import stop_server

        stop_server(proc)
    from index.manifest import read_manifest

    m = read_manifest(layout.current_generation(index))
    label = args.label or f"{m.counts.passages}-{m.index['type']}"
    meta = header(f"live add/remove until served ({label})")
    report(f"live_update-{label}", meta, rows, ["action", "run", "seconds_to_served", "cli_seconds",
                                                "update_seconds", "passages_after"],
           {"index_type": m.index["type"], "question": QUESTION, "statement": str(statement)})


if __name__ == "__main__":
    main()
