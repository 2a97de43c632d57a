"""The diffusers tests' shared project: a tiny random SD 1.x model made once per session, the
brief every op runs in, and a project holding a copy of that brief's warm build (fixtures, made
available to every test module by tests/conftest.py)."""

from __future__ import annotations

import shutil
import sys
from types import SimpleNamespace

import pytest

from brief.runtime.backends import diffusers_model
from brief.runtime.build import Options, build_file
from conftest import REPO, Project

sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_pipeline  # noqa: E402

BRIEF = '''use "brands/acme.brief"
brief d {
  canvas 128 x 96
  seed 3
  backend diffusers "model"
  steps 3
  brand acme
  component sky {
    prompt "blue sky clouds"
  }
  component kite {
    prompt "a red kite"
    region box 55% 5% 95% 45%
    z 2
  }
  component bird {
    prompt "green"
    region box 2% 2% 25% 30%
    context none
    z 3
  }
  component product {
    asset "assets/product.png"
    region box 30% 55% 60% 95%
    z 4
  }
  edit fix {
    inpaint box 2% 60% 25% 95%
    prompt "grass"
  }
  edit tidy {
    remove box 70% 70% 90% 95%
  }
  edit tone {
    recolor product to red
  }
  edit seam {
    harmonize product band 4px
  }
  output wide 160 x 96 outpaint
  output small 64 x 64 crop
}
'''


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return make_tiny_pipeline.build(tmp_path_factory.mktemp("tiny") / "model")


def _new_project(root, tiny_model) -> Project:
    project = Project(root)
    shutil.copytree(tiny_model, project.root / "model")
    project.write("d.brief", BRIEF)
    return project


@pytest.fixture(scope="session")
def warm(tiny_model, tmp_path_factory):
    """BRIEF built once from an empty cache: (its project, what the build returned). Read only."""
    project = _new_project(tmp_path_factory.mktemp("warm"), tiny_model)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
        built = dbuild(project)
    return SimpleNamespace(project=project, built=built)


@pytest.fixture
def dproject(tmp_path, tiny_model, warm, monkeypatch, tmp_path_factory):
    """A project of its own (model files, hash memo) holding a copy of the warm build: its first
    `dbuild` renders nothing, as the second build of a project would."""
    project = _new_project(tmp_path, tiny_model)
    monkeypatch.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
    shutil.copytree(warm.project.root / "cache", project.root / "cache")
    shutil.copytree(warm.project.root / "out", project.root / "out")
    shutil.copy2(warm.project.root / "brief.lock", project.root / "brief.lock")
    return project


def dbuild(project, text=None, cache="cache", out="out", **kw):
    if text is not None:
        project.write("d.brief", text)
    return build_file(project.root / "d.brief", Options(cache=project.root / cache, out=project.root / out, **kw))
