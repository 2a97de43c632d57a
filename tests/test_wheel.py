"""Packaging: the built wheel carries the grammar and works in a fresh virtual environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile

import pytest

from conftest import EXAMPLES, REPO


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv_and_checks_an_example(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(REPO)], check=True, capture_output=True)
    (wheel,) = dist.glob("brieflang-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "brief/grammar.lark" in names and "brief/lang/parser.py" in names and "brief/cli.py" in names
    assert not [n for n in names if n.startswith(("brief/tests/", "brief/examples/", "brief/bench/"))]

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True)
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    res = subprocess.run([str(bindir / "brief"), "check", "campaign/runner.brief"], cwd=work,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert res.returncode == 0, res.stderr
    assert "All checks passed" in res.stdout
    where = subprocess.run([str(bindir / "python"), "-c", "import brief, os; print(os.path.dirname(brief.__file__))"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(env_dir)), "the fresh venv must use the installed wheel"
