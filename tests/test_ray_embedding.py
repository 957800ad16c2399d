"""Embedding on a real local Ray cluster (head + 2 worker nodes): a local build's vectors, also when a worker
node is lost mid-build."""
from __future__ import annotations

import re
import shutil
import threading
import time

import numpy as np
import pytest

from conftest import DEMO_CORPUS, SEED_CORPUS

ray = pytest.importorskip("ray")

# The demo corpus's own SOTU addresses: the test needs no ../shared folder beside the clone (without
# it, 44 seed sentences were embedded before the test could see a batch from a worker node).
SOTU = DEMO_CORPUS / "us-sotu"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "object_store_memory": 150 * MB}
    cluster = Cluster(initialize_head=True, connect=True, head_node_args=dict(node))  # driver on the head
    workers = [cluster.add_node(**node) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray-corpus")
    for path in sorted(SEED_CORPUS.iterdir()):
        shutil.copy(path, folder / path.name)
    for path in sorted(SOTU.glob("*.txt"))[:6]:
        shutil.copy(path, folder / path.name)
    return folder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_small_lists_never_reach_ray(fake_encoder):
    """Below min_texts the driver embeds: no connection is tried (the address leads nowhere; trying it
    fails after minutes)."""
    from index.distributed import EncoderSpec, RayEncoder, ray_encoder
    from search.settings import load_settings

    texts = [f"statement number {i}" for i in range(300)]
    encoder = RayEncoder(fake_encoder, EncoderSpec(), "127.0.0.1:9", min_texts=301)
    assert np.array_equal(encoder.encode(texts), fake_encoder.encode(texts))
    settings = load_settings({"ray_address": "127.0.0.1:9"}, environ={})
    assert ray_encoder(settings, settings.ray_address, local=fake_encoder).min_texts == settings.ray_min_texts == 2000


@pytest.mark.slow  # two whole builds of the seed + 6 SOTU files on top of the cluster: ~50 s here
def test_ray_build_has_the_local_build_vectors(cluster, corpus, embedder, tmp_path):
    from index.build import build_index
    from index.distributed import EncoderSpec, RayEncoder

    local = build_index(corpus, tmp_path / "local", embedder)
    encoder = RayEncoder(embedder, EncoderSpec(), cluster[0].address, actors=2, batch_size=16, rows_per_block=32)
    remote = build_index(corpus, tmp_path / "ray", encoder)
    assert remote.passages == local.passages > 100 and remote.embedded == remote.passages
    want, got = np.load(tmp_path / "local" / "vectors.npy"), np.load(tmp_path / "ray" / "vectors.npy")
    assert got.shape == want.shape
    assert cosines(got, want).min() >= 0.9999


# In the default suite: ~40 s with the cluster's start on this 2-core machine (the actors load torch).
def test_a_worker_node_killed_mid_build_is_retried(cluster, corpus, embedder):
    """A worker node that embedded a batch is removed mid-encode: Ray restarts its actor elsewhere and
    retries the lost batch; every vector still matches the local one."""
    from index.distributed import EncoderSpec, RayEncoder

    head, workers = cluster
    texts = [p.read_text() for p in sorted(corpus.iterdir())]
    texts = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s) > 20][:800]  # sentences
    want = embedder.encode(texts)
    encoder = RayEncoder(embedder, EncoderSpec(), head.address, actors=2, batch_size=8, rows_per_block=16)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(vectors=encoder.encode(texts)), daemon=True)
    thread.start()
    nodes = {w.node_id: w for w in workers}
    victim, deadline = None, time.time() + 240
    while victim is None and thread.is_alive() and time.time() < deadline:  # a batch came back from a worker node
        victim = next((nodes[key.split(":")[0]] for key in list(encoder.embedded_by)
                       if key.split(":")[0] in nodes), None)
        time.sleep(0.05)
    assert victim is not None, "no batch came back from an actor on a worker node"
    done_before = sum(encoder.embedded_by.values())
    assert thread.is_alive() and done_before < len(texts)  # mid-build
    head.remove_node(victim)  # its raylet and every process on it, the embedding actor included
    thread.join(timeout=300)
    assert not thread.is_alive() and "vectors" in result
    assert cosines(result["vectors"], want).min() >= 0.9999
    by_node: dict[str, int] = {}
    for key, rows in encoder.embedded_by.items():
        by_node[key.split(":")[0]] = by_node.get(key.split(":")[0], 0) + rows
    assert 0 < by_node[victim.node_id] < len(texts)
    assert sum(by_node.values()) >= len(texts)  # the rest came from the surviving and restarted actors
