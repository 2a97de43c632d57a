"""Start-up: each command imports only what it uses (checked in a fresh process, as a user runs it),
library versions come from metadata, and the diffusers device is found without torch yet keyed
honestly. The timings themselves are bench/startup.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brief.runtime.backends import diffusers_device, draft
from brief.runtime.build import Options, build_file
from brief.runtime.context import OpError
from brief.runtime.store.memo import save_memo
from conftest import EXAMPLES, REPO

# What start-up must not pay for: a graph library, the JSON document's models, imaging, terminal
# tables, models, file watching, a cluster.
HEAVY = {"networkx", "pydantic", "numpy", "PIL", "cv2", "scipy", "skimage", "rich", "torch", "diffusers",
         "transformers", "watchdog", "ray"}
RENDERING = {"cv2", "scipy", "skimage", "torch", "diffusers", "transformers", "pydantic", "watchdog", "ray"}

CHILD = r"""
import json, sys
record, argv = sys.argv[1], sys.argv[2:]
from brief.cli import main
try:
    code = main(argv)
except SystemExit as exc:
    code = exc.code
with open(record, "w") as fh:
    json.dump({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}, fh)
"""

TEXT_ONLY = """brief plain {
  canvas 64 x 48
  component sky {
    prompt "blue"
    region full
  }
}
"""


def imports_of(tmp_path: Path, *argv: str, cwd: Path | None = None, env: dict | None = None) -> tuple[int, set[str]]:
    """(exit code, top-level modules imported) of `brief ARGV` run in a fresh interpreter."""
    record = tmp_path / "modules.json"
    record.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", CHILD, str(record), *argv], cwd=cwd or REPO,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert record.exists(), done.stderr
    found = json.loads(record.read_text())
    return found["code"], set(found["modules"])


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("check", "{plain}"),
    ("fmt", "--stdout", "{example}"),
    ("fmt", "--textconv", "{example}"),
    ("fmt", "--check", "{plain}"),
], ids=lambda a: " ".join(a))
def test_light_commands_import_no_heavy_library(tmp_path, argv):
    plain = tmp_path / "plain.brief"
    plain.write_text(TEXT_ONLY)
    args = [a.format(plain=plain, example=EXAMPLES / "campaign" / "runner.brief") for a in argv]
    code, modules = imports_of(tmp_path, *args)
    assert code in (0, 1)
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_help_loads_no_part_of_the_language(tmp_path):
    code, modules = imports_of(tmp_path, "--help")
    assert code == 0 and "lark" not in modules


def test_check_decodes_images_with_pillow_only(tmp_path):
    """`brief check` still decodes the images a brief names (a truncated asset is reported), with
    Pillow alone: no numpy for 8-bit images, no graph library."""
    code, modules = imports_of(tmp_path, "check", str(EXAMPLES / "campaign" / "runner.brief"),
                               env={"XDG_CACHE_HOME": str(tmp_path / "fresh")})  # nothing decoded before
    assert code == 0
    assert "PIL" in modules and not modules & (HEAVY - {"PIL"}), sorted(modules & HEAVY)


def test_check_decodes_an_unchanged_image_once(tmp_path, examples_copy):
    """A second `brief check` of unchanged files imports no image library (the user's memo of
    clean decodes); an image damaged since is decoded again and reported."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    brief = str(examples_copy / "campaign" / "runner.brief")
    code, first = imports_of(tmp_path, "check", brief, env=env)
    assert code == 0 and "PIL" in first
    code, second = imports_of(tmp_path, "check", brief, env=env)
    assert code == 0 and "PIL" not in second
    asset = examples_copy / "assets" / "runner.png"
    asset.write_bytes(asset.read_bytes()[:2000])  # truncated in place
    done = subprocess.run([sys.executable, "-m", "brief.cli", "check", brief], capture_output=True, text=True,
                          env={**os.environ, **env})
    assert done.returncode == 1 and "E362" in done.stderr and "runner.png" in done.stderr


def test_noop_build_and_plan_import_no_rendering_library(examples_copy, tmp_path):
    brief = examples_copy / "campaign" / "runner.brief"
    build_file(brief, Options())
    code, modules = imports_of(tmp_path, "build", "-q", str(brief))  # the example's brand checks fail: exit 1
    assert code in (0, 1) and not modules & RENDERING, sorted(modules & RENDERING)
    code, modules = imports_of(tmp_path, "plan", str(brief))
    assert code == 0 and not modules & (RENDERING | {"rich"}), sorted(modules & RENDERING)


def test_draft_lock_versions_are_the_libraries_own():
    """Read from metadata, the versions are the strings the imported libraries report, so keys did
    not change with the way they are read."""
    import cv2
    import numpy
    import PIL
    import skimage

    assert draft.draft_versions() == {"numpy": numpy.__version__, "opencv": cv2.__version__,
                                      "pillow": PIL.__version__, "scikit-image": skimage.__version__}


# ── the diffusers backend ─────────────────────────────────────────────────────

def _torch():
    return pytest.importorskip("torch")


def test_diffusers_versions_are_the_libraries_own():
    torch = _torch()
    diffusers = pytest.importorskip("diffusers")
    transformers = pytest.importorskip("transformers")
    from brief.runtime.backends import diffusers as backend

    assert backend._versions() == {"torch": torch.__version__, "diffusers": diffusers.__version__,
                                   "transformers": transformers.__version__}


def test_a_missing_model_library_is_a_clear_refusal(monkeypatch):
    from importlib import metadata

    from brief.runtime.backends import diffusers as backend

    def version(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", version)  # no metadata, and not importable either
    for name in ("torch", "diffusers", "transformers"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(OpError, match=r"needs torch, diffusers and transformers \(torch is not installed\)"):
        backend._versions()


def test_torch_build_and_cuda_prediction_match_torch_without_importing_it(tmp_path):
    torch = _torch()
    assert diffusers_device.torch_build() == {"__version__": torch.__version__, "cuda": torch.version.cuda,
                                             "hip": torch.version.hip}
    probe = ("import sys; from brief.runtime.backends.diffusers_device import cuda_usable; "
             "print(cuda_usable(), 'torch' in sys.modules)")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    for _ in range(2):  # the first run may ask torch (a GPU machine), the second remembers its answer
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == [str(torch.cuda.is_available()), "False"]


def test_a_wrong_device_prediction_never_renders_under_a_dishonest_key(tmp_path, monkeypatch):
    """A memo claiming CUDA on a machine where torch has none: the key says cuda/float16, and the
    render is refused (and the memo forgotten), never done on the CPU under that key."""
    torch = _torch()
    if torch.cuda.is_available():
        pytest.skip("needs a machine where torch has no CUDA")
    monkeypatch.setattr(diffusers_device, "DEVICE_MEMO", tmp_path / "cuda-available.json")
    monkeypatch.setattr(diffusers_device, "_decided", {})
    monkeypatch.setattr(diffusers_device, "_gpus_present", lambda: True)
    monkeypatch.setattr(diffusers_device, "torch_build",
                        lambda: {"__version__": torch.__version__, "cuda": "12.4", "hip": None})
    build = diffusers_device.torch_build()
    save_memo(diffusers_device.DEVICE_MEMO, {diffusers_device._fingerprint(build): True}, 8)
    assert diffusers_device.device_and_dtype({}) == ("cuda", "float16")
    with pytest.raises(OpError, match="cannot use CUDA"):
        diffusers_device.check_device({}, "cuda")
    assert not diffusers_device.DEVICE_MEMO.exists()
    with pytest.raises(OpError, match="--device cpu"):
        diffusers_device.check_device({"device": "cuda"}, "cuda")


TINY = '''brief tiny {
  canvas 64 x 64
  seed 1
  backend diffusers "model"
  steps 1
  component sky {
    prompt "blue sky"
  }
}
'''


def test_noop_diffusers_build_imports_no_torch(tmp_path, monkeypatch):
    _torch()
    pytest.importorskip("diffusers")
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import make_tiny_pipeline
    from brief.runtime.backends import diffusers_model

    project = tmp_path / "project"
    project.mkdir()
    (project / "brief.toml").write_text("")
    make_tiny_pipeline.build(project / "model")
    brief = project / "tiny.brief"
    brief.write_text(TINY)
    user_cache = tmp_path / "user-cache"  # the memos this build leaves are the no-op build's
    monkeypatch.setattr(diffusers_model, "HASH_MEMO", user_cache / "brief" / "model-file-hashes.json")
    monkeypatch.setattr(diffusers_device, "DEVICE_MEMO", user_cache / "brief" / "cuda-available.json")
    monkeypatch.setattr(diffusers_device, "_decided", {})
    assert build_file(brief, Options())[0].run.ran  # rendered here, where torch is imported already
    code, modules = imports_of(tmp_path, "build", "-q", str(brief), env={"XDG_CACHE_HOME": str(user_cache)})
    assert code == 0 and not modules & {"torch", "diffusers", "transformers", "cv2", "skimage", "scipy"}, \
        sorted(modules & HEAVY)
