"""Hypothesis strategies for questions as users type them: "quoted phrases" (often taken from a text, so
they occur in it, repeatedly), -exclusions, punctuation, non-Latin words (tests/test_phrases_property.py,
tests/test_schemathesis.py)."""
from __future__ import annotations

from hypothesis import strategies as st

# Words of the seed statement (so phrases match real passages), stopwords, other scripts, odd tokens.
WORDS = ["Telegram", "Russia", "encryption", "keys", "banned", "the", "of", "we", "and", "users", "privacy",
         "Дуров", "Телеграм", "Россия", "ключи", "Ζεύς", "東京", "مرحبا", "שלום", "x", "42", "end-to-end",
         "don't", "U.S.", "naïve", "—", "«", "»", "…"]
PUNCT = [".", ",", "!", "?", ";", ":", "“", "”", "'", "(", ")", "-", "--", '"']

word = st.sampled_from(WORDS) | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                                        min_size=1, max_size=8)
words = st.lists(word, min_size=1, max_size=4).map(" ".join)
phrase = words.map(lambda w: f'"{w}"') | words.map(lambda w: f"“{w}”")
exclusion = word.map(lambda w: f"-{w}") | words.map(lambda w: f'-"{w}"')
part = st.one_of(word, phrase, exclusion, st.sampled_from(PUNCT))


@st.composite
def questions(draw, text: str | None = None):
    """0-3 phrases (from `text` when given, so they occur, often more than once), words and exclusions."""
    parts = draw(st.lists(part, max_size=6))
    for _ in range(draw(st.integers(0, 3))):
        if text and draw(st.booleans()):
            tokens = text.split()
            start = draw(st.integers(0, max(0, len(tokens) - 1)))
            parts.append('"' + " ".join(tokens[start:start + draw(st.integers(1, 3))]) + '"')
        else:
            parts.append(draw(phrase))
    draw(st.randoms()).shuffle(parts)
    return " ".join(parts)


@st.composite
def text_and_question(draw):
    # Repeated words make a phrase occur twice in one passage: the case that crashed.
    base = draw(st.lists(word, min_size=1, max_size=12))
    text = " ".join(base * draw(st.integers(1, 3)) + draw(st.lists(st.sampled_from(PUNCT), max_size=3)))
    return text, draw(questions(text))
