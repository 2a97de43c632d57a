"""The code lints clean (DESIGN house style 14): ruff's pyflakes and syntax rules over the whole
repository, so an undefined name or an unused import never lands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (make test installs it)")
    res = subprocess.run([ruff, "check", "--select", "F,E9", "--exclude", ".venv,build", "."], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
