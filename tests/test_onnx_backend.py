"""The ONNX Runtime backend gives the torch model's vectors: fp32 to ~1e-6, int8 to a cosine of ~0.98+."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from index.embedder import TorchEmbedder, make_embedder  # noqa: E402
from index.onnx_backend import FP32_FILE, INT8_FILE, OnnxEmbedder  # noqa: E402
from search.errors import StatementSearchError  # noqa: E402
from search.settings import load_settings  # noqa: E402

from conftest import DEMO_CORPUS  # noqa: E402

# The demo corpus's own SOTU addresses (12, 1790-2002): real paragraphs in every clone, where the
# ../shared copy of all 215 may be missing (the test then ran on the short sentences alone).
SOTU = DEMO_CORPUS / "us-sotu"
SENTENCES = [
    "The state of the Union is strong.",
    "We must reduce tariffs on imported goods and protect American workers from unfair competition.",
    "Peace",
    "I ask the Congress to pass a balanced budget amendment this year, and to give the President the "
    "line-item veto so that wasteful spending can be cut without vetoing an entire appropriations bill.",
    "Ünïcödé — “quoted” text; with dashes, numbers (1,234.5) and an e-mail: a@b.org",
    "word " * 400,  # longer than the model's 256 tokens: truncated the same way
]


def real_paragraphs(n: int = 60) -> list[str]:
    out = []
    for path in sorted(SOTU.glob("*.txt")):
        out += [p.strip() for p in path.read_text(errors="ignore").split("\n\n") if len(p.strip()) > 40][:5]
    assert len(out) >= n, f"{SOTU} holds fewer than {n} paragraphs"
    return out[:n]


@pytest.fixture(scope="session")
def onnx_cache() -> Path:
    """The checkout's export cache (state/onnx): exported on the first run only, like a build artifact."""
    return load_settings(environ={}).onnx_cache


@pytest.fixture(scope="session")
def torch_embedder():
    return TorchEmbedder()


@pytest.fixture(scope="session")
def fp32(onnx_cache):
    return OnnxEmbedder("all-MiniLM-L6-v2", onnx_cache)


@pytest.fixture(scope="session")
def int8(onnx_cache, fp32):
    return OnnxEmbedder("all-MiniLM-L6-v2", onnx_cache, int8=True)


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return SENTENCES + real_paragraphs()


def test_fp32_matches_torch(torch_embedder, fp32, texts):
    want = torch_embedder.encode(texts)
    got = fp32.encode(texts, batch_size=7)  # odd batches: padding inside most of them
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_int8_stays_close_to_fp32(fp32, int8, texts):
    a, b = fp32.encode(texts), int8.encode(texts)
    cosines = (a * b).sum(axis=1) / np.linalg.norm(b, axis=1)
    assert cosines.mean() >= 0.98
    assert cosines.min() >= 0.95
    assert int8.onnx_path.stat().st_size < fp32.onnx_path.stat().st_size / 3


def test_order_and_batch_size_do_not_change_vectors(fp32, texts):
    texts = texts[:16]
    one = fp32.encode(texts, batch_size=1)
    many = fp32.encode(list(reversed(texts)), batch_size=64)[::-1]
    assert np.abs(one - many).max() < 1e-5


def test_same_tokens_and_pins_as_torch(torch_embedder, fp32, texts):
    assert [fp32.count_tokens(t) for t in texts] == [torch_embedder.count_tokens(t) for t in texts]
    assert fp32.passage_limit == torch_embedder.passage_limit
    assert fp32.dimension == torch_embedder.dimension
    assert fp32.sha256 == torch_embedder.sha256  # the weights' sha256 pins the export too
    assert (fp32.backend, torch_embedder.backend) == ("onnx", "torch")


def test_empty_input(fp32):
    assert fp32.encode([]).shape == (0, fp32.dimension)


def test_export_is_cached_by_weights_and_rebuilt_if_missing(onnx_cache, int8, tmp_path):
    folder = int8.onnx_path.parent
    assert folder.parent == onnx_cache and folder.name == int8.sha256[:16]
    assert {FP32_FILE, INT8_FILE} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "source.json").read_text())["sha256"] == int8.sha256
    copy = tmp_path / folder.name
    copy.mkdir()
    shutil.copy(folder / FP32_FILE, copy / FP32_FILE)  # the int8 file is missing here: quantised again
    again = OnnxEmbedder("all-MiniLM-L6-v2", tmp_path, int8=True)
    assert again.onnx_path == copy / INT8_FILE and again.onnx_path.is_file()
    assert np.abs(again.encode(SENTENCES[:2]) - int8.encode(SENTENCES[:2])).max() < 1e-5


def test_factory_picks_the_backend(onnx_cache):
    settings = load_settings({"embedding_backend": "onnx", "onnx_cache": onnx_cache}, environ={})
    assert isinstance(settings.make_embedder(), OnnxEmbedder)
    with pytest.raises(StatementSearchError, match="embedding_backend"):
        load_settings({"embedding_backend": "tensorflow"}, environ={})
    with pytest.raises(StatementSearchError, match="embedding_backend"):
        make_embedder("tensorflow")


def test_index_built_with_onnx_records_backend_and_serves(tmp_path, int8):
    from index.build import build_index
    from index.manifest import read_manifest
    from search.searcher import Searcher

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Tariffs on imported steel protect American workers.\n\n"
                                  "The weather was pleasant at the harvest festival.\n")
    build_index(corpus, tmp_path / "index", int8, index_type="hnsw")
    manifest = read_manifest(tmp_path / "index")
    assert manifest.model.backend == "onnx-int8" and manifest.index["type"] == "hnsw"
    assert manifest.index["params"]["efSearch"] > 0
    settings = load_settings({"index": tmp_path / "index", "mode": "vector"}, environ={})
    hits = Searcher.load(settings, int8).search("trade protection for industry", k=1).hits
    assert "Tariffs" in hits[0].text


def serving_processes(index: Path) -> list[int]:
    """Pids of a `serve --index INDEX` master and its workers (forked children share its command line)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"serve" in cmdline and str(index).encode() in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.mark.server
def test_onnx_generation_carries_its_encoder_and_serves_without_torch(tmp_path, int8):
    from index import layout
    from index.build import build_index
    from index.errors import IndexUnavailable
    from index.manifest import read_manifest
    from search.searcher import Searcher

    from conftest import SEED_CORPUS
    from test_serve import fetch, running_server

    index = tmp_path / "index"
    build_index(SEED_CORPUS, index, int8)
    gen, manifest = layout.current_generation(index), read_manifest(index)
    assert manifest.encoder["backend"] == "onnx-int8" and (gen / "encoder" / "model.onnx").is_file()
    # The generation's own encoder answers, whatever backend the settings name for builds.
    searcher = Searcher.load(load_settings({"index": index, "embedding_backend": "torch"}, environ={}))
    assert searcher.embedder.backend == "onnx-int8" and searcher.embedder.onnx_path.parent == gen / "encoder"
    assert np.allclose(searcher.embed_question("encryption keys"), int8.encode(["encryption keys"])[0], atol=1e-6)
    # A tampered encoder is refused.
    copy = tmp_path / "copy"
    shutil.copytree(gen, copy)
    (copy / "encoder" / "model.onnx").unlink()
    (copy / "encoder" / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(IndexUnavailable) as err:
        Searcher(copy, load_settings({"index": copy}, environ={}))
    assert err.value.code == "index_corrupt"
    # Real gunicorn workers answer without ever importing torch (no libtorch mapped in any process).
    with running_server(index, workers=2) as url:
        status, body = fetch(url + "api/search?q=Why+was+Telegram+banned+in+Russia%3F&k=1")
        assert status == 200 and "encryption keys" in body["results"][0]["text"]
        pids = serving_processes(index)
        assert len(pids) >= 3, pids  # the master and two workers
        maps = {pid: Path(f"/proc/{pid}/maps").read_text() for pid in pids}
    assert not [pid for pid, text in maps.items() if "libtorch" in text]
    assert any("onnxruntime" in text for text in maps.values())  # the workers encode with ONNX Runtime
