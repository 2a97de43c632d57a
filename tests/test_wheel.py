"""Packaging: the built wheel carries the grammar and works in a fresh virtual environment that
holds the wheel and only what it declares it needs.

The fresh environment gets the wheel's dependencies (and theirs) from the installed packages of
the environment running the tests, linked in, never from the network: pip installing numpy,
OpenCV and the rest again cost ~20 s and a network; what the test asks is the same: does the
wheel, with what it declares and nothing else, run `brief check`?"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from conftest import EXAMPLES, REPO


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def declared_closure(requires: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions that `requires` (Requires-Dist lines) needs, transitively,
    without extras; by normalised name."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(requires)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if _name(req.name) in found:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"the wheel needs {req.name}, which the test environment lacks")
        found[_name(req.name)] = dist
        todo.extend(dist.requires or [])
    return found


def link_site(dists: dict[str, metadata.Distribution], dest: Path) -> None:
    """A folder holding (as links) the top-level files of each distribution: a site dir with those
    packages and nothing else."""
    dest.mkdir()
    for name, dist in dists.items():
        if dist.files is None:
            pytest.fail(f"{name} was installed without a RECORD: its files are unknown")
        for part in {f.parts[0] for f in dist.files}:
            if part in ("..", "__pycache__") or part.endswith(".pth"):
                continue
            source = Path(dist.locate_file(part))
            if source.exists() and not (dest / part).exists():
                (dest / part).symlink_to(source)


@pytest.mark.slow
def test_wheel_installs_into_fresh_venv_and_checks_an_example(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(REPO)], check=True, capture_output=True)
    (wheel,) = dist.glob("brieflang-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert "brief/grammar.lark" in names and "brief/lang/parser.py" in names and "brief/cli.py" in names
    assert not [n for n in names if n.startswith(("brief/tests/", "brief/examples/", "brief/bench/"))]
    (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = Parser().parsestr(archive.read(meta).decode()).get_all("Requires-Dist") or []
    assert {"lark", "numpy", "pillow"} <= {_name(Requirement(r).name) for r in requires}

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(bindir / "python"), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True)
    deps = tmp_path / "deps"
    link_site(declared_closure(requires), deps)
    fresh_site = subprocess.run([str(bindir / "python"), "-c",
                                 "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    assert fresh_site != sysconfig.get_paths()["purelib"]
    (Path(fresh_site) / "declared-deps.pth").write_text(f"{deps}\n")

    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work, ignore=shutil.ignore_patterns(".brief", "out"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    res = subprocess.run([str(bindir / "brief"), "check", "campaign/runner.brief"], cwd=work,
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert "All checks passed" in res.stdout
    where = subprocess.run([str(bindir / "python"), "-c", "import brief, os; print(os.path.dirname(brief.__file__))"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert where.stdout.strip().startswith(str(env_dir)), "the fresh venv must use the installed wheel"
