"""What a set of statements writes into a generation: SQLite rows, the texts to embed, their sentences.

Shared by a full build (index/build.py, passage ids from 0) and a live addition (index/update.py, ids
after the live generation's last one), so both split and key passages the same way."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import sentences
from .embedder import Embedder
from .passages import PassageDraft, split_statement, statement_heading
from .reuse import passage_hash
from .statements import Statement


def split_statements(statements: list[Statement], embedder: Embedder) -> list[list[PassageDraft]]:
    """Each statement's passages, within the embedder's token limit, under the statement's heading."""
    return [split_statement(st.text, embedder.passage_limit, embedder.count_tokens,
                            statement_heading(st.speaker, st.title, st.text), st.language, st.language_given)
            for st in statements]


@dataclass
class Rows:
    """What a set of statements writes: SQLite rows, the texts to embed, and their sentences."""

    documents: list[tuple] = field(default_factory=list)
    passages: list[tuple] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)       # passage i's indexed text (heading, context, text)
    hashes: list[str] = field(default_factory=list)      # passage i's reuse key
    sentence_spans: list[tuple[int, int, int]] = field(default_factory=list)  # (i, start, end), grouped by i
    sentence_texts: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)   # passage i's language (index/language.py)


def statement_rows(statements: list[Statement], drafts: list[list[PassageDraft]], embedder: Embedder,
                   first: int = 0) -> Rows:
    """The rows of `statements` split into `drafts`; passage ids start at `first`. In `texts`, `hashes` and
    `sentence_spans`, i counts these passages from 0 (the position in this batch, `first` less than the id)."""
    rows = Rows()
    for st, ds in zip(statements, drafts):
        rows.documents.append((st.id, st.title, st.speaker, st.date, st.source,
                               json.dumps(st.extra, ensure_ascii=False, sort_keys=True), st.path, st.text, len(ds),
                               st.language))
        for ordinal, d in enumerate(ds, 1):
            i = len(rows.texts)
            h = passage_hash(embedder.sha256, d.embed_text)
            rows.passages.append((first + i, st.id, ordinal, d.paragraph, d.part, d.start, d.end, d.context, d.text, h,
                                  st.ocr_confidence(d.start, d.end), d.language))
            rows.texts.append(d.embed_text)
            rows.languages.append(d.language)
            rows.hashes.append(h)
            spans = sentences.passage_sentences(d)
            rows.sentence_spans.extend((i, a, b) for a, b in spans)
            rows.sentence_texts.extend(sentences.embed_texts(d, spans))
    return rows
