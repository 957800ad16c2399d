"""The txtai side of bench/txtai_compare.py, run by state/txtai-venv/bin/python (never the project's venv).

    state/txtai-venv/bin/python bench/_txtai_worker.py JOB.json OUT.json

JOB.json (written by bench/txtai_compare.py): model folder, index folder, passages file (JSON list of
[id, text]), whether to build, torch threads for the build, k, the timed questions and the paraphrase
questions. With "build": builds a txtai hybrid index (BM25 terms + dense faiss, the passage ids as
txtai ids), saves it and writes the build seconds. Without: loads the saved index, asks each timed
question once on one thread and writes per-question times, the top-k ids, the load seconds, versions
and this process's RSS to OUT.json. Imports nothing from the project.
"""
from __future__ import annotations

import os

# One thread for everything that reads these at import time (OpenMP in torch and faiss, BLAS).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402


def memory_mb() -> dict:
    """Resident (VmRSS) and peak resident (VmHWM) memory of this process, MiB."""
    out = {}
    for line in open("/proc/self/status"):
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return {"rss_mb": out.get("VmRSS"), "peak_rss_mb": out.get("VmHWM")}


def config(job: dict) -> dict:
    """Hybrid: txtai's BM25 terms index plus dense vectors in faiss, scores fused by txtai (weights 0.5)."""
    faiss = {"components": job["faiss_components"]} if job.get("faiss_components") else {}
    return {"path": job["model"], "method": "transformers", "maxlength": True, "hybrid": True,
            "content": False, "backend": "faiss", "faiss": faiss}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    out_path = Path(sys.argv[2])
    import faiss
    import torch
    from transformers.utils import logging as hf_logging
    from txtai import Embeddings

    hf_logging.disable_progress_bar()  # no "Loading weights" bar

    index_dir = Path(job["index"])
    result: dict = {"versions": {name: version(name) for name in ("txtai", "torch", "faiss-cpu", "transformers")}}
    if job["build"]:
        torch.set_num_threads(job["build_threads"])
        faiss.omp_set_num_threads(job["build_threads"])
        passages = json.loads(Path(job["passages"]).read_text())
        began = time.perf_counter()
        embeddings = Embeddings(config(job))
        embeddings.index((pid, text, None) for pid, text in passages)
        result["build_s"] = round(time.perf_counter() - began, 1)
        result["build_threads"] = job["build_threads"]
        embeddings.save(str(index_dir))
        result["count"] = embeddings.count()
        print(f"txtai: built {result['count']} passages in {result['build_s']} s "
              f"({job['build_threads']} torch threads)", flush=True)
        out_path.write_text(json.dumps(result))
        return  # the questions run in a fresh process that loads the saved index, as a server would
    began = time.perf_counter()
    embeddings = Embeddings()
    embeddings.load(str(index_dir))
    result["load_s"] = round(time.perf_counter() - began, 2)
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    result["count"] = embeddings.count()
    result["components"] = ((embeddings.config.get("build") or {}).get("settings") or {}).get("components")
    result["scoring"] = embeddings.config.get("scoring")

    k = job["k"]
    for q in job["warmup"]:
        embeddings.search(q, k)
    times, cpu, process_cpu, ids = [], [], [], []
    for q in job["questions"]:
        began, began_cpu, began_process = time.perf_counter(), time.thread_time(), time.process_time()
        hits = embeddings.search(q, k)
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        process_cpu.append((time.process_time() - began_process) * 1000)
        ids.append([int(i) for i, _ in hits])
    encode = []  # the question's embedding alone, as search makes it (txtai keeps no question cache)
    for q in job["questions"]:
        began = time.perf_counter()
        embeddings.transform(q, "query")
        encode.append((time.perf_counter() - began) * 1000)
    result.update(times_ms=times, encode_ms=encode, cpu_ms=cpu, process_cpu_ms=process_cpu, ids=ids,
                  paraphrase_ids=[[int(i) for i, _ in embeddings.search(q, k)] for q in job["paraphrases"]],
                  paraphrase_ids_dense=[[int(i) for i, _ in embeddings.search(q, k, weights=1.0)]
                                        for q in job["paraphrases"]],
                  threads={"torch": torch.get_num_threads(), "faiss": faiss.omp_get_max_threads()},
                  **memory_mb())
    out_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
