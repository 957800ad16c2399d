#!/usr/bin/env bash
# Run deploy/nginx.conf in front of two `statement-search serve` instances on 127.0.0.1, all on one
# index directory: `nginx -t`, a stream of searches through nginx, one instance stopped in the middle of
# it (nginx must send its share to the other), then everything stopped. Prints what each request got.
# The rate limit is raised for the run: its one client asks as fast as it can (at 20/s it gets 429s).
#
#   deploy/try-nginx.sh INDEX [REQUESTS]      (PYTHON=.venv/bin/python by default; needs nginx on PATH)
set -euo pipefail
index=$(realpath "$1"); requests=${2:-300}
here=$(cd "$(dirname "$0")/.." && pwd); python=${PYTHON:-$here/.venv/bin/python}
work=$(mktemp -d /tmp/try-nginx-XXXXXX)
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
p1=$(free_port); p2=$(free_port); front=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for port in "$p1" "$p2"; do
  STATEMENT_SEARCH_THREADS=1 "$python" -m web serve --index "$index" --host 127.0.0.1 --port "$port" \
    --workers 1 > "$work/serve-$port.log" 2>&1 &
  pids+=($!)
done
# the repository's config with this run's ports, inside a minimal main config
sed -e "s/127.0.0.1:8001/127.0.0.1:$p1/; s/127.0.0.1:8002/127.0.0.1:$p2/; s/listen 80;/listen 127.0.0.1:$front;/" \
  -e "s/rate=20r\/s/rate=10000r\/s/" "$here/deploy/nginx.conf" > "$work/statement-search.conf"  # one fast client here
cat > "$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 256; }
http {
  access_log $work/access.log;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy; fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  include $work/statement-search.conf;
}
CONF
nginx -t -c "$work/nginx.conf" -p "$work"
for port in "$p1" "$p2"; do  # ready: /api/health answers 200 with status ok
  for _ in $(seq 240); do curl -sf "http://127.0.0.1:$port/api/health" > /dev/null && break; sleep 1; done
done
nginx -c "$work/nginx.conf" -p "$work"
"$python" - "$front" "$requests" "${pids[0]}" <<'PY'
import collections, json, os, signal, sys, time, urllib.error, urllib.parse, urllib.request
front, n, victim = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
questions = ["privacy and security", "freedom of speech", "taxes and the economy", "war and peace"]
got, latencies = collections.Counter(), []
for i in range(n):
    if i == n // 2:
        os.kill(victim, signal.SIGTERM)  # instance 1 goes away mid-stream (graceful stop)
        print(f"request {i}: stopped instance 1 (pid {victim})", flush=True)
    url = f"http://127.0.0.1:{front}/api/search?" + urllib.parse.urlencode({"q": questions[i % 4], "k": 5})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r); got[r.status] += 1
    except urllib.error.HTTPError as e:
        got[e.code] += 1
    except OSError as e:
        got[type(e).__name__] += 1
    latencies.append((time.perf_counter() - began) * 1000)
latencies.sort()
health = urllib.request.urlopen(f"http://127.0.0.1:{front}/api/health", timeout=10).status
print(f"{n} searches through nginx: {dict(got)}; p50 {latencies[n // 2]:.1f} ms, "
      f"max {latencies[-1]:.1f} ms; /api/health after the stop: {health}")
sys.exit(0 if set(got) == {200} else 1)
PY
