"""Filters (speaker, date range, source) as a passage-id subset, and facet counts."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import numpy as np

from index.language import UNDETERMINED, language_code

from .errors import SearchError
from .types import Facet, Filters

SORTS = ("relevance", "newest", "oldest")
READABLE = ("en", UNDETERMINED)  # passage languages the English sentence model reads
SORT_ALIASES = {"date": "newest", "date-desc": "newest", "date-asc": "oldest"}
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def parse_date(name: str, value: Any, end: bool) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD → a full date (the start, or with `end`, the last day of the period)."""
    if value is None or value == "":
        return None
    m = _PARTIAL_DATE.match(str(value).strip())
    try:
        if not m:
            raise ValueError
        y, mo, d = int(m.group(1)), m.group(2), m.group(3)
        if d is not None:
            return date(y, int(mo), int(d)).isoformat()
        if mo is not None:
            first = date(y, int(mo), 1)
            if not end:
                return first.isoformat()
            if first.month == 12:  # also year 9999, where the next month does not exist
                return date(y, 12, 31).isoformat()
            nxt = date(y, first.month + 1, 1)
            return date.fromordinal(nxt.toordinal() - 1).isoformat()
        return date(y, 12, 31).isoformat() if end else date(y, 1, 1).isoformat()
    except ValueError:
        raise SearchError(f"{name} must be a date as YYYY-MM-DD (or YYYY-MM, YYYY), got {value!r}",
                          code=f"invalid_{name}") from None


def names(name: str, value: Any) -> tuple[str, ...]:
    """A string or list of strings as a tuple of non-blank values; SearchError otherwise."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise SearchError(f"{name} must be a string or a list of strings", code=f"invalid_{name}")
    out = tuple(v.strip() for v in values if v.strip())
    if any(len(v) > 200 for v in out) or len(out) > 50:
        raise SearchError(f"{name}: at most 50 values of at most 200 characters", code=f"invalid_{name}")
    return out


def languages(value: Any) -> tuple[str, ...]:
    """Language filter values (`ru`, `ru-RU`, `rus`, `Russian`, `und`) as ISO 639-1 codes; a well-formed code
    lingua does not know is kept as it is (it matches no passage); SearchError for anything else."""
    out = []
    for v in names("language", value):
        code = language_code(v)
        if code is None and re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})?", v):
            code = re.split(r"[-_]", v)[0].lower()
        if code is None:
            raise SearchError(f"language must be an ISO 639-1 code such as en or ru (or und), got {v!r}",
                              code="invalid_language")
        out.append(code)
    return tuple(dict.fromkeys(out))


CHECKED = {"yes": True, "no": False, "any": None}


def parse_checked(value: Any) -> bool | None:
    """checked=yes|no (or true/false): only passages with / without a published fact-check; any or None: all."""
    if value is None or value == "" or isinstance(value, bool):
        return value if isinstance(value, bool) else None
    key = str(value).strip().lower()
    key = {"true": "yes", "false": "no"}.get(key, key)
    if key not in CHECKED:
        raise SearchError(f"checked must be yes, no or any, got {value!r}", code="invalid_checked")
    return CHECKED[key]


def make_filters(speaker: Any = None, after: Any = None, before: Any = None, source: Any = None,
                 language: Any = None, checked: Any = None) -> Filters:
    """Validate raw filter values from any front end into Filters; SearchError on bad input."""
    filters = Filters(speakers=names("speaker", speaker), after=parse_date("after", after, end=False),
                      before=parse_date("before", before, end=True), sources=names("source", source),
                      languages=languages(language), checked=parse_checked(checked))
    if filters.after and filters.before and filters.after > filters.before:
        raise SearchError(f"after ({filters.after}) is later than before ({filters.before})",
                          code="invalid_date_range")
    return filters


def validate_sort(sort: Any) -> str:
    sort = SORT_ALIASES.get(sort, sort) if isinstance(sort, str) else sort
    if sort not in SORTS:
        raise SearchError(f"sort must be one of relevance, newest (date), oldest; got {sort!r}",
                          code="invalid_sort")
    return sort


class DocumentTable:
    """Per-passage document metadata held as arrays, so a filter becomes an id subset in microseconds."""

    def __init__(self, store):
        docs = store.document_metadata()
        self.doc_ids = [d[0] for d in docs]
        position = {d[0]: i for i, d in enumerate(docs)}
        self.speaker = np.array([(d[1] or "").casefold() for d in docs], dtype=object)
        self.speaker_label = [d[1] for d in docs]
        self.date = np.array([d[2] or "" for d in docs], dtype=object)
        self.source = [(d[3] or "").casefold() for d in docs]
        rows = store.passage_documents()
        self.passage_doc = np.full(max((r[0] for r in rows), default=-1) + 1, -1, dtype=np.int64)
        for pid, doc in rows:
            self.passage_doc[pid] = position[doc]
        self.language = np.full(len(self.passage_doc), UNDETERMINED, dtype=object)  # per passage id
        for pid, language in store.passage_languages():
            self.language[pid] = language
        self.readable = np.isin(self.language, READABLE)  # what the English sentence model reads, per passage
        self.all_readable = bool(self.readable.all())
        # each passage's language as a small integer, so the facet counts are a bincount, not a string sort
        names, codes = np.unique(self.language, return_inverse=True)
        self._language_names: list[str] = names.tolist()
        self._language_code = codes.astype(np.int32)
        # each statement's speaker label and year the same way (a name None: no label, undated), so the
        # facets and the timeline are counted per statement by bincount, not by a loop over statements
        self._label_names, self._doc_label = _codes(self.speaker_label)
        self._year_names, self._doc_year = _codes([d[:4] or None for d in self.date])

    def subset(self, filters: Filters) -> tuple[np.ndarray, int]:
        """(passage ids matching, number of undated statements a date filter left out)."""
        keep = np.ones(len(self.doc_ids), dtype=bool)
        if filters.speakers:
            wanted = {s.casefold() for s in filters.speakers}
            keep &= np.array([s in wanted for s in self.speaker], dtype=bool)
        if filters.sources:
            wanted_src = [s.casefold() for s in filters.sources]
            keep &= np.array([any(w in src for w in wanted_src) for src in self.source], dtype=bool)
        undated = 0
        if filters.after or filters.before:
            has_date = self.date != ""
            undated = int(np.count_nonzero(keep & ~has_date))
            keep &= has_date
            if filters.after:
                keep &= self.date >= filters.after
            if filters.before:
                keep &= self.date <= filters.before
        # -1 (a passage id removed by an incremental update: a tombstone) picks the appended False
        passages = np.append(keep, False)[self.passage_doc]
        if filters.languages:
            passages &= np.isin(self.language, list(filters.languages))
        ids = np.nonzero(passages)[0].astype(np.int64)
        return ids, undated

    def facets(self, passage_ids: Iterable[int], size: int = 20) -> dict[str, tuple[Facet, ...]]:
        """Speaker, year and language counts over `passage_ids`, most frequent first."""
        ids = _id_array(passage_ids)
        per_doc = self._per_document(ids)
        per_label = np.bincount(self._doc_label, weights=per_doc, minlength=len(self._label_names)).tolist()
        per_year = np.bincount(self._doc_year, weights=per_doc, minlength=len(self._year_names)).tolist()
        per_code = np.bincount(self._language_code[ids], minlength=len(self._language_names)).tolist()
        counts = (("speaker", [(v, c) for v, c in zip(self._label_names, per_label) if v and c]),  # labelled
                  ("year", [(v, c) for v, c in zip(self._year_names, per_year) if v and c]),  # dated
                  ("language", [(v, c) for v, c in zip(self._language_names, per_code) if c]))
        return {name: tuple(Facet(v, int(c)) for v, c in sorted(pairs, key=lambda x: (-x[1], x[0]))[:size])
                for name, pairs in counts}

    def year_speakers(self, passage_ids: Iterable[int]) -> tuple[tuple[str, str | None, int], ...]:
        """(year, speaker, count) over the dated `passage_ids`, by year then speaker (the timeline's data)."""
        per_doc = self._per_document(_id_array(passage_ids))
        docs = np.flatnonzero(per_doc)
        docs = docs[self.date[docs] != ""]
        pairs = self._doc_year[docs].astype(np.int64) * len(self._label_names) + self._doc_label[docs]
        keys, first, inverse = np.unique(pairs, return_index=True, return_inverse=True)
        totals = np.bincount(inverse, weights=per_doc[docs], minlength=len(keys)).tolist()
        rows = [(self._year_names[k // len(self._label_names)], self._label_names[k % len(self._label_names)], int(n),
                 d) for k, n, d in zip(keys.tolist(), totals, docs[first].tolist())]
        # by year, then speaker; a tie (no label and an empty one) in the order the statements come
        return tuple((y, s, n) for y, s, n, _ in sorted(rows, key=lambda r: (r[0], r[1] or "", r[3])))

    def _per_document(self, ids: np.ndarray) -> np.ndarray:
        """Passages of `ids` in each statement, by statement position (a removed passage counts nowhere)."""
        docs = self.passage_doc[ids]
        return np.bincount(docs[docs >= 0], minlength=len(self.doc_ids)).astype(np.float64)

    def vector_readable(self, passage_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Whether the (English) sentence model can read each passage: English, or no language detected (an id
        outside the table: yes)."""
        ids = _id_array(passage_ids)
        if self.all_readable:
            return np.ones(len(ids), dtype=bool)
        out = np.ones(len(ids), dtype=bool)
        inside = (ids >= 0) & (ids < len(self.readable))
        out[inside] = self.readable[ids[inside]]
        return out

    def dates(self, passage_ids: Sequence[int]) -> list[str]:
        return [self.date[self.passage_doc[p]] for p in passage_ids]


def _id_array(passage_ids: Iterable[int] | np.ndarray) -> np.ndarray:
    """Passage ids as an int64 array (any iterable of ints)."""
    if isinstance(passage_ids, np.ndarray):
        return passage_ids.astype(np.int64, copy=False)
    return np.fromiter(passage_ids, dtype=np.int64)


def _codes(values: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """(the distinct values in first-seen order, each value's index among them)."""
    index: dict[Any, int] = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return list(index), np.asarray(codes, dtype=np.int64)
