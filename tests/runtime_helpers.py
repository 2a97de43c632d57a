"""Helpers for runtime tests: a small brief with every kind of node, built in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from brief.runtime.build import Options, build_file

SCENE = '''use "brands/acme.brief"
brief scene {
  canvas 320 x 240
  seed 5
  brand acme
  matrix season {
    summer "summer park"
    autumn "autumn park"
  }
  component sky {
    prompt "{season}, clouds"
    region full
  }
  component kite {
    prompt "a red kite"
    region box 60% 5% 90% 35%
    z 5
  }
  component bird {
    prompt "a bird"
    region box 5% 5% 20% 20%
    z 6
    context none
  }
  component product {
    asset "assets/product.png"
    region box 30% 45% 70% 95%
    z 10
    color red within 2
  }
  component logo {
    asset "assets/logo.png"
    region anchor top-left 48px x 24px margin 8px
    z 20
  }
  edit shadow {
    inpaint around product 8px
    prompt "soft shadow"
  }
  edit tidy {
    remove box 2% 80% 12% 95%
  }
  edit tone {
    recolor product to red
  }
  check palette
  output square 200 x 200 crop
  output wide 400 x 200 fit
  output tall 150 x 300 outpaint
}
'''


def build(project, text: str | None = None, **opts):
    if text is not None:
        project.write("scene.brief", text)
    options = Options(cache=project.root / "cache", out=project.root / "out", **opts)
    return build_file(project.root / "scene.brief", options)


def ran(built) -> set[str]:
    """'op label' of every node the build ran, over all variants."""
    return {f"{b.graph.nodes[k]['op']} {b.graph.nodes[k]['label']}" for b in built for k in b.run.ran}


def output_bytes(out: Path) -> dict[str, bytes]:
    """Every pixel file under out/ (not manifests, whose timings differ), by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).copy()
