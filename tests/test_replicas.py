"""Two `serve` replicas on one index directory: a rebuild moves both to the new generation, no request fails.

The replicas are separate gunicorn processes on two loopback ports (as two machines on a shared disk would
be, or two instances behind the load balancer of docs/deploy.md), each with one worker so that every
answer from a replica comes from the same process.
"""
from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import pytest
from conftest import wait_until
from test_serve import NEW_QUESTION, QUESTION, fetch, running_server, search_url

pytestmark = pytest.mark.server
RELOAD_INTERVAL = 0.5


def test_two_replicas_move_to_a_rebuilt_generation_without_failed_requests(tmp_path, corpus, embedder):
    from index.build import build_index

    index = tmp_path / "index"
    old = build_index(corpus, index, embedder).generation
    with ExitStack() as stack:
        bases = [stack.enter_context(running_server(index, workers=1, reload_interval=str(RELOAD_INTERVAL)))
                 for _ in range(2)]
        assert len(set(bases)) == 2
        answers: dict[str, list[tuple[float, int, str | None]]] = {base: [] for base in bases}
        stop = threading.Event()

        def stream(base: str) -> None:  # a client per replica, one request after another
            while not stop.is_set():
                status, body = fetch(search_url(base, QUESTION, k=2))
                generation = body.get("index", {}).get("generation") if isinstance(body, dict) else None
                answers[base].append((time.monotonic(), status, generation))

        clients = [threading.Thread(target=stream, args=(base,), daemon=True) for base in bases]
        for client in clients:
            client.start()
        wait_until(lambda: all(len(a) >= 3 for a in answers.values()), 60,
                   "both replicas to answer 3 requests on the old generation")
        (corpus / "lighthouse.txt").write_text("Title: Lighthouse log\nSpeaker: Keeper Anwen\nDate: 2024-05-01\n\n"
                                               "On Vell Island the lighthouse keeper counted 417 puffins at dawn.\n")
        new = build_index(corpus, index, embedder).generation  # published by the symlink swap at its end
        published = time.monotonic()
        wait_until(lambda: all(any(g == new for _, _, g in a) for a in answers.values()), 60,
                   "both replicas to answer from the new generation")
        wait_until(lambda: all(sum(g == new for _, _, g in a) >= 3 for a in answers.values()), 60,
                   "3 more requests on the new generation from each replica")
        stop.set()
        for client in clients:
            client.join(timeout=60)
        health = {base: fetch(base + "api/health")[1] for base in bases}
        found = {base: fetch(search_url(base, NEW_QUESTION, k=1))[1] for base in bases}

    assert new != old
    for base, seen in answers.items():
        statuses = [status for _, status, _ in seen]
        assert statuses and all(status == 200 for status in statuses), f"{base} failed a request: {statuses}"
        generations = [g for _, _, g in seen]
        assert set(generations) == {old, new}, f"{base} served {set(generations)}"
        first_new = generations.index(new)
        assert set(generations[first_new:]) == {new}  # once moved, a replica never answers from the old one
        lag = seen[first_new][0] - published
        print(f"{base}: new generation served {lag:.2f} s after the swap "
              f"(reload_interval {RELOAD_INTERVAL} s; {len(seen)} requests, all 200)")
        assert health[base]["status"] == "ok" and health[base]["generation"] == new
        assert found[base]["results"][0]["document"]["speaker"] == "Keeper Anwen"
