"""Load test of `statement-search serve`: req/s and p50/p99 of /api/search, and worker memory.

For each worker count, starts the real server (gunicorn, preload) on a free loopback port over the
SOTU index, then for each number of concurrent clients runs a warm-up and a fixed-length measured
window of GET /api/search with distinct questions (the per-worker embedding cache rarely hits).
Clients are threads in this process on the same machine, so they take some CPU from the server.

    flock /tmp/cpu.lock .venv/bin/python bench/load.py            # 1 and 2 workers × 1, 4, 16 clients
    .venv/bin/python bench/load.py --index /tmp/x/index --duration 5 --clients 1,4 --workers 1
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from _common import ROOT, SOTU_INDEX, header, report

from web.serve import stop_server  # noqa: E402

TOPICS = ["taxes", "the national debt", "the army", "the navy", "tariffs on imports", "the Indian tribes", "slavery",
          "the railroads", "immigration", "public schools", "health care", "social security", "inflation",
          "unemployment", "the banks", "the gold standard", "foreign trade", "peace with Spain", "the Panama canal",
          "farmers and agriculture", "civil rights", "energy and oil", "the environment", "terrorism",
          "nuclear weapons", "the Soviet Union", "China", "Mexico", "Great Britain", "veterans", "the post office",
          "public lands", "the census", "the courts", "crime and drugs", "the budget deficit", "Medicare",
          "space exploration", "highways", "the Great Depression", "the war in Europe", "Vietnam", "Iraq",
          "education reform", "small business", "labor unions", "the minimum wage", "housing", "the currency",
          "the Constitution"]
TEMPLATES = ["What did the president say about {}?", "plans for {}", "{} and the economy",
             "how should Congress deal with {}", "progress on {} this year", "the cost of {}",
             "a new law on {}", "why {} matters to the nation", "{} in the coming years", "problems with {}",
             "money spent on {}", "the people's concern about {}"]


SETTINGS = ["", " in wartime", " after the war", " in hard times", " in the last century", " for the next generation",
            " in the western states", " for working families", " according to the administration", " since independence"]


def questions(seed: int = 7, phrase_share: float = 0.2) -> list[str]:
    """6,000 distinct questions (50 topics × 12 templates × 10 settings), shuffled: a 30 s cell at 150
    requests/s asks each at most once, so the per-worker question cache does not flatter the figures.
    `phrase_share` of them carry the syntax users type: the topic as a "quoted phrase" (which often
    occurs twice in a hit: issue 23) and, for some, an -exclusion."""
    rng = random.Random(seed)
    qs = []
    for topic in TOPICS:
        for t in TEMPLATES:
            for setting in SETTINGS:
                if rng.random() < phrase_share:
                    q = t.format(f'"{topic.removeprefix("the ")}"') + setting
                    qs.append(q + (" -" + rng.choice(["Spain", "tariffs", '"the war"']) if rng.random() < 0.3 else ""))
                else:
                    qs.append(t.format(topic) + setting)
    rng.shuffle(qs)
    return qs


def start_server(index: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STATEMENT_SEARCH_THREADS": str(threads),
           "STATEMENT_SEARCH_RELOAD_INTERVAL": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "web", "serve", "--index", str(index), "--host", "127.0.0.1",
                             "--port", "0", "--workers", str(workers)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)/", line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # drain
            return proc, int(match.group(1))
        if time.monotonic() > deadline:
            break
    stop_server(proc)
    raise SystemExit("the server did not start")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def memory_mb(pid: int) -> dict[str, float]:
    """Resident (RSS), peak resident (HWM) and proportional (PSS: shared pages split) memory in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


class Client:
    """One client's HTTP connection: a new one per request, or (`keep_alive`) one held across requests as a
    proxy's upstream keepalive pool holds it (docs/deploy.md), opened again when the server closes it."""

    def __init__(self, port: int, keep_alive: bool):
        self.port, self.keep_alive = port, keep_alive
        self.conn: http.client.HTTPConnection | None = None

    def fetch(self, question: str, k: int) -> tuple[int, float]:
        began = time.perf_counter()
        path = "/api/search?" + urllib.parse.urlencode({"q": question, "k": k})
        status = 0
        for _attempt in range(2 if self.keep_alive else 1):  # a held connection the server closed: once more
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                self.close()
                status = 0
                continue
            if not self.keep_alive or response.will_close:
                self.close()
            break
        return status, (time.perf_counter() - began) * 1000

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_probe(server: int):
    """A function giving (the server's CPU seconds: master and workers, the clients' CPU seconds) so far."""
    def probe() -> tuple[float, float]:
        times = os.times()
        return sum(cpu_seconds(p) for p in [server, *children(server)]), times.user + times.system
    return probe


def run_cell(port: int, clients: int, warmup: float, duration: float, k: int, pool, keep_alive: bool = False,
             probe=None) -> dict:
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter[int] = Counter()  # status (0: no answer) → count
    measuring = threading.Event()
    stop = threading.Event()

    def client() -> None:
        connection = Client(port, keep_alive)
        while not stop.is_set():
            with lock:
                question = next(pool)
            status, ms = connection.fetch(question, k)
            if measuring.is_set() and not stop.is_set():
                with lock:
                    if status == 200:
                        latencies.append(ms)
                    else:
                        errors[status] += 1
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    measuring.set()
    began = time.perf_counter()
    cpu_began = probe() if probe else (0.0, 0.0)
    time.sleep(duration)
    stop.set()
    elapsed = time.perf_counter() - began
    cpu_ended = probe() if probe else (0.0, 0.0)
    for t in threads:
        t.join(timeout=120)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] if latencies else 0.0

    return {"clients": clients, "requests": len(latencies), "errors": sum(errors.values()),
            "errors_by_status": dict(sorted(errors.items())),
            "req_s": round(len(latencies) / elapsed, 2), "p50_ms": round(pct(50), 1), "p99_ms": round(pct(99), 1),
            # CPU per answered request in the window: where the two cores went (server vs these clients)
            "server_cpu_ms": round((cpu_ended[0] - cpu_began[0]) * 1000 / max(len(latencies), 1), 2),
            "client_cpu_ms": round((cpu_ended[1] - cpu_began[1]) * 1000 / max(len(latencies), 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=SOTU_INDEX)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrent client counts")
    parser.add_argument("--threads", type=int, default=1, help="torch/FAISS threads per worker")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each cell")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--keep-alive", action="store_true",
                        help="each client holds one HTTP/1.1 connection (as a proxy's keepalive pool does) "
                             "instead of opening one per request")
    parser.add_argument("--phrase-share", type=float, default=0.2,
                        help='share of questions with a "quoted phrase" (and some with an -exclusion)')
    args = parser.parse_args()
    if not (args.index / "manifest.json").exists():
        raise SystemExit(f"no index at {args.index}; build it with statement-search rebuild-index")

    pool = itertools.cycle(questions(phrase_share=args.phrase_share))
    rows = []
    for workers in [int(x) for x in args.workers.split(",")]:
        proc, port = start_server(args.index, workers, args.threads)
        try:
            for clients in [int(x) for x in args.clients.split(",")]:
                row = {"workers": workers, **run_cell(port, clients, args.warmup, args.duration, args.k, pool,
                                                                  args.keep_alive, cpu_probe(proc.pid))}
                mem = [memory_mb(pid) for pid in children(proc.pid)]  # workers start after "serving"
                row["worker_rss_mb"] = round(max(m.get("VmRSS", 0) for m in mem), 0)
                row["worker_pss_mb"] = round(max(m.get("Pss", 0) for m in mem), 0)
                rows.append(row)
                print(row, flush=True)
            master = memory_mb(proc.pid)
            rows[-1]["master_rss_mb"] = round(master.get("VmRSS", 0), 0)
        finally:
            stop_server(proc)
    meta = header("serve: /api/search under concurrent clients")
    report("load", meta, rows, ["workers", "clients", "req_s", "p50_ms", "p99_ms", "requests", "errors",
                                "errors_by_status", "server_cpu_ms", "client_cpu_ms", "worker_rss_mb", "worker_pss_mb"],
           extra={"index": str(args.index), "duration_s": args.duration, "warmup_s": args.warmup, "k": args.k,
                  "threads_per_worker": args.threads, "phrase_share": args.phrase_share,
                  "keep_alive": args.keep_alive,
                  "command": " ".join(sys.argv)})
    failed = {status: n for row in rows for status, n in row["errors_by_status"].items() if status >= 500 or status == 0}
    if failed:  # a server error under load is a defect, not a figure
        raise SystemExit(f"FAILED: {sum(failed.values())} requests answered 5xx or not at all: {failed}")


if __name__ == "__main__":
    main()
