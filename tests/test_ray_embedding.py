"""Embedding on a real local Ray cluster (head + 2 worker nodes) gives a local build's vectors."""
from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest

from conftest import SEED_CORPUS, SHARED

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a three-node cluster and three model loads: about a minute or more

SOTU = SHARED / "statements" / "us-sotu-1790-2008"
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


def test_a_worker_killed_mid_build_is_retried(cluster, corpus, embedder):
    from index.distributed import EncoderSpec, RayEncoder
    from ray.util.state import list_actors

    head, workers = cluster
    texts = [p.read_text() for p in sorted(corpus.iterdir())]
    texts = [para for t in texts for para in t.split("\n\n") if para.strip()][:400]
    want = embedder.encode(texts)
    encoder = RayEncoder(embedder, EncoderSpec(), head.address, actors=2, batch_size=8, rows_per_block=16)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(vectors=encoder.encode(texts)))
    thread.start()
    victim, deadline = None, time.time() + 120
    while victim is None and time.time() < deadline:  # an embedding actor alive on a worker node
        alive = {a.node_id for a in list_actors(filters=[("class_name", "=", "EmbedActor"), ("state", "=", "ALIVE")])}
        victim = next((w for w in workers if w.unique_id in alive), None)
        time.sleep(0.2)
    assert victim is not None, "no embedding actor started on a worker node"
    assert thread.is_alive()  # mid-build
    head.remove_node(victim)
    thread.join(timeout=300)
    assert not thread.is_alive() and "vectors" in result
    assert cosines(result["vectors"], want).min() >= 0.9999
    restarted = list_actors(filters=[("class_name", "=", "EmbedActor")], detail=True)
    assert any(a.node_id == victim.unique_id for a in restarted)  # the lost actor really ran there
