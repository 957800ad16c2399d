"""A wheel (not an editable install) works from another folder and writes nothing into site-packages."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import SEED_CORPUS
from test_serve import fetch, running_server

pytestmark = [pytest.mark.wheel, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Why was Telegram banned in Russia?"


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def test_wheel_install_runs_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the installed wheel, not a source tree on the path
    # the checkout's ONNX export (made once by the ONNX tests), not a second export in the work folder
    monkeypatch.setenv("STATEMENT_SEARCH_ONNX_CACHE", str(ROOT / "state" / "onnx"))
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("index", "search", "web"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("statement_search-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies (torch, faiss, ...) come from the test environment; our packages only from the wheel.
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run([str(python), "-c", "import web, search, index; print(web.__file__)"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert where.startswith(str(site)), where

    before = files_under(site)
    work = tmp_path / "work"
    work.mkdir()
    cli = str(venv / "bin" / "statement-search")
    env = dict(os.environ)
    built = subprocess.run([cli, "rebuild-index", "--corpus", str(SEED_CORPUS), "--quiet"], cwd=work, env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert (work / "state" / "index" / "manifest.json").is_file()  # the default index is under the working dir
    answer = subprocess.run([cli, "query", QUESTION, "--k", "3", "--json"], cwd=work, env=env,
                            capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert "encryption keys" in json.loads(answer.stdout)["results"][0]["text"]
    with running_server(work / "state" / "index", workers=1, command=[cli], cwd=work) as url:
        status, body = fetch(url + "api/search?q=" + QUESTION.replace(" ", "+") + "&k=1")
        assert status == 200 and body["results"]
        status, page = fetch(url)
        assert status == 200 and "statement-search" in page  # templates and static files ship in the wheel
    assert files_under(site) == before
