"""The keyword half: BM25 indexes (bm25s) over each passage's tokens in its own language (index/analysis.py),
and over script-folded keys (Cyrillic ↔ Latin) that a question's words in the other script reach."""
from __future__ import annotations

import functools
import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import analysis
from .language import detect

KEYWORD_DIR = "bm25"
PARAMS_FILE = "params.index.json"  # written by bm25s
LENGTHS_FILE = "doc_lengths.npy"  # analysed length of every passage: what `KeywordIndex.updated` needs
ANALYSIS_FILE = "analysis.json"  # per-language analysis: the passages' languages (absent: all English, older builds)
FOLDED_DIR = "folded"  # bm25/folded: the BM25 index over script-folded keys
# k1 and b chosen on SciFact train (docs/quality.md, "Statement headings and BM25 parameters");
# bm25s's defaults were 1.2 and 0.75
K1, B, METHOD, STEMMER, STOPWORDS = 0.6, 0.35, "lucene", "english", "en"


def _bm25s():
    """bm25s, with the DEBUG level it sets on its own logger at import turned back down."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def import_for_reading() -> None:
    """Import bm25s for a process that only loads and scores BM25 indexes (`serve`, before its workers fork),
    without the optional libraries it would pull in: scipy and tqdm.

    bm25s imports scipy.sparse whenever it is installed, but uses it only to build a score matrix at index
    time (`csc_backend="scipy"`; loading and scoring are NumPy), and tqdm only for progress bars (every
    question's tokenising made a disabled one, with a multiprocessing lock). Together about 22 MB resident
    in the server's parent and every worker (docs/performance.md, "Worker memory"). Both are hidden only
    while bm25s imports (an ImportError that bm25s catches: it then uses NumPy and a no-op bar) and stay
    importable for anything else. A process that imported bm25s this way and then built an index would get
    bm25s's NumPy score-matrix builder: the same values (checked on SOTU), `indptr` as int64. No effect once
    bm25s is imported."""
    if "bm25s" in sys.modules:
        return
    hidden = [name for name in ("scipy", "tqdm") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import scipy.sparse" raises ImportError
    try:
        _bm25s()
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def analyse(texts: Sequence[str]) -> list[list[str]]:
    """English analysis (lower-case, English stopwords, Snowball English stems): what an English passage gets."""
    return analysis.analyse(texts)


# A question's plan and analysed words are read several times within its search; across searches they help
# only a repeated question (whose vector is cached too). A few hundred is plenty, and each held question is
# worker memory (~1 KB): 4,096 of them were ~5 MB per worker by the end of a long run of distinct questions.
QUESTIONS_KEPT = 256


@functools.lru_cache(maxsize=4096)
def _question_languages(query: str, present: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(analysis.question_languages(query, present))


class KeywordIndex:
    """BM25 over passage texts; ids are positions, which are the passage ids.

    `languages` counts the passages per language (None: an index built before languages, all English);
    `folded` is the BM25 over folded keys (None in such an index), scored only by a question's keys in the
    other script (`fold=True`)."""

    def __init__(self, retriever, lengths: np.ndarray | None = None, languages: dict[str, int] | None = None,
                 folded: KeywordIndex | None = None):
        self.retriever = retriever
        self.size = int(retriever.scores["num_docs"])
        self.lengths = lengths  # analysed tokens per passage (None in indexes built before it was stored)
        self.languages = languages
        self.folded = folded
        self._plans: dict[tuple[str, bool], list[tuple[list[str], list[str]]]] = {}  # question → plan
        self._analysed: dict[str, list[tuple[str, list[str]]]] = {}  # question → its words' terms

    def __len__(self) -> int:
        return self.size

    @classmethod
    def build(cls, texts: Sequence[str], languages: Sequence[str] | None = None, k1: float = K1,
              b: float = B) -> KeywordIndex:
        """BM25 over `texts`, each analysed in its language (detected here when `languages` is None)."""
        texts = list(texts)
        languages = list(languages) if languages is not None else [detect(t) for t in texts]
        index = cls._from_tokens(analysis.analyse(texts, languages), k1, b)
        index.languages = analysis.language_counts(languages)
        index.folded = cls._from_tokens(analysis.fold_keys(texts), k1, b)
        return index

    @classmethod
    def _from_tokens(cls, tokens: list[list[str]], k1: float, b: float) -> KeywordIndex:
        retriever = _bm25s().BM25(k1=k1, b=b, method=METHOD)
        retriever.index(tokens, show_progress=False)
        return cls(retriever, np.fromiter((len(t) for t in tokens), dtype=np.int32, count=len(tokens)))

    def updated(self, texts: Sequence[str], removed: Sequence[int] = (),
                languages: Sequence[str] | None = None) -> KeywordIndex:
        """`_updated` on both indexes: `texts` analysed in their `languages` (detected when None). ValueError
        for an index built before languages (the caller rebuilds it)."""
        if self.languages is None or self.folded is None:
            raise ValueError("this BM25 index predates per-language analysis: rebuild it")
        texts = list(texts)
        languages = list(languages) if languages is not None else [detect(t) for t in texts]
        stemmed = self._updated(analysis.analyse(texts, languages), removed)
        counts = dict(self.languages)
        for language in languages:
            counts[language] = counts.get(language, 0) + 1
        stemmed.languages = counts  # removed passages still count: a removal does not re-read their language
        stemmed.folded = self.folded._updated(analysis.fold_keys(texts), removed)
        return stemmed

    def _updated(self, new_tokens: list[list[str]], removed: Sequence[int] = ()) -> KeywordIndex:
        """A new index: `texts` appended as the next ids, the `removed` ids emptied; scored as a build over
        the same texts (an empty text for each removed id) would score them, without analysing the
        unchanged passages again.

        Each stored Lucene BM25 score s = idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)) gives back its
        term frequency tf = s * k1 * norm / (idf - s) (an integer; checked), with the stored passage
        lengths dl. New statistics (N, avgdl, every idf) then rescore every entry: a few vectorised passes
        over the stored entries, no tokenising. ValueError when this index has no stored lengths or the
        recovered frequencies are not integers (the caller rebuilds)."""
        r = self.retriever
        if self.lengths is None or len(self.lengths) != self.size or r.method != "lucene":
            raise ValueError("this BM25 index stores no passage lengths: rebuild it")
        k1, b = float(r.k1), float(r.b)
        data = np.asarray(r.scores["data"], dtype=np.float64)
        docs = np.asarray(r.scores["indices"], dtype=np.int64)
        indptr = np.asarray(r.scores["indptr"], dtype=np.int64)
        lengths = np.asarray(self.lengths, dtype=np.int64)
        columns = len(indptr) - 1
        terms = np.repeat(np.arange(columns, dtype=np.int64), np.diff(indptr))
        freqs = _term_frequencies(data, terms, docs, np.diff(indptr), lengths, k1, b)

        dead = np.zeros(self.size, dtype=bool)
        gone = np.asarray([i for i in removed if 0 <= i < self.size], dtype=np.int64)
        dead[gone] = True
        keep = ~dead[docs]
        terms, docs, freqs = terms[keep], docs[keep], freqs[keep]
        lengths = lengths.copy()
        lengths[gone] = 0

        vocab = dict(r.vocab_dict)
        empty = vocab.pop("", None)
        new_terms, new_docs, new_freqs, new_lengths = [], [], [], []
        for i, tokens in enumerate(new_tokens):
            new_lengths.append(len(tokens))
            for token, count in Counter(tokens).items():
                tid = vocab.get(token)
                if tid is None:
                    tid = vocab[token] = columns
                    columns += 1
                new_terms.append(tid)
                new_docs.append(self.size + i)
                new_freqs.append(count)
        new_terms_a = np.asarray(new_terms, dtype=np.int64)
        order = np.argsort(new_terms_a, kind="stable")
        new_terms_a = new_terms_a[order]
        kept_ptr = np.concatenate(([0], np.cumsum(np.bincount(terms, minlength=columns))))
        at = kept_ptr[new_terms_a + 1]  # each new entry goes after its term's kept entries
        terms = np.insert(terms, at, new_terms_a)
        docs = np.insert(docs, at, np.asarray(new_docs, dtype=np.int64)[order])
        freqs = np.insert(freqs, at, np.asarray(new_freqs, dtype=np.float64)[order])
        lengths = np.concatenate([lengths, np.asarray(new_lengths, dtype=np.int64)])

        df = np.bincount(terms, minlength=columns)
        n = len(lengths)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        average = lengths.mean() if n else 1.0
        scores = idf[terms] * freqs / (freqs + k1 * ((1 - b) + b * lengths[docs] / average))
        out = _bm25s().BM25(k1=r.k1, b=r.b, method=r.method)
        out.scores = {"data": scores.astype(np.float32), "indices": docs.astype(np.int32),
                      "indptr": np.concatenate(([0], np.cumsum(df))).astype(np.asarray(r.scores["indptr"]).dtype),
                      "num_docs": n}
        if empty is not None:
            vocab[""] = columns
        out.vocab_dict = vocab
        out.unique_token_ids_set = set(vocab.values())
        out.nonoccurrence_array = None  # Lucene BM25 has none (what `index` sets for it)
        return KeywordIndex(out, lengths.astype(np.int32))

    def spec(self) -> dict:
        """The manifest's record of this index: the parameters it was actually built with."""
        r = self.retriever
        spec = {"type": "bm25s", "k1": r.k1, "b": r.b, "method": r.method, "stemmer": STEMMER,
                "stopwords": STOPWORDS, "dir": KEYWORD_DIR}
        if self.languages is not None:
            spec.update(stemmer="per language", stopwords="per language", languages=self.languages,
                        folded=f"{KEYWORD_DIR}/{FOLDED_DIR}")
        return spec

    def save(self, directory: Path, subdir: str = KEYWORD_DIR) -> None:
        where = Path(directory) / subdir
        self.retriever.save(str(where), show_progress=False)
        if self.lengths is not None:
            np.save(where / LENGTHS_FILE, np.asarray(self.lengths, dtype=np.int32))
        if self.languages is not None:
            (where / ANALYSIS_FILE).write_text(json.dumps({"languages": self.languages}, sort_keys=True))
        if self.folded is not None:
            self.folded.save(directory, f"{subdir}/{FOLDED_DIR}")

    @staticmethod
    def stored_params(directory: Path) -> tuple[float, float]:
        """(k1, b) a generation's BM25 was built with (bm25s's params file), without loading it."""
        params = json.loads((Path(directory) / KEYWORD_DIR / PARAMS_FILE).read_text())
        return float(params["k1"]), float(params["b"])

    @classmethod
    def load(cls, directory: Path, mmap: bool = True, subdir: str = KEYWORD_DIR) -> KeywordIndex:
        where = Path(directory) / subdir
        lengths = where / LENGTHS_FILE
        languages = json.loads((where / ANALYSIS_FILE).read_text())["languages"] \
            if (where / ANALYSIS_FILE).is_file() else None
        folded = cls.load(directory, mmap, f"{subdir}/{FOLDED_DIR}") if (where / FOLDED_DIR).is_dir() else None
        return cls(_bm25s().BM25.load(str(where), mmap=mmap, show_progress=False),
                   np.load(lengths, mmap_mode="r" if mmap else None) if lengths.is_file() else None,
                   languages, folded)

    def question_languages(self, query: str) -> list[str]:
        """The analyses a question gets here (index/analysis.question_languages); English in older indexes."""
        if self.languages is None:
            return ["en"]
        return list(_question_languages(query, tuple(sorted(self.languages))))

    def plan(self, query: str, fold: bool = True) -> list[tuple[list[str], list[str]]]:
        """Per word of the question: (its analysed terms in the corpus, its folded keys in the corpus).

        One word at a time, so the ideal score can count each word once, by the best of its alternatives;
        an English question's terms are the same list, in the same order, as analysing it whole."""
        key = (query, fold)
        got = self._plans.get(key)
        if got is not None:
            return got
        vocab = self.retriever.vocab_dict
        folded = self.folded.retriever.vocab_dict if fold and self.folded is not None else None
        out = []
        for word, terms in self._word_terms(query):
            keys = [k for k in analysis.word_crossing_keys(word.lower()) if k in folded] if folded else []
            out.append(([t for t in terms if t and t in vocab], keys))
        if len(self._plans) > QUESTIONS_KEPT:
            self._plans.clear()
        self._plans[key] = out
        return out

    def _word_terms(self, query: str) -> list[tuple[str, list[str]]]:
        """Each word of the question with all its analysed terms (in the corpus or not), stopwords empty.
        Kept per question: both plans (folded or not) and the known share read it (the caller must not
        change it)."""
        got = self._analysed.get(query)
        if got is not None:
            return got
        words = analysis.TOKEN.findall(query)
        if self.languages is None:
            out = list(zip(words, analyse(words) if words else []))
        else:
            out = list(zip(words, analysis.analyse_words(words, self.question_languages(query))))
        if len(self._analysed) > QUESTIONS_KEPT:
            self._analysed.clear()
        self._analysed[query] = out
        return out

    def known_share(self, query: str, fold: bool = True) -> float:
        """The share of the question's content words (those with any analysed term, stopwords left out) that
        the corpus holds in some form: an off-topic question whose one known word matches is not a strong
        keyword match just because that word is all the ideal score counts."""
        content = [w for w, terms in self._word_terms(query) if any(t for t in terms)]
        if not content:
            return 0.0
        return sum(1 for terms, keys in self.plan(query, fold) if terms or keys) / len(content)

    def terms(self, query: str) -> list[str]:
        """The question's analysed terms that occur in the corpus (the only ones that can score)."""
        return [t for terms, _ in self.plan(query, False) for t in terms]

    def crossing_terms(self, query: str) -> list[str]:
        """The question's folded keys that occur in the corpus (none without `folded`)."""
        return [k for _, keys in self.plan(query) for k in keys]

    def ideal_score(self, query: str, fold: bool = True, either: bool = False) -> float:
        """What a passage matching all of `query` scores at most (Lucene BM25): per word, the IDF of its terms,
        or with `fold` the larger of that and its folded keys' where it has both (a passage matches a word in
        one script). `either`: the smaller instead, so that matching the word in either script counts as
        matching it in full (the keyword-only weak line, search.searcher.keyword_coverage).

        bm25s's Lucene term-frequency part tf / (tf + k1 * (...)) stays below 1, so a term adds at most
        its IDF. Document frequencies are read off the column pointers of the stored score matrix."""
        total = 0.0
        for terms, keys in self.plan(query, fold):
            own = self._ideal(terms)
            other = self.folded._ideal(keys) if keys and self.folded is not None else 0.0
            total += (min(own, other) if either else max(own, other)) if own and other else own or other
        return total

    def _ideal(self, terms: list[str]) -> float:
        """The sum of `terms`' IDFs."""
        indptr = self.retriever.scores["indptr"]
        n = float(self.size)
        total = 0.0
        for t in terms:
            col = self.retriever.vocab_dict[t]
            df = float(indptr[col + 1] - indptr[col])
            if df:  # a term only removed passages held (index.update) scores nothing
                total += math.log(1 + (n - df + 0.5) / (df + 0.5))
        return total

    def scores(self, query: str, fold: bool = True) -> np.ndarray:
        """BM25 score of every passage for `query` (zeros where no term matches): its terms in its languages,
        plus with `fold` its words' folded keys in the other script ("Durov" scoring "Дуров")."""
        scores = self._scores(self.terms(query))
        if fold and self.folded is not None:
            crossing = list(dict.fromkeys(self.crossing_terms(query)))
            if crossing:
                scores = scores + self.folded._scores(crossing)
        return scores

    def _scores(self, tokens: list[str]) -> np.ndarray:
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, k: int, subset: np.ndarray | None = None,
               fold: bool = True) -> list[tuple[int, float]]:
        """Top-k (id, score) with a positive score, best first; `subset` restricts the candidate ids."""
        return self.top(self.scores(query, fold), k, subset)

    @staticmethod
    def top(scores: np.ndarray, k: int, subset: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (id, score) of a score array from `scores`, positive scores only, within `subset`."""
        ids, values = KeywordIndex.top_arrays(scores, k, subset)
        return list(zip(ids.tolist(), values.tolist()))

    @staticmethod
    def top_arrays(scores: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`top` as (ids, scores) arrays, best first."""
        if subset is not None:
            masked = np.zeros_like(scores)
            subset = np.asarray(subset, dtype=np.int64)
            masked[subset] = scores[subset]
            scores = masked
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=scores.dtype)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))].astype(np.int64)
        return top, scores[top]


def _term_frequencies(data: np.ndarray, terms: np.ndarray, docs: np.ndarray, df: np.ndarray, lengths: np.ndarray,
                      k1: float, b: float) -> np.ndarray:
    """The term frequency behind each stored Lucene BM25 score (ValueError if one is not an integer)."""
    n = len(lengths)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    norm = k1 * ((1 - b) + b * lengths[docs] / (lengths.mean() if n else 1.0))
    freqs = data * norm / (idf[terms] - data)
    rounded = np.rint(freqs)
    if len(freqs) and (np.abs(freqs - rounded).max() > 0.02 or rounded.min() < 1):
        raise ValueError("stored BM25 scores do not give integer term frequencies: rebuild it")
    return rounded
