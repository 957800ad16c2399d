"""The libraries whose internals this project uses, checked where it uses them, so that an upgrade that
moves them fails here, loudly and by name, rather than somewhere in a server or an index update.

pyproject.toml bounds gunicorn and bm25s from above. Before raising a bound: install the new version,
run this file; a failure names the module that relies on what changed.
"""
from __future__ import annotations

import inspect
import math
import socket
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def need(ok: bool, what: str, module: str) -> None:
    if not ok:
        pytest.fail(f"{what} changed: {module} relies on it. Review {module} before raising this library's "
                    "upper bound in pyproject.toml.", pytrace=False)


def params(func: Callable[..., Any] | None) -> list[str]:
    return list(inspect.signature(func).parameters) if callable(func) else []


# -- gunicorn's threaded worker (web/worker.py subclasses it) ----------------------------------------
WORKER = "web/worker.py (BufferedThreadWorker)"


def test_gunicorn_threaded_worker_methods_we_override_or_call():
    from gunicorn.workers.gthread import TConn, ThreadWorker

    need(params(TConn.__init__) == ["self", "cfg", "sock", "client", "server"],
         "gunicorn.workers.gthread.TConn(cfg, sock, client, server)", WORKER)
    for name, expected in {"accept": ["self", "listener"], "enqueue_req": ["self", "conn"],
                           "murder_pending": ["self"], "handle": ["self", "conn"], "notify": ["self"]}.items():
        need(params(getattr(ThreadWorker, name, None)) == expected,
             f"gunicorn ThreadWorker.{name}({', '.join(expected[1:])})", WORKER)


def test_gunicorn_threaded_worker_state_we_read():
    from gunicorn.config import Config
    from gunicorn.workers.gthread import ThreadWorker

    worker = ThreadWorker(0, 0, [], object(), 30, Config(), None)
    try:
        for name in ("nr_conns", "poller", "cfg", "app"):
            need(hasattr(worker, name), f"gunicorn ThreadWorker.{name} (set by its constructor)", WORKER)
        need(hasattr(worker.cfg, "is_ssl") and not worker.cfg.is_ssl and isinstance(worker.cfg.timeout, int),
             "gunicorn Config.is_ssl / Config.timeout", WORKER)
    finally:
        worker.tmp.close()


def test_gunicorn_connection_parser_buffer_we_prefill():
    """The worker reads a request's bytes itself, then hands them to the connection's parser by unread()."""
    from gunicorn.config import Config
    from gunicorn.workers.gthread import TConn

    a, b = socket.socketpair()
    try:
        conn = TConn(Config(), a, ("127.0.0.1", 50000), ("127.0.0.1", 8000))
        need(conn.parser is None and conn.data_ready is False and conn.sock is a,
             "gunicorn TConn's parser / data_ready / sock attributes", WORKER)
        conn.sock.setblocking(True)
        conn.init()
        unreader = getattr(conn.parser, "unreader", None)
        need(unreader is not None and callable(getattr(unreader, "unread", None))
             and callable(getattr(getattr(unreader, "buf", None), "getvalue", None)),
             "gunicorn TConn.init() -> parser.unreader with unread() and buf.getvalue()", WORKER)
        request = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
        unreader.unread(request)
        need(unreader.buf.getvalue() == request, "gunicorn Unreader.unread() / buf", WORKER)
        parsed = next(iter(conn.parser))
        need((parsed.method, parsed.path) == ("GET", "/api/health"),
             "gunicorn's parser reading the bytes given back by unread()", WORKER)
        need(callable(getattr(conn, "close", None)), "gunicorn TConn.close()", WORKER)
    finally:
        a.close()
        b.close()


# -- bm25s (index/keyword.py reads and writes its score matrix) --------------------------------------
KEYWORD = "index/keyword.py (KeywordIndex: scores, ideal_score, updated)"
TEXTS = ["the cat sat on the mat", "a dog and a cat", "dogs bark at cats all day long", "nothing here"]


def test_bm25s_calls_we_make():
    import bm25s

    need({"stopwords", "stemmer", "return_ids", "show_progress"} <= set(params(bm25s.tokenize)),
         "bm25s.tokenize(stopwords=, stemmer=, return_ids=, show_progress=)", KEYWORD)
    need({"k1", "b", "method"} <= set(params(bm25s.BM25.__init__)), "bm25s.BM25(k1=, b=, method=)", KEYWORD)
    need({"show_progress"} <= set(params(bm25s.BM25.index)), "bm25s.BM25.index(..., show_progress=)", KEYWORD)
    need({"mmap", "show_progress"} <= set(params(bm25s.BM25.load)), "bm25s.BM25.load(mmap=, show_progress=)",
         KEYWORD)
    need({"show_progress"} <= set(params(bm25s.BM25.save)), "bm25s.BM25.save(..., show_progress=)", KEYWORD)


def test_bm25s_score_matrix_is_lucene_bm25_as_keyword_index_assumes(tmp_path):
    """KeywordIndex.updated rebuilds bm25s's attributes by hand and recovers term frequencies from the stored
    scores with the Lucene formula; ideal_score reads document frequencies off the column pointers."""
    import bm25s

    from index.keyword import PARAMS_FILE, analyse

    k1, b = 0.6, 0.35
    tokens = analyse(TEXTS)
    r = bm25s.BM25(k1=k1, b=b, method="lucene")
    r.index(tokens, show_progress=False)
    need(isinstance(getattr(r, "scores", None), dict)
         and {"data", "indices", "indptr", "num_docs"} <= set(r.scores),
         "bm25s BM25.scores (a CSC matrix as data / indices / indptr, and num_docs)", KEYWORD)
    for name in ("vocab_dict", "unique_token_ids_set", "nonoccurrence_array", "k1", "b", "method"):
        need(hasattr(r, name), f"bm25s BM25.{name}", KEYWORD)
    words = [w for w in r.vocab_dict if w]
    need(r.scores["num_docs"] == len(TEXTS) and len(r.scores["indptr"]) == len(words) + 1
         and r.vocab_dict.get("") in (None, len(words)),
         "bm25s's score matrix: one column per vocabulary word, the empty token (if any) last and unscored", KEYWORD)

    lengths = np.array([len(t) for t in tokens])
    term = "cat"
    col = r.vocab_dict[term]
    lo, hi = r.scores["indptr"][col], r.scores["indptr"][col + 1]
    df = hi - lo
    idf = math.log(1 + (len(TEXTS) - df + 0.5) / (df + 0.5))
    for doc, stored in zip(r.scores["indices"][lo:hi], r.scores["data"][lo:hi]):
        tf = tokens[doc].count(term)
        lucene = idf * tf / (tf + k1 * (1 - b + b * lengths[doc] / lengths.mean()))
        need(math.isclose(float(stored), lucene, rel_tol=1e-5),
             "bm25s's stored Lucene BM25 score (idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)))", KEYWORD)
    need(np.allclose(r.get_scores([term])[r.scores["indices"][lo:hi]], r.scores["data"][lo:hi]),
         "bm25s BM25.get_scores(tokens) summing the stored column scores", KEYWORD)

    r.save(str(tmp_path / "bm25"), show_progress=False)
    need((tmp_path / "bm25" / PARAMS_FILE).is_file(), f"bm25s's saved parameters file ({PARAMS_FILE})", KEYWORD)
    loaded = bm25s.BM25.load(str(tmp_path / "bm25"), mmap=True, show_progress=False)
    need((loaded.k1, loaded.b, loaded.method) == (k1, b, "lucene"), "bm25s BM25.load restoring k1, b, method",
         KEYWORD)
