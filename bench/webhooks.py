"""Webhook delivery after a receiver outage: nothing lost, nothing doubled (search/webhooks.py).

1,000 alerts wait in the outbox of one saved search whose webhook is a receiver on 127.0.0.1. The
receiver first answers 500, then is gone (connection refused), then comes back; a delivering process
(`statement-search watchlist deliver`) is killed with SIGKILL once 40% of the alerts are acknowledged,
and a second one finishes the drain. Real clock, real backoff (2 s, then 4 s). The receiver counts every request, the
delivery ids it acknowledged with 200 and the ids it saw more than once; every body's signature is
checked. Run under the CPU lock:

    flock /tmp/cpu.lock .venv/bin/python bench/webhooks.py --alerts 1000
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, header, report  # noqa: E402

from search.settings import load_settings  # noqa: E402
from search.watchlists import MatchDraft, WatchlistStore, make_saved_search  # noqa: E402
from search.webhooks import (  # noqa: E402
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    backoff,
    deliver_due,
    verify_signature,
)


class Receiver:
    def __init__(self, port: int, secret: str, fail: bool = False, delay: float = 0.0):
        self.fail, self.delay, self.secret = fail, delay, secret
        self.requests: list[tuple[int, str]] = []
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.delay:
                    time.sleep(outer.delay)
                status = 500 if outer.fail else 200
                if not verify_signature(outer.secret, body, self.headers[SIGNATURE_HEADER]):
                    outer.bad_signatures += 1
                outer.requests.append((status, self.headers[DELIVERY_HEADER]))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--kill-at", type=float, default=0.4,
                        help="share of the alerts acknowledged when the first deliverer is killed (SIGKILL)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    settings = load_settings({"index": work / "index", "webhook_allow_private": True}, environ={})
    store = WatchlistStore(work / "w.sqlite")
    receiver = Receiver(0, "", fail=True)
    name, q, mode, f = make_saved_search(settings, "outage", "encryption keys")
    saved = store.add(name, q, mode, f, f"http://127.0.0.1:{receiver.port}/hook")
    receiver.secret = saved.secret or ""
    drafts = [MatchDraft(saved.id, f"doc-{i}", f"hash-{i}", i, 0.5, f"alert {i}", 1, 1) for i in range(args.alerts)]
    store.record("bench", len(drafts), drafts)

    began = time.time()
    first = deliver_due(store, allow_private=True)                        # 500: one attempt, the rest wait
    answered_500 = len(receiver.requests)
    receiver.stop()                                                       # gone
    time.sleep(backoff(1) + 0.1)
    down = deliver_due(store, allow_private=True)                         # connection refused
    receiver = Receiver(receiver.port, saved.secret or "", delay=0.002)   # back, on the same address
    time.sleep(backoff(2) + 0.1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STATEMENT_SEARCH_WEBHOOK_ALLOW_PRIVATE": "1"}
    command = [sys.executable, "-m", "web", "watchlist", "deliver", "--watchlists", str(store.path)]
    recovered = time.time()
    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while sum(1 for s, _ in receiver.requests if s == 200) < args.alerts * args.kill_at and time.time() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    at_kill = store.outbox()
    finish = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    drained = time.time()
    receiver.stop()

    ok = Counter(d for status, d in receiver.requests if status == 200)
    rows = [{"alerts": args.alerts, "requests": answered_500 + len(receiver.requests),
             "refused_or_500_attempts": first.failed + down.failed,
             "delivered_at_kill": at_kill["delivered"], "acknowledged_ids": len(ok),
             "lost": args.alerts - len(ok), "ids_seen_twice": sum(1 for n in ok.values() if n > 1),
             "bad_signatures": receiver.bad_signatures, "outbox_pending": store.outbox()["pending"],
             "drain_s": round(drained - recovered, 2), "total_s": round(drained - began, 2)}]
    print(finish.stdout.strip())
    report("webhooks", header("Webhook delivery after a receiver outage (500, refused, deliverer killed)"), rows,
           list(rows[0]))


if __name__ == "__main__":
    main()
