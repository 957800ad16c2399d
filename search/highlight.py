"""Pick the sentence of a passage that best answers the question, for highlighting."""
from __future__ import annotations

import re
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from index.passages import sentence_spans

from .types import Span

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
STOPWORDS = frozenset("""a an and are as at be but by did do does for from had has have how i if in into is it
its of on or so that the their them then there these they this to was we were what when where which who whom
why will with would you your our us he she his her not no can could should than about after before over""".split())
KEYWORD_WEIGHT = 0.35  # weight of the share of question terms a sentence contains


def terms(text: str) -> set[str]:
    """Lower-cased content words with a crude plural/verb suffix strip."""
    out = set()
    for w in _WORD.findall(text.lower()):
        if w in STOPWORDS or len(w) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if len(w) > len(suffix) + 3 and w.endswith(suffix):
                w = w[: -len(suffix)]
                break
        out.add(w)
    return out


def best_spans(query: str, query_vector: np.ndarray, texts: Sequence[str],
               encode: Callable[[list[str]], np.ndarray], keys: Sequence[Hashable] | None = None,
               cache: Any = None, budget: int = 64) -> list[Span]:
    """For each passage, the span of its sentence with the highest semantic + keyword score.

    Sentence vectors are cached per passage key (`cache` has get/put), so a passage seen by an
    earlier question costs nothing; at most `budget` new sentences are embedded per call, and
    passages beyond the budget are highlighted by keyword overlap alone.
    """
    q_terms = terms(query)
    spans_per_text = [sentence_spans(t) or [(0, len(t))] for t in texts]
    vectors: dict[int, np.ndarray] = {}
    todo: list[int] = []
    planned = 0  # sentences of `todo`
    for i, spans in enumerate(spans_per_text):
        if len(spans) < 2:
            continue
        cached = cache.get(keys[i]) if cache is not None and keys is not None else None
        if cached is not None:
            vectors[i] = cached
        elif planned + len(spans) <= budget:
            todo.append(i)
            planned += len(spans)
    if todo:
        encoded = encode([texts[i][a:b] for i in todo for a, b in spans_per_text[i]])
        at = 0
        for i in todo:
            vectors[i] = encoded[at:at + len(spans_per_text[i])]
            at += len(spans_per_text[i])
            if cache is not None and keys is not None:
                cache.put(keys[i], vectors[i])
    q = np.asarray(query_vector, dtype=np.float32)
    out = []
    for i, spans in enumerate(spans_per_text):
        sims = vectors[i] @ q if i in vectors else np.zeros(len(spans), dtype=np.float32)
        scores = [float(sim) + KEYWORD_WEIGHT * (len(q_terms & terms(texts[i][a:b])) / len(q_terms) if q_terms else 0.0)
                  for sim, (a, b) in zip(sims, spans)]
        out.append(Span(*spans[int(np.argmax(scores))]))
    return out
