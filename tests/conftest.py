"""Shared fixtures: a throwaway brief project with real image assets, and helpers that run the
front end the way the CLI does."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# The suite runs on two shared cores. OpenMP pools (torch's, OpenBLAS's) that spin-wait against each
# other or a second process made the diffusers tests 5-10x slower; the tiny test models gain nothing
# from threads. Set before anything imports torch; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The per-user caches (the parsed grammar, model-file hashes, images checked clean) go to a folder of
# this run's, not the user's ~/.cache; subprocesses inherit it.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="brief-tests-cache-")

import pytest
from PIL import Image

from brief.lang.check import check_program, diagnose
from brief.lang.compile import compile_program
from brief.lang.load import load

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
ACME = """brand acme {
  color ink   #1A1A1A
  color cream #F5E6CC
  color red   #C8102E
  logo "../assets/logo.png"
  clearspace 0.5
  safezone 4%
}
"""


GROUP_LOST = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` (make test) the tests of one xdist_group must share a worker: Ray's
    (one per machine) and npm's (one node_modules). pytest-xdist marks them by suffixing the node id
    with "@group"; where a pytest release drops that suffix the grouping is silently gone, and those
    tests fail at set-up instead of racing each other."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            item.stash[GROUP_LOST] = (
                "--dist loadgroup does not keep this test's xdist_group on one worker with this pytest and "
                "pytest-xdist (pytest-dev/pytest-xdist#1386): install with constraints.txt (make test does)")


def pytest_runtest_setup(item):
    if GROUP_LOST in item.stash:
        pytest.fail(item.stash[GROUP_LOST], pytrace=False)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.graph.txt")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


FONTS = Path(__file__).parent / "fonts"


class Project:
    """A folder with brief.toml, assets/ (product.png, logo.png, mask.png) and brands/acme.brief."""

    def __init__(self, root: Path):
        self.root = root
        (root / "brief.toml").write_text("")
        (root / "assets").mkdir()
        (root / "brands").mkdir()
        Image.new("RGBA", (64, 48), (200, 16, 46, 255)).save(root / "assets" / "product.png")
        Image.new("RGBA", (40, 20), (26, 26, 26, 255)).save(root / "assets" / "logo.png")
        Image.new("L", (100, 100), 255).save(root / "assets" / "mask.png")
        (root / "assets" / "notes.txt").write_text("not an image")
        (root / "brands" / "acme.brief").write_text(ACME)
        (root / "fonts").mkdir()
        shutil.copyfile(FONTS / "LiberationSans-Bold.ttf", root / "fonts" / "Display-Bold.ttf")

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def load(self, rel: str = "main.brief", text: str | None = None, **kw):
        if text is not None:
            self.write(rel, text)
        return load(self.root / rel, **kw)

    def diagnostics(self, text: str, rel: str = "main.brief", **kw):
        return diagnose(self.load(rel, text, **kw))

    def compile(self, text: str, rel: str = "main.brief", **kw):
        program = self.load(rel, text, **kw)
        check_program(program)
        return compile_program(program)


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def examples_copy(tmp_path) -> Path:
    """A copy of examples/ (its own project: it holds brief.toml)."""
    dest = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dest)
    return dest


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


# The diffusers tests' session model and warm build, shared by their modules (tests/diffusers_project.py).
import importlib.util  # noqa: E402

if importlib.util.find_spec("diffusers") is not None:  # without the extra those tests skip: nothing to share
    from diffusers_project import dproject, tiny_model, warm  # noqa: E402, F401
if importlib.util.find_spec("s3fs") is not None:  # the remote cache tier's tests: a real S3 server (SeaweedFS)
    from seaweed import s3, seaweed  # noqa: E402, F401
