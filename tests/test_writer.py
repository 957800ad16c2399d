"""The one generation writer (index/writer.py): its steps, its typed record, and the one model/backend check.

Fake encoder throughout (fast plumbing tests); the real model and FAISS paths are in test_build/test_update."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index import layout
from index.build import build_index
from index.errors import IndexUnavailable
from index.manifest import Counts, ModelInfo, check_compatible, read_manifest
from index.store import PassageStore
from index.update import add_statements, remove_statements
from index.writer import GenerationWriter, PublishedGeneration, generation_writer

ROOT = Path(__file__).resolve().parents[1]
TWO_PARAGRAPHS = ("Title: Lighthouse log\nSpeaker: Keeper Anwen\nDate: 2024-05-01\n\n"
                  "On Vell Island the lighthouse keeper counted 417 puffins at dawn.\n\n"
                  "The fog horn was repaired by the harbour master.\n")


class OtherBackend:
    """The fake encoder's weights under another runtime name (as onnx-int8 is to torch)."""

    def __init__(self, inner, backend="other-runtime", sha256=None):
        self.inner, self.backend = inner, backend
        self.sha256 = sha256 or inner.sha256

    def __getattr__(self, name):
        return getattr(self.inner, name)


def leftovers(index: Path) -> list[Path]:
    return list(index.parent.glob(f".{index.name}.tmp-*"))


def ids_of(index: Path, doc_id: str) -> list[int]:
    st = PassageStore(layout.current_generation(index) / layout.DB_FILE)
    try:
        return st.passage_ids_of([doc_id])
    finally:
        st.close()


# -- the typed record: new passage ids and the previous generation --------------------------------------
def test_a_first_build_has_every_passage_new_and_no_previous(tmp_path, corpus, fake_encoder):
    report = build_index(corpus, tmp_path / "index", fake_encoder)
    assert report.previous_generation is None and report.previous_path is None
    assert report.path == layout.current_generation(tmp_path / "index")
    assert report.new_passage_ids.dtype == np.int64
    assert report.new_passage_ids.tolist() == list(range(report.passages))
    assert isinstance(report.record, PublishedGeneration) and report.record.renumbered
    with pytest.raises(ValueError):
        report.new_passage_ids[0] = 5  # read-only: one record, seen by every consumer


def test_a_rebuild_lists_only_passages_not_reused(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    first = build_index(corpus, index, fake_encoder)
    (corpus / "lighthouse.txt").write_text(TWO_PARAGRAPHS)
    second = build_index(corpus, index, fake_encoder)
    assert (second.previous_generation, second.previous_path) == (first.generation, first.path)
    assert second.path == layout.current_generation(index) != first.path
    new = second.new_passage_ids.tolist()
    assert len(new) == second.embedded == 2
    assert new == ids_of(index, "lighthouse")  # the rebuild renumbered; these are the new statement's ids
    again = build_index(corpus, index, fake_encoder)  # nothing changed: nothing new
    assert again.new_passage_ids.tolist() == [] and again.previous_generation == second.generation


def test_an_add_lists_its_appended_passages_and_a_replacement_only_changed_text(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    built = build_index(corpus, index, fake_encoder)
    new_file = tmp_path / "lighthouse.txt"
    new_file.write_text(TWO_PARAGRAPHS)
    added = add_statements([new_file], index, fake_encoder)
    assert added.previous_generation == built.generation and added.previous_path == built.path
    assert added.path == layout.current_generation(index)
    appended = list(range(built.passages, built.passages + 2))  # live updates keep ids: appended after the last
    assert added.new_passage_ids.tolist() == appended == added.added_passage_ids.tolist()
    assert added.record.renumbered is False and added.record.previous.generation == built.generation
    assert list(added.timings) == ["read_split", "embed", "sqlite", "copy_vectors", "vector_index", "bm25",
                                   "probes_encoder", "manifest", "publish"]  # the named steps, in order
    # Replace the statement with one paragraph changed: two ids appended, one of them new text.
    new_file.write_text(TWO_PARAGRAPHS.replace("fog horn", "foghorn"))
    replaced = add_statements([new_file], index, fake_encoder)
    assert replaced.replaced == ("lighthouse",) and replaced.previous_generation == added.generation
    assert replaced.added_passage_ids.tolist() == [appended[-1] + 1, appended[-1] + 2]
    assert replaced.new_passage_ids.tolist() == [appended[-1] + 2]  # the unchanged paragraph reused its vector
    assert replaced.removed_passage_ids.tolist() == appended


def test_a_removal_has_no_new_passages(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    (corpus / "lighthouse.txt").write_text(TWO_PARAGRAPHS)
    built = build_index(corpus, index, fake_encoder)
    gone = ids_of(index, "lighthouse")
    report = remove_statements(["lighthouse"], index, fake_encoder)
    assert report.published and report.previous_generation == built.generation
    assert report.new_passage_ids.tolist() == [] and report.added_passage_ids.tolist() == []
    assert report.removed_passage_ids.tolist() == gone


# -- the writer's steps -------------------------------------------------------------------------------
class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("step", ["manifest", "publish"])
def test_a_failure_in_any_step_leaves_the_live_generation_and_no_leftovers(tmp_path, corpus, fake_encoder,
                                                                           monkeypatch, step):
    index = tmp_path / "index"
    (corpus / "harbour.txt").write_text("Speaker: Ines\n\nThe ferry leaves at seven every morning.\n")
    built = build_index(corpus, index, fake_encoder)
    new_file = tmp_path / "lighthouse.txt"
    new_file.write_text(TWO_PARAGRAPHS)

    def explode(self, *args, **kwargs):
        assert self.tmp is not None and self.tmp.is_dir(), "files are written into the staged folder"
        raise Boom(step)

    monkeypatch.setattr(GenerationWriter, step, explode)
    for write in (lambda: add_statements([new_file], index, fake_encoder),
                  lambda: remove_statements(["harbour"], index, fake_encoder),
                  lambda: build_index(corpus, index, fake_encoder)):
        with pytest.raises(Boom):
            write()
        assert layout.current_generation(index) == built.path and read_manifest(index).generation == built.generation
        assert leftovers(index) == []
    monkeypatch.undo()
    report = add_statements([new_file], index, fake_encoder)
    assert report.previous_generation == built.generation and leftovers(index) == []


def test_a_killed_writer_leaves_the_live_generation_and_the_next_build_removes_its_folder(tmp_path, corpus):
    """A real crash: the process dies (os._exit) while writing; nothing runs its clean-up."""
    index = tmp_path / "index"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        from conftest import FakeEncoder
        from index.build import build_index

        class Dies(FakeEncoder):
            def encode(self, texts, **kw):
                if os.environ.get("DIE"):
                    os._exit(9)
                return super().encode(texts, **kw)

        build_index({str(corpus)!r}, {str(index)!r}, Dies())
    """)
    run = [sys.executable, "-c", script]
    subprocess.run(run, check=True, timeout=120)
    live = layout.current_generation(index)
    (corpus / "lighthouse.txt").write_text(TWO_PARAGRAPHS)
    died = subprocess.run(run, env={**os.environ, "DIE": "1"}, timeout=120)
    assert died.returncode == 9
    assert len(leftovers(index)) == 1  # the staged folder a dead process could not remove
    assert layout.current_generation(index) == live and read_manifest(index).generation == layout.generation_id(live)
    subprocess.run(run, check=True, timeout=120)
    assert leftovers(index) == [] and layout.current_generation(index) != live


def test_steps_run_in_order_and_one_generation_per_writer(tmp_path):
    index = tmp_path / "index"
    with pytest.raises(RuntimeError, match="stage"):
        with generation_writer(index) as writer:
            assert writer.previous is None
            writer.manifest(model=ModelInfo("m", "s"), dimension=2, counts=Counts(0, 0), index={}, keyword={},
                            sentences={}, encoder={}, probes=(), corpus={})
    with generation_writer(index) as writer:
        tmp = writer.stage()
        (tmp / "payload.txt").write_text("x")
        with pytest.raises(RuntimeError, match="one generation"):
            writer.stage()
        manifest = writer.manifest(model=ModelInfo("m", "s"), dimension=2, counts=Counts(1, 1), index={},
                                   keyword={}, sentences={}, encoder={}, probes=(), corpus={})
        assert manifest.files["payload.txt"]["size"] == 1  # every file is checksummed by the writer
        record = writer.publish(manifest, new_passage_ids=np.array([3, 1, 3]))
    assert record.new_passage_ids.tolist() == [1, 3] and record.previous is None
    assert record.path == layout.current_generation(index) and (record.path / "payload.txt").is_file()
    assert set(record.timings) >= {"manifest", "publish"}


# -- one compatibility check, three paths ----------------------------------------------------------------
def test_check_compatible_refuses_other_weights_and_another_backend(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    manifest = read_manifest(index)
    check_compatible(manifest, index, fake_encoder)
    for other in (OtherBackend(fake_encoder), OtherBackend(fake_encoder, fake_encoder.backend, "f" * 64)):
        with pytest.raises(IndexUnavailable) as err:
            check_compatible(manifest, index, other)
        assert err.value.code == "model_mismatch"


def test_a_rebuild_with_another_backend_reuses_nothing(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    first = build_index(corpus, index, fake_encoder)
    again = build_index(corpus, index, OtherBackend(fake_encoder))
    assert again.reused == 0 and again.embedded == first.passages
    assert again.new_passage_ids.tolist() == list(range(first.passages))
    assert read_manifest(index).model.backend == "other-runtime"


def test_a_live_update_with_another_model_or_backend_is_refused(tmp_path, corpus, fake_encoder):
    index = tmp_path / "index"
    built = build_index(corpus, index, fake_encoder)
    new_file = tmp_path / "lighthouse.txt"
    new_file.write_text(TWO_PARAGRAPHS)
    for other in (OtherBackend(fake_encoder), OtherBackend(fake_encoder, fake_encoder.backend, "f" * 64)):
        for update in (lambda other=other: add_statements([new_file], index, other),
                       lambda other=other: remove_statements([next(corpus.glob("*.txt")).stem], index, other)):
            with pytest.raises(IndexUnavailable) as err:
                update()
            assert err.value.code == "model_mismatch"
            assert read_manifest(index).generation == built.generation and leftovers(index) == []


def test_a_searcher_never_pairs_a_generation_with_another_model_or_backend(tmp_path, corpus, fake_encoder,
                                                                           monkeypatch):
    from search import generation as generation_module
    from search.generation import Generation
    from search.settings import load_settings

    index = tmp_path / "index"
    build_index(corpus, index, fake_encoder)
    settings = load_settings({"index": index}, environ={})
    gen = Generation(index)
    assert gen.question_encoder(settings, fake_encoder) is fake_encoder
    # The same weights under another runtime are not used; the generation's backend is loaded instead ...
    made = []
    monkeypatch.setattr(generation_module, "make_embedder",
                        lambda backend, *a, **k: made.append(backend) or fake_encoder)
    assert gen.question_encoder(settings, OtherBackend(fake_encoder)) is fake_encoder and made == ["fake"]
    # ... and an encoder that still does not match (another runtime, or other weights) is refused.
    for wrong in (OtherBackend(fake_encoder), OtherBackend(fake_encoder, "fake", "f" * 64)):
        monkeypatch.setattr(generation_module, "make_embedder", lambda *a, wrong=wrong, **k: wrong)
        with pytest.raises(IndexUnavailable) as err:
            gen.question_encoder(settings, None)
        assert err.value.code == "model_mismatch"
    with pytest.raises(IndexUnavailable) as err:  # other weights handed in are refused outright
        gen.question_encoder(settings, OtherBackend(fake_encoder, "fake", "f" * 64))
    assert err.value.code == "model_mismatch"
    gen.close()


def test_record_is_frozen(tmp_path, corpus, fake_encoder):
    report = build_index(corpus, tmp_path / "index", fake_encoder)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.record.generation = "x"  # type: ignore[misc]
    assert replace(report.record, renumbered=False).generation == report.generation
