"""deploy/nginx.conf: nginx accepts it, and every instance is also a backup that is never taken out."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "deploy" / "nginx.conf"


def test_every_instance_has_a_never_failing_backup_line():
    # Without them, worker kills on every instance take all of them out and nginx answers 502
    # "no live upstreams" (bench/chaos.py --proxy nginx, docs/reliability.md).
    servers = re.findall(r"^\s*server (\S+)([^;\n]*);", CONF.read_text(), re.M)
    primary = [address for address, params in servers if "backup" not in params]
    backup = [address for address, params in servers if "backup" in params and "max_fails=0" in params]
    assert primary and sorted(set(primary)) == sorted(backup)


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")
def test_nginx_accepts_the_config_as_the_bench_renders_it(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from _nginx import render  # bench/_nginx.py: the config the chaos bench runs

    text = render([18001], 18080)
    assert text.count("server 127.0.0.1:18001 max_fails=2") == 2  # one instance: listed twice
    assert text.count("server 127.0.0.1:18001 backup max_fails=0") == 1
    (tmp_path / "site.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ access_log off; proxy_temp_path {tmp_path}/proxy; client_body_temp_path {tmp_path}/body;\n"
        f"  fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;\n"
        f"  include {tmp_path}/site.conf; }}\n")
    done = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
