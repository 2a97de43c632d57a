"""The code lints clean (DESIGN house style 14): ruff with the rules pyproject.toml selects, over the
whole repository, and mypy over `lang/` (the pure front end), as `make lint` and CI run them; so a
lint or type error fails the suite too, not only CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (make test installs it)")
    return found


def test_ruff_finds_nothing():
    res = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_uses_the_projects_rules():
    """The configuration is the one in pyproject.toml, with more than pyflakes in it."""
    res = subprocess.run([_tool("ruff"), "check", "--show-settings", "lang/ast.py"], cwd=REPO, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert str(REPO / "pyproject.toml") in res.stdout
    for rule in ("line-too-long (E501)", "unsorted-imports (I001)", "function-uses-loop-variable (B023)",
                 "non-pep604-annotation-union (UP007)"):
        assert rule in res.stdout, rule


def test_mypy_finds_nothing_in_lang(tmp_path):
    _tool("mypy")
    res = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no issues found" in res.stdout and "source files" in res.stdout
