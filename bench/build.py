"""Build time of the SOTU index: a full build, then an incremental one after one file is added.

    flock /tmp/cpu.lock .venv/bin/python bench/build.py [--backend torch|onnx|onnx-int8] [--index-type auto]

The corpus is the SOTU statements less the last one (symlinks under state/bench/build-corpus); the full
build starts from an empty index, then the held-out file is linked in and the index rebuilt, which
embeds only the new file's passages. Reports seconds, passages/s and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import shutil

from _common import BENCH_STATE, SOTU, header, peak_rss_mb, remove_index, report

from index.build import build_index  # noqa: E402
from search.settings import load_settings  # noqa: E402


def row(name: str, r) -> dict:
    """One table row; texts_per_s counts passages and sentences embedded (what the model did)."""
    sentences, embedded_sentences = getattr(r, "sentences", 0), getattr(r, "sentences_embedded", 0)
    return {"build": name, "documents": r.documents, "passages": r.passages, "embedded": r.embedded,
            "sentences": sentences, "sentences_embedded": embedded_sentences, "seconds": round(r.seconds, 1),
            "texts_per_s": round((r.embedded + embedded_sentences) / r.seconds, 1), "peak_rss_mb": round(peak_rss_mb())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="torch", help="torch, onnx or onnx-int8")
    ap.add_argument("--index-type", default="auto", help="auto, flat, hnsw or ivf")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the batch_size setting")
    args = ap.parse_args()

    settings = load_settings({"embedding_backend": args.backend, "index_type": args.index_type,
                              "batch_size": args.batch_size})
    corpus, index = BENCH_STATE / "build-corpus", BENCH_STATE / f"build-{args.backend}"
    shutil.rmtree(corpus, ignore_errors=True)
    remove_index(index)
    corpus.mkdir(parents=True)
    files = sorted(p for p in SOTU.iterdir() if p.is_file() and p.suffix == ".txt")  # statements only
    for path in files[:-1]:
        (corpus / path.name).symlink_to(path)

    encoder = settings.make_embedder(threads=0)
    batch = settings.batch_size or encoder.batch_size
    rows = []
    full = build_index(corpus, index, encoder, batch_size=settings.batch_size,
                       index_type=settings.index_type, ann_threshold=settings.ann_threshold)
    rows.append(row("full", full))
    print(rows[-1], flush=True)
    (corpus / files[-1].name).symlink_to(files[-1])
    more = build_index(corpus, index, encoder, batch_size=settings.batch_size,
                       index_type=settings.index_type, ann_threshold=settings.ann_threshold)
    rows.append(row(f"+1 file ({files[-1].name})", more))
    print(rows[-1], flush=True)
    report(f"build-{args.backend}", header(f"SOTU index build ({args.backend}, batch {batch})"), rows,
           ["build", "documents", "passages", "embedded", "sentences", "sentences_embedded", "seconds",
            "texts_per_s", "peak_rss_mb"],
           {"backend": args.backend, "batch_size": batch, "index_type": args.index_type})


if __name__ == "__main__":
    main()
