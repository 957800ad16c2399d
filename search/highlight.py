"""Pick the sentence of a passage that best answers the question, for highlighting."""
from __future__ import annotations

import re
from typing import Callable, Sequence

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
               encode: Callable[[list[str]], np.ndarray]) -> list[Span]:
    """For each passage, the span of its sentence with the highest semantic + keyword score."""
    q_terms = terms(query)
    spans_per_text = [sentence_spans(t) or [(0, len(t))] for t in texts]
    multi = [(i, s) for i, spans in enumerate(spans_per_text) if len(spans) > 1 for s in spans]
    sims: dict[tuple[int, tuple[int, int]], float] = {}
    if multi:
        vectors = encode([texts[i][a:b] for i, (a, b) in multi])
        for (i, span), v in zip(multi, vectors @ np.asarray(query_vector, dtype=np.float32)):
            sims[(i, span)] = float(v)
    out = []
    for i, spans in enumerate(spans_per_text):
        if len(spans) == 1:
            out.append(Span(*spans[0]))
            continue

        def score(span: tuple[int, int]) -> float:
            overlap = len(q_terms & terms(texts[i][span[0]:span[1]])) / len(q_terms) if q_terms else 0.0
            return sims[(i, span)] + KEYWORD_WEIGHT * overlap

        out.append(Span(*max(spans, key=score)))
    return out
