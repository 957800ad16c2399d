"""Rebuilds under load with worker kills: how many client requests fail.

    flock /tmp/cpu.lock .venv/bin/python bench/chaos.py [--rebuilds 6] [--kill-every 3] [--clients 3]
        [--proxy nginx] [--instances 1]

Copies a small corpus (default data/statements, the demo) to state/bench/chaos/, builds its index, starts
`statement-search serve` (gunicorn, 2 workers, reload_interval 0.5 s) and runs, all at once:
- `--clients` threads, each sending distinct questions (GET /api/search, hybrid, k=5) one after another,
  a new connection per request, until the rebuilds are done and every worker serves the last generation
  (bounded by --max-requests);
- `--rebuilds` incremental `rebuild-index` runs, each after adding one statement to the corpus copy;
- a `kill -9` of one worker (alternating) every `--kill-every` seconds; gunicorn forks a replacement.

A request fails when it answers anything but 200 or breaks at the connection level (reset, closed
without a response, timeout). A request that breaks at the connection level is tried once more, as a
proxy with `proxy_next_upstream error` would for a GET: the table gives both counts. The descriptors
(and memory maps) of deleted index files held by the master and the workers are counted after each
rebuild, and every process's descriptor count at the start and the end.

`--proxy nginx` puts a real nginx (deploy/nginx.conf with this run's ports, bench/_nginx.py) on
127.0.0.1 in front of `--instances` serve instances (default 1, listed twice in the upstream so that
nginx's `proxy_next_upstream` has a next server: the same gunicorn, where another worker answers);
the clients talk to nginx, the kills alternate over every worker of every instance, and nginx's
access log gives how many requests it retried and what each try got.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from _common import BENCH_STATE, ROOT, header, real_questions, report
from _nginx import DEPLOY_CONF, Nginx


def start_server(index: Path, workers: int) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "STATEMENT_SEARCH_THREADS": "1",
           "STATEMENT_SEARCH_RELOAD_INTERVAL": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "web", "serve", "--index", str(index), "--host", "127.0.0.1",
                             "--port", "0", "--workers", str(workers)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    log: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        log.append(line)
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)/", line)
        if match:
            threading.Thread(target=lambda: [log.append(x) for x in proc.stdout], daemon=True).start()
            proc.log = log  # type: ignore[attr-defined]
            return proc, int(match.group(1))
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("the server did not start:\n" + "".join(log))


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descriptors(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def deleted_files(pid: int, under: Path) -> int:
    """Descriptors and memory maps of `pid` that point at deleted files under `under`."""
    found = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            found += target.startswith(str(under)) and target.endswith("(deleted)")
        with open(f"/proc/{pid}/maps") as maps:
            found += sum(1 for line in maps if str(under) in line and line.rstrip().endswith("(deleted)"))
    except OSError:
        pass
    return found


def rebuild(corpus: Path, index: Path) -> tuple[str, float]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "web", "rebuild-index", "--corpus", str(corpus), "--index",
                           str(index), "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"rebuild-index failed:\n{done.stderr}")
    return re.search(r"generation (\S+)\)", done.stdout).group(1), time.perf_counter() - began


class Clients:
    """Client threads sending distinct questions until stopped; counts outcomes per attempt."""

    def __init__(self, port: int, threads: int, max_requests: int, k: int = 5):
        self.port, self.k, self.max_requests = port, k, max_requests
        self.questions = real_questions()
        self.lock = threading.Lock()
        self.sent = 0
        self.first = Counter()     # outcome of each request's first attempt
        self.final = Counter()     # outcome after one retry of a connection-level failure
        self.generations = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def ask(self, question: str, port: int | None = None) -> tuple[str, str | None]:
        """('200' | 'status NNN' | 'connection: <error>', generation)."""
        import json

        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=30)
        try:
            conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": question, "k": self.k}))
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                return f"status {response.status}", None
            return "200", json.loads(body)["index"]["generation"]
        except (OSError, http.client.HTTPException) as exc:
            return f"connection: {type(exc).__name__}", None
        finally:
            conn.close()

    def run(self, n: int) -> None:
        while not self.stop.is_set():
            with self.lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
                number = self.sent
            question = f"{self.questions[number % len(self.questions)]} ({number})"  # distinct: no cache hits
            first, generation = self.ask(question)
            final = first
            if first.startswith("connection"):
                final, generation = self.ask(question)  # what a proxy retrying on a connection error would see
            with self.lock:
                self.first[first] += 1
                self.final[final] += 1
                if generation:
                    self.generations[generation] += 1


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "statements")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--clients", type=int, default=3, help="client threads")
    parser.add_argument("--rebuilds", type=int, default=6)
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between worker kills")
    parser.add_argument("--max-requests", type=int, default=20000, help="upper bound on requests sent")
    parser.add_argument("--proxy", choices=["none", "nginx"], default="none",
                        help="nginx: the clients go through a real nginx configured from deploy/nginx.conf")
    parser.add_argument("--instances", type=int, default=1, help="serve instances (more than 1 needs --proxy)")
    parser.add_argument("--nginx-conf", type=Path, default=DEPLOY_CONF,
                        help="the upstream/server config to run (default deploy/nginx.conf)")
    args = parser.parse_args()
    if args.instances > 1 and args.proxy == "none":
        parser.error("--instances above 1 needs --proxy nginx (the clients need one address)")

    state = BENCH_STATE / "chaos"
    shutil.rmtree(state, ignore_errors=True)
    corpus, index = state / "corpus", state / "index"
    shutil.copytree(args.corpus, corpus)
    first_generation, _ = rebuild(corpus, index)
    servers: list[subprocess.Popen] = []
    nginx: Nginx | None = None
    proxy_summary: dict = {}
    kills: list[float] = []
    rebuilt: list[dict] = []
    done = threading.Event()
    clients: Clients | None = None
    try:
        ports = []
        for _ in range(args.instances):
            proc, port = start_server(index, args.workers)
            servers.append(proc)
            ports.append(port)
        masters = [proc.pid for proc in servers]
        if args.proxy == "nginx":
            nginx = Nginx(ports, args.nginx_conf)
        clients = Clients(nginx.port if nginx else ports[0], args.clients, args.max_requests)

        def all_workers() -> list[int]:
            return [w for m in masters for w in children(m)]

        def killer() -> None:
            turn = 0
            while not done.wait(args.kill_every):
                workers = all_workers()
                if workers:
                    os.kill(workers[turn % len(workers)], signal.SIGKILL)
                    kills.append(time.monotonic())
                    turn += 1

        time.sleep(2)  # the workers fork after the "serving" line
        fds_start = {"masters": [descriptors(m) for m in masters], "workers": [descriptors(p) for p in all_workers()]}
        began = time.monotonic()
        clients.start()
        kill_thread = threading.Thread(target=killer, daemon=True)
        kill_thread.start()
        latest = first_generation
        for n in range(args.rebuilds):
            (corpus / f"chaos-{n}.txt").write_text(
                f"Title: Harbour notice {n}\nSpeaker: Harbour master\nDate: 2025-01-{n + 1:02d}\n\n"
                f"Notice number {n}: the ferry timetable changes and the pier {n} is closed for repairs.\n")
            latest, seconds = rebuild(corpus, index)
            time.sleep(1.5)  # the master's loop and the workers' reload checks run
            rebuilt.append({"generation": latest, "seconds": round(seconds, 2),
                            "master_deleted": [deleted_files(m, state) for m in masters],
                            "master_fds": [descriptors(m) for m in masters]})
        done.set()
        kill_thread.join()
        # Let every worker pick up the last generation (reload_interval 0.5 s), then stop the clients.
        settle = time.monotonic() + 30
        while time.monotonic() < settle and clients.generations.get(latest, 0) < 20 * args.instances:
            time.sleep(0.5)
        time.sleep(2)
        clients.join()
        elapsed = time.monotonic() - began
        time.sleep(31)  # replaced generations are closed retire_after (30 s) after the swap, on a request
        for port in ports:  # straight to each instance, a new connection each (nginx would reuse a few)
            for _ in range(4 * args.workers):
                clients.ask("closing check", port)
        time.sleep(1)
        workers_end = all_workers()
        fds_end = {"masters": [descriptors(m) for m in masters], "workers": [descriptors(p) for p in workers_end]}
        deleted_end = {"masters": [deleted_files(m, state) for m in masters],
                       "workers": [deleted_files(p, state) for p in workers_end]}
    finally:
        done.set()
        if clients:
            clients.stop.set()
        if nginx:
            proxy_summary = nginx.stop()
        for proc in servers:
            stop_server(proc)
    tracebacks = sum("Traceback" in line for proc in servers for line in getattr(proc, "log", []))
    requests = sum(clients.first.values())
    failed_first = requests - clients.first.get("200", 0)
    failed_final = requests - clients.final.get("200", 0)
    row = {"proxy": args.proxy, "instances": args.instances, "workers": args.workers, "clients": args.clients,
           "seconds": round(elapsed, 1), "requests": requests, "failed": failed_first,
           "failed_after_retry": failed_final, "retried_by_nginx": proxy_summary.get("retried_then_200", ""),
           "rebuilds": len(rebuilt), "kills": len(kills), "generations_seen": len(clients.generations),
           "last_generation_served": clients.generations.get(latest, 0) > 0, "tracebacks": tracebacks}
    report("chaos", header("rebuilds under load with worker kills"), [row],
           ["proxy", "instances", "workers", "clients", "seconds", "requests", "failed", "failed_after_retry",
            "retried_by_nginx", "rebuilds", "kills", "generations_seen", "last_generation_served", "tracebacks"],
           extra={"outcomes_first_attempt": dict(clients.first), "outcomes_after_retry": dict(clients.final),
                  "nginx": proxy_summary, "rebuilt": rebuilt, "descriptors_start": fds_start,
                  "descriptors_end": fds_end, "deleted_files_end": deleted_end, "command": " ".join(sys.argv)})
    print("first attempts:", dict(clients.first), "| after one retry:", dict(clients.final))
    if proxy_summary:
        print("nginx:", proxy_summary)
    print("masters' deleted-file fds+maps after each rebuild:", [r["master_deleted"] for r in rebuilt],
          "| masters' fds:", [r["master_fds"] for r in rebuilt])
    print("descriptors start:", fds_start, "end:", fds_end, "| deleted files held at the end:", deleted_end)


if __name__ == "__main__":
    main()
