"""Near-duplicate collapse: one hit per paragraph text, listing the other statements that carry it."""
from __future__ import annotations

import re
from collections.abc import Sequence
from threading import Lock

import numpy as np

from index.store import PassageStore

from .documents import document_info
from .types import DocumentInfo

_NOT_WORD = re.compile(r"[\W_]+")
DUPLICATE_MARGIN = 50  # extra ranked passages collapsed beyond the page, to fill it after removals
Ranking = list[tuple[int, float]]
Copies = dict[int, tuple[DocumentInfo, ...]]


# ASCII bytes to what `_NOT_WORD` and lower() make of them: letters lower-cased, digits kept, the rest a space
_ASCII_KEY = bytes(c + 32 if 65 <= c <= 90 else c if c < 128 and chr(c).isalnum() else 32 for c in range(256))


def paragraph_key(text: str) -> str:
    """The same paragraph despite case, punctuation, quote style and spacing. An ASCII text (most of an
    English index) takes a byte table instead of the Unicode regex: the same key, a quarter of the time
    (tests/test_fast_paths.py), and a page's passages not yet in `ParagraphKeys` are normalised per question."""
    if text.isascii():
        return b" ".join(text.encode("ascii").translate(_ASCII_KEY).split()).decode("ascii")
    return _NOT_WORD.sub(" ", text.lower()).strip()


class ParagraphKeys:
    """Each passage's (document id, hash of its paragraph key), read and normalised once per generation.

    Normalising a passage's text (a Unicode regex over a few hundred characters) was most of the
    collapse's cost, paid again for the same passages by every question. The table is two arrays by
    passage id (the document as a small code, the hash as int64: 12 bytes a passage, where a dict of
    tuples took about 200 and 4 MB per worker on SOTU: docs/performance.md, "Worker memory"); it holds
    at most `size` passages and starts again when full. A 64-bit hash stands for the key: two different
    paragraphs of one index colliding is a 1-in-10^10 event at a million passages, and would only fold
    one hit into another's copies.
    """

    def __init__(self, store: PassageStore, size: int = 50_000):
        self.store, self.size = store, size
        self._docs: list[str] = []        # document ids by code
        self._codes: dict[str, int] = {}  # document id -> code
        # (document code or -1 while unread, key hash) by passage id; replaced whole, so a reader
        # without the lock sees one consistent pair of arrays
        self._table = (np.full(0, -1, dtype=np.int32), np.zeros(0, dtype=np.int64))
        self._count = 0
        self._lock = Lock()

    def of(self, ids: list[int]) -> dict[int, tuple[str, int]]:
        """{passage id: (document id, key hash)} for `ids` (unknown ids left out)."""
        docs, keys = self._table
        out, missing = {}, []
        for pid in ids:
            code = int(docs[pid]) if 0 <= pid < len(docs) else -1
            if code < 0:
                missing.append(pid)
            else:
                out[pid] = (self._docs[code], int(keys[pid]))
        if missing:
            fresh = {pid: (doc, hash(paragraph_key(text))) for pid, (doc, text) in self.store.texts(missing).items()}
            out.update(fresh)
            with self._lock:
                self._remember(fresh)
        return out

    def _remember(self, fresh: dict[int, tuple[str, int]]) -> None:
        docs, keys = self._table
        if self._count + len(fresh) > self.size:
            docs, keys, self._count = np.full(0, -1, dtype=np.int32), np.zeros(0, dtype=np.int64), 0
        top = max(fresh, default=-1) + 1
        if top > len(docs):
            grown = max(top, 2 * len(docs))
            docs = np.concatenate([docs, np.full(grown - len(docs), -1, dtype=np.int32)])
            keys = np.concatenate([keys, np.zeros(grown - len(keys), dtype=np.int64)])
        for pid, (doc, key) in fresh.items():
            code = self._codes.get(doc)
            if code is None:
                code = self._codes[doc] = len(self._docs)
                self._docs.append(doc)
            if docs[pid] < 0:
                self._count += 1
            keys[pid] = key
            docs[pid] = code  # after the key: a reader that sees the code sees its key
        self._table = (docs, keys)


def collapse_duplicates(store: PassageStore, ranked: Sequence[tuple[int, float]], need: int | None = None,
                        keys: ParagraphKeys | None = None) -> tuple[Ranking, Copies]:
    """Keep the best-ranked copy of each paragraph text; map its id to the other statements carrying it.

    With `need`, only the head of the ranking that yields `need` distinct paragraphs (plus a margin)
    is collapsed: normalising a thousand texts per question costs tens of milliseconds.
    """
    kept, copies, limit = collapse_head(store, ranked, need, keys)
    return kept + list(ranked[limit:]), copies


def collapse_head(store: PassageStore, ranked: Sequence[tuple[int, float]], need: int | None = None,
                  keys: ParagraphKeys | None = None) -> tuple[Ranking, Copies, int]:
    """`collapse_duplicates` as (the collapsed head, the copies, where the head ended in `ranked`): the
    ranking past `limit` is unchanged, so a caller holding it as arrays reads it from there."""
    limit = len(ranked) if need is None else min(len(ranked), need + DUPLICATE_MARGIN)
    keys = keys or ParagraphKeys(store)
    while True:
        kept, copies = _collapse(store, keys, list(ranked[:limit]))
        if need is None or len(kept) >= need or limit >= len(ranked):
            return kept, copies, limit
        limit = min(len(ranked), limit * 2)


def _collapse(store: PassageStore, keys: ParagraphKeys, ranked: Ranking) -> tuple[Ranking, Copies]:
    if len(ranked) < 2:
        return ranked, {}
    rows = keys.of([pid for pid, _ in ranked])
    kept: Ranking = []
    first: dict[int, int] = {}
    others: dict[int, dict[str, int]] = {}  # keeper -> {other statement: one of its passage ids}
    for pid, score in ranked:
        if pid not in rows:
            continue
        doc, key = rows[pid]
        keeper = first.setdefault(key, pid)
        if keeper == pid:
            kept.append((pid, score))
        elif doc != rows[keeper][0]:
            others.setdefault(keeper, {}).setdefault(doc, pid)
    if not others:
        return kept, {}
    info = store.passages([p for docs in others.values() for p in docs.values()])
    return kept, {keeper: tuple(document_info(info[p], id_key="doc_id") for p in docs.values())
                  for keeper, docs in others.items()}
