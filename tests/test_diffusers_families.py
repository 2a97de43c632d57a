"""Every op on every model family: Stable Diffusion 1.x (test_diffusers.py), SDXL, Stable
Diffusion 3.x, FLUX.1 and FLUX.1 Fill, each as a tiny random pipeline made offline
(scripts/make_tiny_pipeline.py), built end to end on the CPU through the same allow-list, vetting
and lock.

The brief has a full canvas larger than the tiny models' 64 px native size (generated at native
size and refined up), a regional component (crop-and-inpaint over what lies below, resampled to
native size), one generated alone, a placed asset recoloured and harmonised, an inpaint and a
remove edit, and outputs that out-paint and crop.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("diffusers")

from brief.runtime.backends import diffusers_model  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from conftest import REPO, Project  # noqa: E402
from runtime_helpers import pixels, ran  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_pipeline  # noqa: E402

BRIEF = '''use "brands/acme.brief"
brief f {
  canvas 128 x 96
  seed 3
  backend diffusers "model"
  steps 2
  brand acme
  component sky {
    prompt "blue sky clouds"
  }
  component kite {
    prompt "a red kite"
    region box 55% 5% 85% 40%
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
    refine "soft light" strength 0.4
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

FAMILIES = {"tiny": "StableDiffusionPipeline", "tiny-xl": "StableDiffusionXLPipeline",
            "tiny-sd3": "StableDiffusion3Pipeline", "tiny-flux": "FluxPipeline", "tiny-flux-fill": "FluxFillPipeline"}


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_every_op_runs_on_every_family(kind, tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
    project = Project(tmp_path)
    make_tiny_pipeline.build(project.root / "model", unet_size=kind)
    project.write("f.brief", BRIEF)
    options = Options(cache=project.root / "cache", out=project.root / "out")
    built = build_file(project.root / "f.brief", options)
    ops = {op.split(" ")[0] for op in ran(built)}
    assert {"encode_prompt", "generate", "load_asset", "refine", "composite", "inpaint", "remove", "recolor",
            "harmonize", "outpaint", "reframe"} <= ops
    assert built[0].variant.backend["pipeline"] == FAMILIES[kind]
    folder = project.root / "out" / "f"
    assert pixels(folder / "wide.png").shape == (96, 160, 3) and pixels(folder / "small.png").shape == (64, 64, 3)
    nodes = {n["label"]: n for n in json.loads((folder / "manifest.json").read_text())["nodes"].values()
             if n["op"] == "generate"}
    unet = kind in ("tiny", "tiny-xl")
    base = [72, 56] if unet else [80, 48]  # multiples of 8 (UNet), of 16 (transformers)
    assert nodes["component sky"]["processing"] == {"size": [128, 96], "base": base, "base_steps": 2, "steps": 1}
    lock = (project.root / "brief.lock").read_text()
    denoiser = "unet" if unet else "transformer"
    assert FAMILIES[kind] in lock and f"{denoiser}/diffusion_pytorch_model.safetensors" in lock
    before = pixels(folder / "canvas.png")
    # one regional change: only the kite's nodes (and what follows) run, and pixels far from it hold
    project.write("f.brief", BRIEF.replace('prompt "a red kite"', 'prompt "a red kite"\n    seed 11'))
    again = build_file(project.root / "f.brief", options)
    assert "generate component kite" in ran(again) and "generate component sky" not in ran(again)
    after = pixels(folder / "canvas.png")
    assert np.array_equal(before[:28, :30], after[:28, :30])  # the bird, top left: nothing there reads the kite
    assert not np.array_equal(before[5:38, 70:108], after[5:38, 70:108])
