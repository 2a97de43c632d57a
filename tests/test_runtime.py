"""The runtime's guarantees: incremental, region-local, bit-identical, and robust to faults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brief.runtime.build import Options, build_file, plan_file
from runtime_helpers import SCENE, build, output_bytes, pixels, ran


def test_full_build_writes_every_file(project):
    built = build(project, SCENE, psd=True)
    assert [b.variant.name for b in built] == ["scene[season=summer]", "scene[season=autumn]"]
    folder = project.root / "out" / "scene[season=summer]"
    for name, size in (("square", (200, 200)), ("wide", (400, 200)), ("tall", (150, 300))):
        img = pixels(folder / f"{name}.png")
        assert img.shape == (size[1], size[0], 3)
    manifest = json.loads((folder / "manifest.json").read_text())
    for comp in ("sky", "kite", "bird", "product", "logo"):  # each cropped to its box, placed by its offset
        layer = pixels(folder / "layers" / f"{comp}.png")
        x0, y0, x1, y1 = manifest["layers"][comp]["box"]
        assert layer.shape == (y1 - y0, x1 - x0, 4)
        assert np.array_equal(pixels(folder / "masks" / f"{comp}.png"), layer[..., 3])
        assert _offset(folder / "layers" / f"{comp}.png") == (x0, y0)
    assert manifest["order"] == ["sky", "kite", "bird", "product", "logo"]
    assert manifest["layers"]["product"]["box"] == [96, 108, 224, 228]
    assert manifest["cache"]["hits"] == 0 and manifest["cache"]["rendered"] > 10
    assert (folder / "scene.psd").stat().st_size > 1000
    # the product layer shows the asset inside its box (canvas pixel 160, 150 lies at 64, 42 of it)
    product = pixels(folder / "layers" / "product.png")
    assert product[150 - 108, 160 - 96, 3] == 255


def test_summer_and_autumn_look_different(project):
    build(project, SCENE)
    summer = pixels(project.root / "out" / "scene[season=summer]" / "layers" / "sky.png")
    autumn = pixels(project.root / "out" / "scene[season=autumn]" / "layers" / "sky.png")
    assert np.abs(summer[..., :3].astype(int).mean(axis=(0, 1)) - autumn[..., :3].astype(int).mean(axis=(0, 1))).max() > 30


def test_noop_rebuild_renders_nothing(project):
    build(project, SCENE)
    before = output_bytes(project.root / "out")
    again = build(project)
    assert ran(again) == set()
    assert all(b.plan.steps == [] for b in again)
    assert output_bytes(project.root / "out") == before


def test_comment_and_whitespace_edit_renders_nothing(project):
    build(project, SCENE)
    noisy = "# a new comment\n" + SCENE.replace("  z 5\n", "  z   5   # higher\n\n")
    assert ran(build(project, noisy)) == set()


def test_changing_one_prompt_renders_only_what_depends_on_it(project):
    build(project, SCENE)
    again = build(project, SCENE.replace('"a red kite"', '"a green kite"'))
    assert {"encode_prompt component kite", "generate component kite"} <= ran(again)
    assert not ran(again) & {"generate component sky", "generate component bird", "load_asset component product",
                             "load_asset component logo"}


def test_incremental_equals_clean_build(project, tmp_path):
    build(project, SCENE)
    changed = SCENE.replace("region box 60% 5% 90% 35%", "region box 55% 10% 85% 40%")
    build(project, changed)
    incremental = output_bytes(project.root / "out")
    clean = build_file(project.root / "scene.brief", Options(cache=tmp_path / "fresh-cache", out=tmp_path / "fresh-out"))
    assert clean and output_bytes(tmp_path / "fresh-out") == incremental


def test_plan_explains_why(project):
    build(project, SCENE)
    project.write("scene.brief", SCENE.replace('"a red kite"', '"a green kite"').replace("z 6", "z 7"))
    _, plans = plan_file(project.root / "scene.brief", Options(cache=project.root / "cache"))
    summer = plans[0]
    reasons = {f"{s.op} {s.label}": s.reason for s in summer.steps}
    assert reasons["encode_prompt component kite"] == "changed: prompt"
    assert reasons["generate component kite"] == "upstream changed: component kite"
    assert reasons["composite brief scene"].startswith("upstream changed")
    assert "generate component sky" not in reasons
    kite = next(s for s in summer.steps if s.op == "generate")
    assert kite.share == pytest.approx((96 * 72) / (320 * 240), rel=0.02)
    assert summer.summary().endswith("% of pixels") and summer.pixel_share < 0.2
    # an evicted object is named as such
    cache_dir = project.root / "cache" / "objects"
    sky_key = next(b for b in build(project) if b.variant.name.endswith("summer]")).variant.layers["sky"]
    for f in cache_dir.glob(f"{sky_key[:2]}/{sky_key}.*"):
        f.unlink()
    _, plans = plan_file(project.root / "scene.brief", Options(cache=project.root / "cache"))
    assert any(s.reason == "evicted from the cache" for s in plans[0].steps)


def _offset(path) -> tuple[int, int]:
    """The oFFs chunk of a PNG: where the image lies on the canvas."""
    import struct

    data = path.read_bytes()
    at = data.index(b"oFFs")
    x, y, unit = struct.unpack(">iiB", data[at + 4:at + 13])
    assert unit == 0  # pixels
    return x, y
