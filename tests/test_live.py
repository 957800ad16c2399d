"""LiveSearcher: picks up a newly published generation in the background, never serves a half-loaded one."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from index import layout
from search.errors import IndexUnavailable
from search.live import LiveSearcher
from search.settings import load_settings


class FakeSearcher:
    def __init__(self, path: Path):
        self.path = path.resolve()
        self.generation = path.resolve().name
        self.embedder = "shared-model"


class Loader:
    """Loads FakeSearchers; a generation named in `fail` raises; `gate` holds loads until released."""

    def __init__(self):
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.embedders: list[object] = []

    def __call__(self, path, settings, embedder):
        self.calls.append(Path(path).name)
        self.embedders.append(embedder)
        self.gate.wait(10)
        if not Path(path).exists() or Path(path).resolve().name in self.fail:
            raise IndexUnavailable(f"cannot load {path}", code="index_corrupt")
        return FakeSearcher(Path(path))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def publish(index: Path, name: str) -> Path:
    tmp = layout.temporary_dir(index)
    return layout.publish(tmp, index, name)


@pytest.fixture
def setup(tmp_path):
    index = tmp_path / "index"
    publish(index, "one")
    loader, clock = Loader(), Clock()
    live = LiveSearcher(load_settings({"index": index, "reload_interval": 2}, environ={}), loader=loader,
                        clock=clock).load()
    return index, live, loader, clock


def test_serves_the_current_generation(setup):
    index, live, loader, clock = setup
    assert live.get().generation == ".index.gen-one"
    assert loader.calls == [".index.gen-one"]


def test_swaps_in_a_new_generation_after_the_interval(setup):
    index, live, loader, clock = setup
    publish(index, "two")
    assert live.get().generation == ".index.gen-one"  # not checked yet: interval not over
    clock.now = 2.5
    loader.gate.clear()
    during = live.get()  # starts the background load, answers from the old generation meanwhile
    assert during.generation == ".index.gen-one" and live.loading
    loader.gate.set()
    assert live.wait_until_idle(10)
    assert live.get().generation == ".index.gen-two"
    assert during.generation == ".index.gen-one"  # a request keeps the searcher it started with
    assert loader.embedders[-1] == "shared-model"  # the model is loaded once and shared


def test_a_failed_load_keeps_the_old_generation_and_is_not_retried(setup):
    index, live, loader, clock = setup
    publish(index, "bad")
    loader.fail.add(".index.gen-bad")
    clock.now = 3
    live.get()
    assert live.wait_until_idle(10)
    assert live.get().generation == ".index.gen-one"
    clock.now = 6
    live.get()
    assert live.wait_until_idle(10)
    assert loader.calls.count(".index.gen-bad") == 1
    publish(index, "three")
    clock.now = 9
    live.get()
    assert live.wait_until_idle(10)
    assert live.get().generation == ".index.gen-three"


def test_no_index_raises_until_one_appears(tmp_path):
    index = tmp_path / "index"
    loader, clock = Loader(), Clock()
    live = LiveSearcher(load_settings({"index": index, "reload_interval": 1}, environ={}), loader=loader,
                        clock=clock).load()
    with pytest.raises(IndexUnavailable):
        live.get()
    publish(index, "first")
    clock.now = 1.5
    loader.gate.clear()
    with pytest.raises(IndexUnavailable):
        live.get()  # the load runs in the background
    loader.gate.set()
    assert live.wait_until_idle(10)
    assert live.get().generation == ".index.gen-first"


def test_one_load_at_a_time(setup):
    index, live, loader, clock = setup
    publish(index, "two")
    loader.gate.clear()
    for t in (3, 6, 9):
        clock.now = t
        live.get()
    loader.gate.set()
    assert live.wait_until_idle(10)
    assert loader.calls.count(".index.gen-two") == 1


def test_real_generation_swap(tmp_path, embedder, corpus):
    """Real model and index: a statement added by a rebuild is found once the swap is done."""
    from index.build import build_index

    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    live = LiveSearcher(load_settings({"index": index, "reload_interval": 0}, environ={}), embedder).load()
    old = live.get()
    (corpus / "lighthouse.txt").write_text("Title: Lighthouse log\nSpeaker: Keeper Anwen\nDate: 2024-05-01\n\n"
                                           "On Vell Island the lighthouse keeper counted 417 puffins at dawn.\n")
    build_index(corpus, index, embedder)
    live.get()
    assert live.wait_until_idle(60)
    new = live.get()
    assert new.generation != old.generation
    hit = new.search("how many puffins did the lighthouse keeper count?", k=1).hits[0]
    assert hit.document.speaker == "Keeper Anwen"
    assert all(h.document.speaker != "Keeper Anwen" for h in old.search("puffins lighthouse keeper", k=5).hits)
