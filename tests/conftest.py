"""Shared fixtures: the real model once per session, a seed index, a fake encoder for unit tests.

Test modules import the helpers here as `from conftest import ...` (pytest puts tests/ on sys.path), never
as `tests.conftest`: that would load this file a second time as another module, with its own SEED_CORPUS.
"""
from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_CORPUS = ROOT / "data" / "statements"  # the demo: every format plus a dozen SOTU addresses


def _seed_only() -> Path:
    """A corpus of the seed statement alone, which the tests' figures and assertions are written against."""
    target = Path(tempfile.mkdtemp(prefix="seed-corpus-"))
    for path in DEMO_CORPUS.glob("durov-*.txt"):
        shutil.copy(path, target)
    atexit.register(shutil.rmtree, target, True)
    return target


SEED_CORPUS = _seed_only()
SHARED = ROOT.parent / "shared" / "data"  # the example data beside the project (read-only; not in a clone)
SHARED_SOTU = SHARED / "statements" / "us-sotu-1790-2008"
SHARED_SCIFACT = SHARED / "scifact"
ENCRYPTION_PARAGRAPH = "When Russia asked us to hand over “encryption keys”"


class FakeEncoder:
    """Hashed bag of words: deterministic, fast, and only for unit tests of the plumbing."""

    name = "fake"
    sha256 = "fake-encoder-v1"
    backend = "fake"
    dimension = 64
    passage_limit = 254
    batch_size = 64

    def __init__(self):
        self.calls: list[int] = []

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))

    def encode(self, texts, batch_size=64, progress=False):
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dimension] += 1
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def fake_encoder():
    return FakeEncoder()


@pytest.fixture(scope="session")
def embedder():
    from index.embedder import TorchEmbedder

    return TorchEmbedder()


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder):
    """The demo corpus indexed with the real model, once per session (read-only for tests)."""
    from index.build import build_index

    index = tmp_path_factory.mktemp("seed") / "index"
    build_index(SEED_CORPUS, index, embedder)
    return index


@pytest.fixture(scope="session")
def seed_searcher(seed_index, embedder):
    from search.searcher import Searcher
    from search.settings import load_settings

    return Searcher(seed_index, load_settings({"index": seed_index}, environ={}), embedder)


@pytest.fixture
def corpus(tmp_path):
    """A small writable copy of the demo corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, target)
    return target


def needs_shared(path: Path) -> pytest.MarkDecorator:
    """Skip (saying why) where `path` under ../shared/data is missing, rather than run on less data."""
    return pytest.mark.skipif(not path.exists(), reason=f"needs ../shared/{path.relative_to(SHARED.parent)} "
                                                        "(the example data beside the project)")


T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy (returned); fail the test naming `what` after
    `timeout` seconds. Every wait in the tests has a deadline, and polls rather than sleeps a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)
