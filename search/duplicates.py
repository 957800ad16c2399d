"""Near-duplicate collapse: one hit per paragraph text, listing the other statements that carry it."""
from __future__ import annotations

import re

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


def collapse_duplicates(store: PassageStore, ranked: Ranking, need: int | None = None) -> tuple[Ranking, Copies]:
    """Keep the best-ranked copy of each paragraph text; map its id to the other statements carrying it.

    With `need`, only the head of the ranking that yields `need` distinct paragraphs (plus a margin)
    is collapsed: normalising a thousand texts per question costs tens of milliseconds.
    """
    limit = len(ranked) if need is None else min(len(ranked), need + DUPLICATE_MARGIN)
    while True:
        kept, copies = _collapse(store, ranked[:limit])
        if need is None or len(kept) >= need or limit >= len(ranked):
            return kept + ranked[limit:], copies
        limit = min(len(ranked), limit * 2)


def _collapse(store: PassageStore, ranked: Ranking) -> tuple[Ranking, Copies]:
    if len(ranked) < 2:
        return ranked, {}
    rows = store.texts([pid for pid, _ in ranked])
    kept: Ranking = []
    first: dict[str, int] = {}
    others: dict[int, dict[str, int]] = {}  # keeper -> {other statement: one of its passage ids}
    for pid, score in ranked:
        if pid not in rows:
            continue
        doc, text = rows[pid]
        keeper = first.setdefault(paragraph_key(text), pid)
        if keeper == pid:
            kept.append((pid, score))
        elif doc != rows[keeper][0]:
            others.setdefault(keeper, {}).setdefault(doc, pid)
    if not others:
        return kept, {}
    info = store.passages([p for docs in others.values() for p in docs.values()])
    return kept, {keeper: tuple(document_info(info[p], id_key="doc_id") for p in docs.values())
                  for keeper, docs in others.items()}
