"""Off-topic probe questions that calibrate an index's "no strong match" line at build time.

Everyday questions no collection of public statements sets out to answer: recipes, sport, pets,
hobbies, household chores. Their best cosine against an index measures how close an unrelated
question gets to *something* in that corpus, which grows with the corpus's size and breadth (a
single statement: about 0.1; two centuries of addresses: about 0.35). The line sits above most of
them (search/weak.py). They are kept apart from tests/data/out_of_scope.txt, the held-out set the
line is tested on.
"""
from __future__ import annotations

import numpy as np

from .embedder import Embedder

PROBES = (
    "How long do I bake chocolate chip cookies?",
    "What is the best pizza dough hydration?",
    "How do I make fluffy pancakes from scratch?",
    "Can I freeze cooked rice?",
    "How do I poach salmon in the oven?",
    "What wine goes with grilled lamb?",
    "How do I keep guacamole from turning brown?",
    "What is the difference between a latte and a cappuccino?",
    "Who holds the record for the fastest marathon?",
    "How many players are on a volleyball team?",
    "What is the offside rule in ice hockey?",
    "How do I improve my tennis backhand?",
    "Which team won the basketball championship last season?",
    "How should I warm up before a swim?",
    "What size surfboard should a beginner buy?",
    "How often should I feed a goldfish?",
    "Why does my cat knock things off tables?",
    "How do I stop my dog barking at the doorbell?",
    "What should I feed a pet rabbit?",
    "How long do hamsters live?",
    "When should I plant tulip bulbs?",
    "How do I get rid of aphids on roses?",
    "Why are my tomato leaves turning yellow?",
    "How do I repot an orchid?",
    "How do I unclog a bathroom sink?",
    "What is the best way to clean a microwave?",
    "How do I fold a fitted sheet?",
    "How do I paint a room without streaks?",
    "How do I crochet a granny square?",
    "What are good beginner watercolour techniques?",
    "How do I develop black and white film at home?",
    "How do I start a saltwater aquarium?",
    "What is the best board game for four players?",
    "How do I beat the final boss in a video game?",
    "Who plays the lead in the new superhero movie?",
    "What are the lyrics of a famous love song?",
    "How do I learn to juggle three balls?",
    "What should I pack for a beach holiday?",
    "How do I get over jet lag quickly?",
    "What is the best time of year to see cherry blossoms?",
    "How do I stop my glasses from fogging up?",
    "How many hours of sleep does a teenager need?",
    "How do I treat a bee sting?",
    "What stretches help a stiff neck?",
    "How do I reset my wireless headphones?",
    "Why is my phone battery draining so fast?",
    "How do rainbows form?",
    "How do I descale a kettle?",
)


def measure_probes(embedder: Embedder, vectors: np.ndarray, sentence_vectors: np.ndarray,
                   batch_size: int) -> np.ndarray:
    """Each probe's best cosine to any passage or sentence of `vectors` / `sentence_vectors`: the score the
    ranking uses (search/ranking.py), so the "no strong match" line is measured on it."""
    probe_vectors = embedder.encode(list(PROBES), batch_size=batch_size)
    return np.maximum(probe_top1(probe_vectors, vectors), probe_top1(probe_vectors, sentence_vectors))


def probe_top1(probe_vectors: np.ndarray, vectors: np.ndarray, chunk: int = 65536) -> list[float]:
    """Best cosine of each probe against the index's (normalised) passage vectors."""
    best = np.full(len(probe_vectors), -1.0, dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start:start + chunk], dtype=np.float32)
        np.maximum(best, (block @ probe_vectors.T).max(axis=0), out=best)
    return [round(float(x), 4) for x in best]
