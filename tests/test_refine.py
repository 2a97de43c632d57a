"""`refine "prompt" strength F` on a placed asset: the image relit into the scene inside its own
mask (the draft backend moves its lightness toward its surroundings; the model backends repaint it
image to image, tests/test_diffusers_families.py), measured by `check color` like any layer."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from brief.runtime.build import Options, build_file
from brief.runtime.render import imaging
from runtime_helpers import pixels, ran

BRIEF = '''use "brands/acme.brief"
brief r {
  canvas 160 x 120
  brand acme
  component floor {
    prompt "dark night street, black asphalt"
  }
  component product {
    asset "assets/bright.png"
    region box 30% 30% 70% 80%
    z 5
    color cream within 30
  }
  check color product
}
'''


def _build(project, text):
    project.write("r.brief", text)
    return build_file(project.root / "r.brief", Options(cache=project.root / "cache", out=project.root / "out",
                                                       checks=True))


def test_refine_relights_the_product_inside_its_mask_only(project):
    Image.new("RGBA", (40, 40), (245, 230, 204, 255)).save(project.root / "assets" / "bright.png")
    _build(project, BRIEF)
    plain = pixels(project.root / "out" / "r" / "layers" / "product.png")
    built = _build(project, BRIEF.replace("    z 5\n", '    z 5\n    refine "night light" strength 1\n'))
    assert "refine component product" in ran(built) and "generate component floor" not in ran(built)
    lit = pixels(project.root / "out" / "r" / "layers" / "product.png")
    assert np.array_equal(lit[..., 3], plain[..., 3])  # its own mask, unchanged
    inside = plain[..., 3] > 0
    lightness = lambda a: float(imaging.to_lab(a[..., :3][inside].reshape(-1, 1, 3))[..., 0].mean())  # noqa: E731
    assert lightness(lit) < lightness(plain) - 5  # toward the dark street
    outside = plain[..., 3] == 0
    assert np.array_equal(lit[outside], plain[outside])
    manifest = json.loads((project.root / "out" / "r" / "manifest.json").read_text())
    (check,) = manifest["checks"]
    assert check["result"]["rule"] == "color" and check["result"]["measured"] > 0  # it measured the refined layer


def test_refine_is_for_placed_assets_and_is_never_placed_again(project):
    found = project.diagnostics('brief b {\n  component c {\n    prompt "x"\n    refine "y" strength 0.3\n  }\n}\n')
    assert [d.code for d in found] == ["E326"]
    found = project.diagnostics('''brief b {
  canvas 100 x 100
  component p {
    asset "assets/product.png"
    refine "soft light" strength 0.3
  }
  output sq 50 x 50 crop {
    place p box 0% 0% 50% 50%
  }
}
''')
    assert [d.code for d in found] == ["E354"]
