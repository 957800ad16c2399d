"""The layers point one way: index imports neither search nor web; search never imports web."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"index": {"search", "web"}, "search": {"web"}, "web": set()}


def imported_packages(path: Path) -> set[tuple[int, str]]:
    """(line, top-level package) of every import in a module, function-local ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    upward = [f"{m.relative_to(ROOT)}:{line} imports {name}"
              for m in modules for line, name in imported_packages(m) if name in FORBIDDEN[package]]
    assert not upward, "\n".join(upward)


def test_the_walker_sees_function_local_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from web.cli import main\n    import search.settings\n")
    assert {name for _, name in imported_packages(module)} == {"web", "search"}
