"""Statements in other languages: detection and storage, the language filter and facet, per-language
stemming, Cyrillic/Latin folding and the exact switch, the language gate in fusion, bad input."""
from __future__ import annotations

import sqlite3

import pytest

from index.analysis import analyse, crossing_keys, fold_keys, question_languages
from index.build import build_index
from index.language import UNDETERMINED, detect, language_code
from search.errors import SearchError
from search.filters import make_filters
from search.searcher import Searcher
from search.settings import load_settings
from search.verify import verify

STATEMENTS = {
    "durov-ru.txt": "Speaker: Павел Дуров\nDate: 2024-09-05\n\n"
                    "Павел Дуров заявил, что Телеграм не передаёт переписку пользователей третьим лицам.\n\n"
                    "Модераторы Телеграма удаляют миллионы вредных публикаций каждый день.\n\n"
                    "Мы благодарны Телеграму и всем, кто поддержал нашу команду в трудные дни.\n",
    "durov-en.txt": "Speaker: Reporter\nDate: 2024-09-06\n\n"
                    "Pavel Durov said the messaging company would answer every question from French investigators.\n",
    "zelensky-uk.txt": "Speaker: Володимир Зеленський\nDate: 2024-01-01\n\n"
                       "Ми будемо захищати нашу землю і нашу свободу, сказав Зеленський у новорічному зверненні.\n",
    "zelensky-en.txt": "Speaker: Newsroom\nDate: 2024-02-01\n\n"
                       "President Zelenskyy thanked the allies for the air defence systems delivered this winter.\n",
    "zelensky-ru.txt": "Speaker: Редакция\nDate: 2024-03-01\n\n"
                       "Зеленский поблагодарил союзников за системы противовоздушной обороны.\n",
    "bridge-de.txt": "Speaker: Stadtrat\n\n"
                     "Die Brücke bleibt bis Ende Mai wegen der Reparaturen gesperrt, teilte der Stadtrat mit.\n",
    "declared.txt": "Speaker: Archive\nLanguage: uk\n\n"
                    "Спасибо всем, кто пришёл на открытие библиотеки сегодня утром.\n",
    "garbage.txt": "Speaker: Noise\n\nqzx ываф 12 ζξψ ##$ kkrt йцук ωερ 77 zzq фыв\n",
    "arabic.txt": "Speaker: المتحدث\n\nأعلنت الحكومة اليوم عن إجراءات جديدة لدعم المزارعين في الجنوب.\n",
    "hebrew.txt": "Speaker: דובר\n\nהממשלה הודיעה היום על צעדים חדשים לתמיכה בחקלאים בצפון.\n",
    "harbour-en.txt": "Speaker: Mayor\nDate: 2023-05-01\n\n"
                      "The harbour will reopen in June after the storm repairs are finished, the mayor said.\n",
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory, embedder):
    corpus = tmp_path_factory.mktemp("languages")
    for name, text in STATEMENTS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index = corpus.parent / "languages-index"
    build_index(corpus, index, embedder)
    return Searcher(index, load_settings({"index": index}, environ={}), embedder)


def _docs(response) -> list[str]:
    return [h.document.id for h in response.hits]


def test_detection_of_short_paragraphs_and_bad_input():
    assert detect("Павел Дуров заявил, что Телеграм не передаёт переписку.") == "ru"
    assert detect("Дякую всім, хто допомагає нашим захисникам.") == "uk"
    assert detect("The harbour will reopen in June after the repairs.") == "en"
    assert detect("Die Brücke bleibt bis Ende Mai gesperrt.") == "de"
    assert detect("أعلنت الحكومة اليوم عن إجراءات جديدة") == "ar"
    assert detect("הממשלה הודיעה היום על צעדים חדשים") == "he"
    for text in ("", "!!! ??? 12345", "Да", "qzx ываф 12 ζξψ ##$ kkrt йцук ωερ 77 zzq фыв"):
        assert detect(text) == UNDETERMINED
    assert [language_code(v) for v in ("ru", "RU", "rus", "Russian", "uk-UA", "und", "klingon")] == \
        ["ru", "ru", "ru", "ru", "uk", "und", None]


def test_languages_are_stored_per_passage_and_statement(searcher):
    conn = sqlite3.connect(searcher.path / "passages.sqlite")
    docs = dict(conn.execute("SELECT id, language FROM documents"))
    assert docs["durov-ru"] == "ru" and docs["zelensky-uk"] == "uk" and docs["bridge-de"] == "de"
    assert docs["declared"] == "uk"  # the Language: header wins over detection (the text is Russian)
    assert docs["garbage"] == UNDETERMINED and docs["arabic"] == "ar" and docs["hebrew"] == "he"
    passages = dict(conn.execute("SELECT doc_id, language FROM passages WHERE doc_id IN ('declared', 'durov-en')"))
    assert passages == {"declared": "uk", "durov-en": "en"}
    assert searcher.manifest.keyword["languages"]["ru"] == 4  # durov-ru (3 paragraphs), zelensky-ru


def test_language_filter_and_facet(searcher):
    r = searcher.search("Durov", k=10, filters=make_filters(language="ru"))
    assert r.hits and {h.language for h in r.hits} == {"ru"}
    facets = {f.value: f.count for f in searcher.search("Durov", k=10, mode="keyword").facets["language"]}
    assert facets.get("ru", 0) >= 1 and facets.get("en", 0) >= 1
    assert searcher.search("Durov", filters=make_filters(language=["Russian", "en"])).filters.languages == ("ru", "en")
    with pytest.raises(SearchError) as err:
        make_filters(language="klingon")
    assert err.value.code == "invalid_language"


def test_russian_inflections_find_each_other():
    forms = ["Телеграм", "Телеграма", "Телеграму", "Телеграмом"]
    assert len({tuple(analyse([f], ["ru"])[0]) for f in forms}) == 1
    assert analyse(["Дурова"], ["ru"]) == analyse(["Дуров"], ["ru"])
    assert analyse(["Зеленського Зеленському"], ["uk"])[0] == ["зеленський", "зеленський"]  # pymorphy3 lemmas


def test_english_analysis_is_unchanged():
    import bm25s
    import Stemmer

    text = ["The Committee's findings were published; cells and proteins, 1999 and U.S. policies."]
    before = bm25s.tokenize(text, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                            show_progress=False)
    assert analyse(text, ["en"]) == analyse(text) == before
    assert question_languages("What did the committee find about cells?", ["en", "ru"]) == ["en"]


@pytest.mark.parametrize("question", ["Телеграм", "Телеграма", "Телеграму"])
def test_a_russian_question_finds_every_inflected_form(searcher, question):
    hits = searcher.search(question, k=10, mode="keyword").hits
    assert {h.document.id for h in hits} >= {"durov-ru"}
    assert sum(h.document.id == "durov-ru" for h in hits) == 3  # all three paragraphs, in three forms


def test_folding_keys_meet_across_scripts():
    assert crossing_keys("Durov") == ["cdur"] and "cdur" in fold_keys(["Дурова"])[0]
    assert set(crossing_keys("Zelensky")) == set(crossing_keys("Zelenskyy")) == {"czelensk"}
    assert "czelensk" in fold_keys(["Зеленський"])[0] and "czelensk" in fold_keys(["Зеленский"])[0]
    assert "lzelenski" in crossing_keys("Зеленский") and fold_keys(["Zelenskyy"])[0] == ["lzelenski"]


@pytest.mark.parametrize("question, wanted", [
    ("Durov", {"durov-ru", "durov-en"}),
    ("Дуров", {"durov-ru", "durov-en"}),
    ("Zelensky", {"zelensky-uk", "zelensky-ru"}),  # Latin spellings of a name do not fold into each other
    ("Zelenskyy", {"zelensky-uk", "zelensky-ru", "zelensky-en"}),
    ("Зеленский", {"zelensky-uk", "zelensky-ru", "zelensky-en"}),
])
def test_names_match_their_transliteration_unless_exact(searcher, question, wanted):
    for mode in ("keyword", "hybrid"):
        assert set(_docs(searcher.search(question, k=10, mode=mode))) >= wanted, mode
    exact = set(_docs(searcher.search(question, k=10, mode="keyword", exact=True)))
    assert not exact >= wanted  # only the spelling as written


def test_the_vectors_do_not_push_out_a_russian_keyword_match(searcher):
    r = searcher.search("Модераторы удаляют вредные публикации", k=5)
    assert r.hits[0].document.id == "durov-ru" and r.hits[0].keyword_only and not r.hits[0].weak
    # a passage in another language scores on its keywords alone in an English question too
    en = searcher.search("Durov investigators", k=5)
    assert en.hits[0].document.id == "durov-en" and not en.hits[0].keyword_only
    assert all(h.keyword_only for h in en.hits if h.language not in ("en", "und"))


def test_weak_line_for_russian_questions(searcher):
    off_topic = searcher.search("рецепт борща со свёклой и сметаной", k=5)
    assert not off_topic.strong and all(h.weak for h in off_topic.hits)
    on_topic = searcher.search("Модераторы Телеграма удаляют публикации", k=5)
    assert on_topic.strong and on_topic.hits[0].document.id == "durov-ru"


def test_right_to_left_and_garbage_are_indexed_and_found_by_their_words(searcher):
    assert _docs(searcher.search("المزارعين", k=3, mode="keyword"))[:1] == ["arabic"]
    assert _docs(searcher.search("בחקלאים", k=3, mode="keyword"))[:1] == ["hebrew"]
    assert _docs(searcher.search("kkrt", k=3, mode="keyword"))[:1] == ["garbage"]
    r = searcher.search("בחקלאים", k=3)  # hybrid: not English, so the keywords decide
    assert r.hits[0].document.id == "hebrew" and r.hits[0].keyword_only


def test_verify_a_russian_quote(searcher):
    said = verify(searcher, "«Модераторы Телеграма удаляют миллионы вредных публикаций каждый день»")
    assert said.verdict == "verbatim" and said.matches[0].document.id == "durov-ru"
    # ё written as е is no change; "третьим лицам" → "властям" is
    changed = verify(searcher, "Павел Дуров заявил, что Телеграм не передает переписку пользователей властям")
    assert changed.verdict == "altered" and changed.matches[0].document.id == "durov-ru"
    ops = [(d.op, d.source, d.quote) for d in changed.matches[0].diff if d.op != "equal"]
    assert ops and all("передаёт" not in (d[1] or "") for d in ops)
    assert any("властям" in (d[2] or "") for d in ops)
    assert not said.paraphrase_checked and not changed.paraphrase_checked  # the model reads English only
    nothing = verify(searcher, "Мы построим новый мост через реку к следующему лету")
    assert nothing.verdict == "not_found" and not nothing.paraphrase_checked
    english = verify(searcher, "The harbour will reopen in June after the storm repairs are finished")
    assert english.verdict == "verbatim" and english.paraphrase_checked


def test_language_filter_facet_and_exact_through_the_api(searcher, embedder):
    from search.live import LiveSearcher
    from web import create_app

    live = LiveSearcher(searcher.settings, embedder).load()
    client = create_app({"TESTING": True, "SETTINGS": searcher.settings, "LIVE_SEARCHER": live}).test_client()
    body = client.get("/api/search", query_string={"q": "Durov", "language": "ru"}).get_json()
    assert body["results"] and {h["language"] for h in body["results"]} == {"ru"}
    assert body["filters"]["language"] == ["ru"] and all(h["keyword_only"] for h in body["results"])
    both = client.post("/api/search", json={"q": "Durov", "k": 10}).get_json()
    assert {f["value"] for f in both["facets"]["language"]} >= {"ru", "en"}
    exact = client.post("/api/search", json={"q": "Durov", "k": 10, "exact": True}).get_json()
    assert "ru" not in {h["language"] for h in exact["results"] if not h["weak"]}
    bad = client.get("/api/search", query_string={"q": "Durov", "language": "klingon"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_language"
    unknown = client.get("/api/search", query_string={"q": "Durov", "language": "xx"})
    assert unknown.status_code == 200 and unknown.get_json()["results"] == []  # well formed, matches nothing
    page = client.get("/", query_string={"q": "Телеграма", "exact": "true"}).get_data(as_text=True)
    assert "keywords only" in page and 'lang="ru"' in page and "checked" in page
    quote = client.post("/api/verify", json={"quote": "Модераторы Телеграма удаляют миллионы вредных публикаций"})
    assert quote.get_json()["verdict"] == "verbatim" and quote.get_json()["paraphrase_checked"] is False


def test_a_malformed_language_code_is_explained_as_one(seed_index, embedder):
    """Not the date pattern's message (every pattern mismatch used to read "must be a date")."""
    from search.live import LiveSearcher
    from search.settings import load_settings
    from web import create_app

    config = load_settings({"index": seed_index, "reload_interval": -1}, environ={})
    client = create_app({"SETTINGS": config, "LIVE_SEARCHER": LiveSearcher(config, embedder).load()}).test_client()
    answer = client.get("/api/search", query_string={"q": "Telegram", "language": "12x"})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_language" and "language code" in error["message"], error


def test_english_only_index_never_asks_the_detector(monkeypatch):
    """The detector (about 220 MB once loaded) is asked only where its answer changes the analyses: a Latin
    question on an index of English passages alone is read and analysed as English without it."""
    from index import analysis

    asked = []
    monkeypatch.setattr(analysis, "detect", lambda text: asked.append(text) or "fr")
    question = "Quelle est la politique du gouvernement envers les banques nationales?"
    assert analysis.is_english(question, ("en",)) and analysis.is_english(question, ("en", UNDETERMINED))
    assert question_languages(question, ["en"]) == ["en"]
    assert asked == []
    # An index holding French passages: the same question is detected, and analysed as French too.
    assert not analysis.is_english(question, ("en", "fr"))
    assert question_languages(question, ["en", "fr"]) == ["en", "fr"]
    # Cyrillic on an English index still asks which Cyrillic analysis applies (Ukrainian vs Russian).
    monkeypatch.setattr(analysis, "detect", lambda text: asked.append(text) or "uk")
    assert question_languages("Що сказав президент про свободу?", ["en"]) == ["uk"]
    assert len(asked) == 3
