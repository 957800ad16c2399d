"""Near-duplicate collapse: one hit per paragraph text, listing the other statements that carry it."""
from __future__ import annotations

import re
import sys
from threading import Lock

from index.store import PassageStore

from .documents import document_info
from .types import DocumentInfo

_NOT_WORD = re.compile(r"[\W_]+")
DUPLICATE_MARGIN = 50  # extra ranked passages collapsed beyond the page, to fill it after removals
Ranking = list[tuple[int, float]]
Copies = dict[int, tuple[DocumentInfo, ...]]


def paragraph_key(text: str) -> str:
    """The same paragraph despite case, punctuation, quote style and spacing."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


class ParagraphKeys:
    """Each passage's (document id, hash of its paragraph key), read and normalised once per generation.

    Normalising a passage's text (a Unicode regex over a few hundred characters) was most of the
    collapse's cost, paid again for the same passages by every question. The table keeps at most
    `size` passages (~250 bytes each; all of SOTU's 20k fit) and starts again when full. A 64-bit
    hash stands for the key: two different paragraphs of one index colliding is a 1-in-10^10 event
    at a million passages, and would only fold one hit into another's copies.
    """

    def __init__(self, store: PassageStore, size: int = 50_000):
        self.store, self.size = store, size
        self._known: dict[int, tuple[str, int]] = {}
        self._lock = Lock()

    def of(self, ids: list[int]) -> dict[int, tuple[str, int]]:
        """{passage id: (document id, key hash)} for `ids` (unknown ids left out)."""
        out, missing = {}, []
        for pid in ids:
            entry = self._known.get(pid)
            if entry is None:
                missing.append(pid)
            else:
                out[pid] = entry
        if missing:
            fresh = {pid: (sys.intern(doc), hash(paragraph_key(text)))
                     for pid, (doc, text) in self.store.texts(missing).items()}
            out.update(fresh)
            with self._lock:
                if len(self._known) + len(fresh) > self.size:
                    self._known = {}
                self._known.update(fresh)
        return out


def collapse_duplicates(store: PassageStore, ranked: Ranking, need: int | None = None,
                        keys: ParagraphKeys | None = None) -> tuple[Ranking, Copies]:
    """Keep the best-ranked copy of each paragraph text; map its id to the other statements carrying it.

    With `need`, only the head of the ranking that yields `need` distinct paragraphs (plus a margin)
    is collapsed: normalising a thousand texts per question costs tens of milliseconds.
    """
    limit = len(ranked) if need is None else min(len(ranked), need + DUPLICATE_MARGIN)
    keys = keys or ParagraphKeys(store)
    while True:
        kept, copies = _collapse(store, keys, ranked[:limit])
        if need is None or len(kept) >= need or limit >= len(ranked):
            return kept + ranked[limit:], copies
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
