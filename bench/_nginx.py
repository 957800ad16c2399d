"""A real nginx in front of `serve` instances for the bench scripts: deploy/nginx.conf with this run's ports.

The repository's config is used as it ships (upstream parameters, timeouts, buffering, keepalive,
`proxy_next_upstream`), with three substitutions, as deploy/try-nginx.sh makes them: the upstream's
`server` lines become this run's instances, once per kind of line (the primary lines and the backup
lines; a single instance is listed twice among the primaries, as docs/deploy.md says, so that a retry
has a next server to go to: the same gunicorn, where another worker answers), `listen 80`
becomes a free loopback port, and the rate limit is raised (every bench client has the same address,
so the shipped 20 requests/s would answer 429 to the load itself). nginx runs in the foreground
(`daemon off`) as a child of the bench, and its access log records, per request, every upstream tried.
"""
from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import ROOT

DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
SERVER_LINE = re.compile(r"^([ \t]*)server 127\.0\.0\.1:\d+([^;\n]*);([^\n]*)\n", re.M)
ACCESS_FORMAT = '$status "$upstream_addr" "$upstream_status" $request_time "$request"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upstream_addresses(ports: list[int]) -> list[str]:
    """One entry per instance; a single instance twice (a retry needs a next server in the group)."""
    addresses = [f"127.0.0.1:{p}" for p in ports]
    return addresses * 2 if len(addresses) == 1 else addresses


def render(ports: list[int], listen: int, rate: str = "10000r/s", conf: Path = DEPLOY_CONF) -> str:
    """`conf` (deploy/nginx.conf) with `ports` as its upstream servers, listening on 127.0.0.1:`listen`."""
    text = conf.read_text()
    lines = list(SERVER_LINE.finditer(text))
    if not lines:
        raise SystemExit(f"no 'server 127.0.0.1:PORT ...;' line in {conf}")
    groups: dict[str, str] = {}  # the shipped parameters of each kind of line (primary, backup) -> indent
    for line in lines:
        groups.setdefault(line.group(2), line.group(1))
    servers = "".join(f"{indent}server {address}{params};\n" for params, indent in groups.items()
                      for address in (upstream_addresses(ports) if "backup" not in params else
                                      [f"127.0.0.1:{p}" for p in ports]))
    text = text[:lines[0].start()] + servers + text[lines[-1].end():]
    text, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
    text, rates = re.subn(r"rate=\d+r/s", f"rate={rate}", text)
    if listens != 1 or rates != 1:
        raise SystemExit(f"{conf}: expected one 'listen 80;' and one 'rate=NNr/s'")
    return text


class Nginx:
    """nginx on 127.0.0.1:`port` in front of the instances on `ports`; `stop()` ends it and reads its log."""

    def __init__(self, ports: list[int], conf: Path = DEPLOY_CONF):
        if not shutil.which("nginx"):
            raise SystemExit("--proxy nginx needs nginx on PATH (Debian: apt-get install nginx-light)")
        self.work = Path(tempfile.mkdtemp(prefix="chaos-nginx-"))
        self.port = free_port()
        (self.work / "statement-search.conf").write_text(render(ports, self.port, conf=conf))
        w = self.work
        (w / "nginx.conf").write_text(
            f"daemon off;\npid {w}/nginx.pid;\nerror_log {w}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"  log_format upstreams '{ACCESS_FORMAT}';\n"
            f"  access_log {w}/access.log upstreams;\n"
            f"  client_body_temp_path {w}/body; proxy_temp_path {w}/proxy; fastcgi_temp_path {w}/fastcgi;\n"
            f"  uwsgi_temp_path {w}/uwsgi; scgi_temp_path {w}/scgi;\n"
            f"  include {w}/statement-search.conf;\n"
            "}\n")
        command = ["nginx", "-c", str(w / "nginx.conf"), "-p", str(w)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise SystemExit(f"nginx -t refused the config:\n{checked.stderr}")
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise SystemExit("nginx did not start: " + (w / "error.log").read_text(errors="replace")[-2000:])

    def stop(self) -> dict:
        """Stop nginx (graceful, then forced), summarise its logs and remove its folder."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        summary = self.summary()
        shutil.rmtree(self.work, ignore_errors=True)
        return summary

    def summary(self) -> dict:
        """Per request: its status, how many upstream tries it took; the error log's kinds of line."""
        statuses, tries, retried_ok = Counter(), Counter(), 0
        line_re = re.compile(r'^(\d{3}) "([^"]*)" "([^"]*)" ')
        access = self.work / "access.log"
        for line in access.read_text(errors="replace").splitlines() if access.exists() else []:
            match = line_re.match(line)
            if not match:
                continue
            n = len([s for s in re.split(r"[,:] ", match.group(3)) if s and s != "-"])
            statuses[match.group(1)] += 1
            tries[n] += 1
            retried_ok += n > 1 and match.group(1) == "200"
        errors = Counter()
        log = self.work / "error.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            match = re.search(r"\[(\w+)\] \d+#\d+: \*?\d* ?(.*?)(?: while |, client:|$)", line)
            if match:
                errors[f"{match.group(1)}: {re.sub(r'[0-9]+', 'N', match.group(2))[:90]}"] += 1
        return {"statuses": dict(statuses), "upstream_tries": {str(k): v for k, v in sorted(tries.items())},
                "retried_then_200": retried_ok, "error_log": dict(errors.most_common(12))}
