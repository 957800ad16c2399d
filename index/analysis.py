"""Keyword analysis per language: tokens for BM25 (stemmed) and script-folded keys (transliteration).

Every passage is analysed by its own language (index/language.py):
- Snowball (PyStemmer) stemming with that language's stopwords for English, Russian, German, French,
  Spanish, Italian, Portuguese, Dutch and Arabic. English is exactly what the index always did (bm25s's
  tokenizer, its English stopwords, the Snowball English stemmer), so an English corpus gets the same tokens.
- Russian is stemmed again while the stem changes and keeps 3 letters (Snowball strips one ending per
  call, so "Телеграм" gives "телегр" but "Телеграма" "телеграм"; stemming again meets them at "телегр").
- Ukrainian has no Snowball stemmer (none in Snowball or PyStemmer): its words are lemmatised by pymorphy3
  with the pymorphy3-dicts-uk dictionary ("Зеленського" → "зеленський"), stopwords from stopwordsiso.
- Any other language (Belarusian, Bulgarian, Polish, Hebrew, ...) and mixed-script text: lower-cased words,
  no stemming, no stopwords; exact words still match. `und` text in Latin letters is analysed as English
  (as before languages were detected), in Cyrillic as Russian.

Across scripts (`fold_keys`, `crossing_keys`): ICU's `Any-Latin; Latin-ASCII` transform (PyICU) writes a
Cyrillic word in ASCII and `Latin-Cyrillic` a Latin one in Cyrillic, so "Дуров" and "Durov" meet. The
folded key of a word is tagged with the script it was written in: a question's word is only ever matched
against words of the other script this way (its own script goes through the stemmed tokens), so an
English question on an English corpus scores exactly as without folding.
"""
from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from .language import UNDETERMINED, detect, scripts

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern: what every analysis splits on
SNOWBALL = {"en": "english", "ru": "russian", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
            "pt": "portuguese", "nl": "dutch", "ar": "arabic"}
BM25S_STOPWORDS = {"en": "en", "ru": "ru", "de": "de", "fr": "fr", "es": "es", "it": "it", "pt": "pt", "nl": "nl"}
ANALYSED = tuple(SNOWBALL) + ("uk",)  # languages with their own analysis; the rest are `plain`
OTHER_SNOWBALL = frozenset(SNOWBALL) - {"en"}  # a Latin question is analysed in one of these too, if detected so
PLAIN = "plain"
LATIN, CYRILLIC = "latin", "cyrillic"
# The analysis undetected text gets by its main script: Latin as English (as before languages were
# detected), Cyrillic as Russian, Arabic as Arabic; any other script plain.
BY_SCRIPT = {LATIN: "en", CYRILLIC: "ru", "arabic": "ar"}


def analyser_of(language: str, text: str = "") -> str:
    """Which analysis a passage in `language` gets: a language code of ANALYSED, or `plain`."""
    if language in ANALYSED:
        return language
    if language == UNDETERMINED:
        counts = scripts(text)
        main = max(counts, key=counts.__getitem__) if counts else LATIN
        return BY_SCRIPT.get(main, PLAIN)
    return PLAIN


@functools.cache
def _stopwords(analyser: str) -> tuple[str, ...]:
    if analyser in BM25S_STOPWORDS:
        from bm25s.tokenization import _infer_stopwords

        return tuple(_infer_stopwords(BM25S_STOPWORDS[analyser]))
    if analyser in ("uk", "ar"):
        import stopwordsiso

        return tuple(sorted(stopwordsiso.stopwords(analyser)))
    return ()


@functools.cache
def _snowball(name: str):
    import Stemmer

    return Stemmer.Stemmer(name)


@functools.lru_cache(maxsize=1)
def _ukrainian():
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="uk")


@functools.lru_cache(maxsize=200_000)
def _ukrainian_lemma(word: str) -> str:
    parsed = _ukrainian().parse(word)
    return parsed[0].normal_form if parsed else word


@functools.lru_cache(maxsize=200_000)
def _russian_stem(word: str) -> str:
    """The Snowball Russian stem, stemmed again while that changes it and leaves at least 3 letters
    ("телеграма" → "телеграм" → "телегр"; "заявил" → "заяв", not "за")."""
    stemmer = _snowball("russian")
    word = stemmer.stemWord(word)
    for _ in range(2):
        stem = stemmer.stemWord(word)
        if stem == word or len(stem) < 3:
            break
        word = stem
    return word


def _stemmer(analyser: str) -> Callable[[list[str]], list[str]] | None:
    if analyser == "ru":
        return lambda words: [_russian_stem(w) for w in words]
    if analyser == "uk":
        return lambda words: [_ukrainian_lemma(w) for w in words]
    if analyser in SNOWBALL:
        return _snowball(SNOWBALL[analyser]).stemWords
    return None


def _bm25s_tokenize(texts: list[str], analyser: str) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords=list(_stopwords(analyser)) if analyser != "en" else "en",
                          stemmer=_stemmer(analyser), return_ids=False, show_progress=False)


def analyse(texts: Sequence[str], languages: Sequence[str] | None = None) -> list[list[str]]:
    """Each text's BM25 tokens by its language's analysis (all English when `languages` is None)."""
    texts = list(texts)
    if languages is None:
        return _bm25s_tokenize(texts, "en")
    groups: dict[str, list[int]] = {}
    for i, (text, language) in enumerate(zip(texts, languages, strict=True)):
        groups.setdefault(analyser_of(language, text), []).append(i)
    out: list[list[str]] = [[] for _ in texts]
    for analyser, positions in groups.items():
        for i, tokens in zip(positions, _bm25s_tokenize([texts[i] for i in positions], analyser)):
            out[i] = tokens
    return out


def question_languages(question: str, index_languages: Iterable[str]) -> list[str]:
    """The analyses a question gets: by the scripts of its words and its detected language, among the
    languages the index holds. An English question on an English index: ["en"] only (as always)."""
    present = set(index_languages)
    counts = scripts(question)
    # The detector (~220 MB once loaded, a few ms a question) is asked only where its answer can change the
    # analyses: a Latin question on an index holding another Snowball language, or a non-Latin question.
    detected = _lazy_detect(question)
    out: list[str] = []
    if counts.get(LATIN) or not counts:
        out.append("en")
        if present & OTHER_SNOWBALL and detected() in present & OTHER_SNOWBALL:
            out.append(detected())
    if counts.get(CYRILLIC):
        out.extend([lang for lang in ("ru", "uk") if lang in present or detected() == lang] or ["ru"])
    main = max(counts, key=counts.__getitem__) if counts else LATIN
    if main not in (LATIN, CYRILLIC):  # a question mostly in another script (a Greek letter in a claim is not)
        found = detected()
        out.append(found if found in ANALYSED and found not in out else BY_SCRIPT.get(main, PLAIN))
    return list(dict.fromkeys(out))


def _lazy_detect(text: str):
    """`detect(text)` computed on the first call, then remembered."""
    found: list[str] = []

    def get() -> str:
        if not found:
            found.append(detect(text))
        return found[0]
    return get


@functools.lru_cache(maxsize=4096)
def is_english(question: str, index_languages: tuple[str, ...] = ()) -> bool:
    """Whether the (English) sentence model can read `question`: mostly Latin letters, and detected as English,
    as nothing (too short to tell), or as a language the index holds no passage in (short technical English
    is often taken for French or German: "Macrolides protect against myocardial infarction")."""
    counts = scripts(question)
    if counts and max(counts, key=counts.__getitem__) != LATIN:
        return False
    if not set(index_languages) - {"en", UNDETERMINED}:  # whatever it is detected as, the answer is yes
        return True
    found = detect(question)
    return found in ("en", UNDETERMINED) or found not in index_languages


def analyse_words(words: Sequence[str], languages: Sequence[str]) -> list[list[str]]:
    """`analyse_question` of each word, in one analysis call per language instead of one per word and
    language (each call of bm25s's tokenizer sets up its progress bars: ~0.15 ms)."""
    words = list(words)
    if not words:
        return []
    per = [analyse(words, [lang] * len(words)) for lang in languages]
    if len(per) == 1:
        return per[0]
    return [list(dict.fromkeys(t for tokens in column for t in tokens if t)) for column in zip(*per)]


def analyse_question(question: str, languages: Sequence[str]) -> list[str]:
    """The question's BM25 tokens under each of `languages` (a single language keeps bm25s's list as is,
    repeats included; several are merged without repeats)."""
    per = [analyse([question], [lang])[0] for lang in languages]
    if len(per) == 1:
        return per[0]
    return list(dict.fromkeys(t for tokens in per for t in tokens if t))


# --- across scripts -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _transform(name: str):
    import icu

    return icu.Transliterator.createInstance(name)


def to_ascii(word: str) -> str:
    """A word in ASCII letters and digits by ICU's Any-Latin; Latin-ASCII (soft signs and accents dropped)."""
    return re.sub(r"[^a-z0-9]", "", _transform("Any-Latin; Latin-ASCII").transliterate(word).lower())


def to_cyrillic(word: str) -> str:
    return _transform("Latin-Cyrillic").transliterate(word)


_VARIANTS = ((re.compile(r"[jy]"), "i"), (re.compile(r"kh"), "h"), (re.compile(r"^i(?=[aeou])"), ""),
             (re.compile(r"(.)\1+"), r"\1"))


def variant_key(ascii_word: str) -> str:
    """One spelling for the romanisations of a name: y/j/i as i, kh as h, no initial i before a vowel,
    doubled letters once (Zelensky, Zelenskyy, Zelenskiy, Zelenskij → zelenski; Khodorkovsky → hodorkovski)."""
    for pattern, repl in _VARIANTS:
        ascii_word = pattern.sub(repl, ascii_word)
    return ascii_word


@functools.lru_cache(maxsize=200_000)
def _latin_key(word: str) -> str:
    return "l" + _snowball("english").stemWord(variant_key(to_ascii(word)))


@functools.lru_cache(maxsize=200_000)
def _cyrillic_key(word: str) -> str:
    return "c" + variant_key(to_ascii(_russian_stem(word.replace("ё", "е"))))


@functools.lru_cache(maxsize=1)
def _fold_stopwords() -> frozenset[str]:
    return frozenset(_stopwords("en") + _stopwords("ru") + _stopwords("uk"))


def fold_keys(texts: Sequence[str]) -> list[list[str]]:
    """Each text's folded keys: Latin and Cyrillic words (stopwords left out) as tagged ASCII keys;
    `[""]` for a text without any (as bm25s's tokenizer gives an empty text)."""
    stop = _fold_stopwords()
    out = []
    for text in texts:
        keys = []
        for word in TOKEN.findall(text.lower()):
            if word in stop:
                continue
            s = _word_script(word)
            if s == LATIN:
                keys.append(_latin_key(word))
            elif s == CYRILLIC:
                keys.append(_cyrillic_key(word))
        out.append([k for k in keys if len(k) > 2] or [""])
    return out


def _word_script(word: str) -> str:
    counts = scripts(word)
    return max(counts, key=counts.__getitem__) if counts else ""


def crossing_keys(question: str) -> list[str]:
    """The folded keys of a question's words: a Latin word written in Cyrillic and
    stemmed as Russian ("Durov" → "Дуров" → "дур" → "cdur"), a Cyrillic word in ASCII, stemmed as English
    (its surface form, its stem and its stem's stem: "Дурова" → "ldurova", "ldurov", "ldur")."""
    return [k for word in TOKEN.findall(question.lower()) for k in word_crossing_keys(word)]


@functools.lru_cache(maxsize=100_000)
def word_crossing_keys(word: str) -> tuple[str, ...]:
    """`crossing_keys` of one lower-case word. A Cyrillic word also gets its own folded key, which is
    where Russian and Ukrainian forms of a name meet ("Зеленский", "Зеленський" → "czelensk")."""
    if word in _fold_stopwords():
        return ()
    keys: list[str] = []
    s = _word_script(word)
    if s == LATIN:
        ascii_word = to_ascii(word)
        for form in dict.fromkeys((ascii_word, variant_key(ascii_word))):
            keys.append(_cyrillic_key(to_cyrillic(form).lower()))
    elif s == CYRILLIC:
        keys.append(_cyrillic_key(word))
        once = _snowball("russian").stemWord(word.replace("ё", "е"))
        for form in dict.fromkeys((word, once, _russian_stem(word))):
            keys.append(_latin_key(form))
    return tuple(k for k in dict.fromkeys(keys) if len(k) > 2)


def language_counts(languages: Iterable[str]) -> dict[str, int]:
    return dict(Counter(languages).most_common())
