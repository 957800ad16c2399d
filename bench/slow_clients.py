"""Hold N slow connections open against a running server and measure /api/health meanwhile.

    python bench/slow_clients.py http://127.0.0.1:8000/ --connections 200 --seconds 30

Three kinds of slow client, in equal numbers: idle (connects, sends nothing), trickle (sends a
request's headers one byte a second), short body (a POST whose body is shorter than its
Content-Length). Prints how many slow sockets were open, health latency p50/p99/max and failures.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HEADERS = b"GET /api/health HTTP/1.1\r\nHost: bench\r\nUser-Agent: slow-client-bench\r\nAccept: */*\r\n\r\n"
SHORT_BODY = (b"POST /api/search HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{\"q\": \"tax")


def slow_client(host: str, port: int, kind: str, stop: threading.Event, open_now: list[int]) -> None:
    """Keep one slow connection open (reconnecting when the server closes it) until `stop`."""
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError:
            time.sleep(0.2)
            continue
        open_now[0] += 1
        try:
            if kind == "short_body":
                sock.sendall(SHORT_BODY)
            position = 0
            while not stop.is_set():
                if kind == "trickle":
                    sock.sendall(HEADERS[position % (len(HEADERS) - 4): position % (len(HEADERS) - 4) + 1])
                    position += 1
                sock.settimeout(1.0)
                try:
                    if sock.recv(1) == b"":
                        break  # the server closed it: open another
                except socket.timeout:
                    pass
        except OSError:
            pass
        finally:
            open_now[0] -= 1
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    parts = urllib.parse.urlsplit(args.url)
    stop, open_now = threading.Event(), [0]
    kinds = ("idle", "trickle", "short_body")
    threads = [threading.Thread(target=slow_client, args=(parts.hostname, parts.port, kinds[i % 3], stop, open_now),
                                daemon=True) for i in range(args.connections)]
    for t in threads:
        t.start()
    time.sleep(2)
    latencies, failures, most_open = [], 0, 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        most_open = max(most_open, open_now[0])
        start = time.monotonic()
        try:
            with urllib.request.urlopen(args.url + "api/health", timeout=10) as r:
                ok = r.status == 200
        except (urllib.error.URLError, OSError):
            ok = False
        latencies.append(time.monotonic() - start)
        failures += not ok
        time.sleep(0.1)
    stop.set()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"slow connections open (most): {most_open} of {args.connections}; health checks: {len(latencies)}, "
          f"failed: {failures}; latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
