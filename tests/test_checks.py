"""Brand rules with known answers, their edge cases, and the gate end to end: a brief fails
`check color`, gets the printed `recolor` edit, and passes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage.color import deltaE_ciede2000

from brief.runtime.brand import checks
from brief.runtime.render import imaging
from brief.runtime.store.tiles import Layer
from test_cli import run

# Sharma, Wu & Dalal (2005), CIEDE2000 test data: (Lab1, Lab2, ΔE00)
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
]


@pytest.mark.parametrize("a, b, expected", SHARMA)
def test_ciede2000_matches_published_pairs(a, b, expected):
    assert float(imaging.delta_e(np.array(a), np.array(b))) == pytest.approx(expected, abs=1e-4)


def solid(colour, w=40, h=30, alpha=255):
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = alpha
    return rgba


def test_palette_coverage_known_answer():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, :50] = (200, 16, 46)  # exactly the brand red
    image[:, 50:] = (20, 200, 20)  # far from every brand colour
    base = {"rule": "palette", "canvas": [100, 100], "colors": {"red": "#C8102E", "ink": "#1A1A1A"}, "within": 3}
    got = [checks.palette({**base, "coverage": c}, image)["status"] for c in (40, 60, 80, 90)]
    assert got == ["pass", "warn", "warn", "fail"]  # warn down to target / 1.75: 45.7% for 80%, 51.4% for 90%
    result = checks.palette({**base, "coverage": 80}, image)
    assert result["measured"] == pytest.approx(50, abs=1)
    assert {c["nearest"] for c in result["clusters"]} <= {"red", "ink"}


def test_sku_color_p95_of_dominant_cluster_known_answer():
    shoe = solid((180, 30, 50), 60, 40)
    shoe[30:, :, :3] = 250  # a white sole: not the SKU colour, must not count
    layer = Layer((10, 10, 70, 50), shoe)
    image = np.zeros((80, 100, 3), np.uint8)
    image[10:50, 10:70] = shoe[..., :3]
    expected = float(deltaE_ciede2000(imaging.to_lab(np.array([[[200, 16, 46]]], np.uint8))[0, 0],
                                      imaging.to_lab(np.array([[[180, 30, 50]]], np.uint8))[0, 0]))
    params = {"rule": "color", "component": "shoe", "color": "red", "target": "#C8102E", "canvas": [100, 80]}
    over = image[10:50, 10:70]  # the canvas's pixels over the layer's box
    result = checks.sku_color({**params, "within": 2}, over, layer)
    assert result["measured"] == pytest.approx(expected, abs=0.01)
    assert result["status"] == ("fail" if expected > 3.5 else "warn")
    assert result["fix"] == "edit fix_shoe { recolor shoe to red }"
    assert checks.sku_color({**params, "within": expected + 0.1}, over, layer)["status"] == "pass"


def test_clearspace_at_canvas_edge_and_backgrounds_ignored():
    canvas = (200, 100)
    logo = Layer((150, 0, 200, 20), solid((0, 0, 0), 50, 20))  # top-right corner: zone clipped there
    background = Layer((0, 0, 200, 100), solid((9, 9, 9), 200, 100))
    near = Layer((120, 10, 140, 30), solid((255, 0, 0), 20, 20))
    far = Layer((0, 60, 20, 80), solid((255, 0, 0), 20, 20))
    params = {"rule": "clearspace", "component": "logo", "factor": 1, "canvas": list(canvas)}
    ok = checks.clearspace(params, None, {"bg": background, "logo": logo, "far": far}, canvas)
    assert ok["status"] == "pass" and ok["zone"] == [130, 0, 200, 40]
    bad = checks.clearspace(params, None, {"bg": background, "logo": logo, "near": near}, canvas)
    assert bad["status"] == "fail" and bad["offenders"] == ["near"] and bad["measured"] == 10 * 20


def test_semi_transparent_edges_do_not_count():
    canvas = (100, 100)
    logo = Layer((40, 40, 60, 50), solid((0, 0, 0), 20, 10))
    haze = Layer((30, 30, 70, 70), solid((255, 0, 0), 40, 40, alpha=100))  # below the visibility cut
    params = {"rule": "clearspace", "component": "logo", "factor": 0.5, "canvas": list(canvas)}
    assert checks.clearspace(params, None, {"logo": logo, "haze": haze}, canvas)["status"] == "pass"


def test_empty_layers_are_skipped_with_a_note():
    empty = Layer((0, 0, 10, 10), solid((0, 0, 0), 10, 10, alpha=0))
    image = np.zeros((10, 10, 3), np.uint8)
    color = checks.sku_color({"rule": "color", "component": "p", "color": "red", "target": "#C8102E", "within": 2,
                              "canvas": [10, 10]}, image, empty)
    assert color["status"] == "skipped" and "transparent" in color["note"]
    invisible = checks.minsize({"rule": "minsize", "component": "p", "min": [5, 5]}, empty)
    assert invisible["status"] == "fail" and invisible["measured"] == "0 x 0" and "transparent" in invisible["note"]
    assert checks.clearspace({"rule": "clearspace", "component": "p", "factor": 1, "canvas": [10, 10]}, image,
                             {"p": empty}, (10, 10))["status"] == "skipped"
    zone = checks.safezone({"rule": "safezone", "margins": [2] * 4, "components": ["p"]}, {"p": empty}, (10, 10))
    assert zone["status"] == "pass" and zone["notes"]


def test_safezone_and_minsize():
    inside = Layer((10, 10, 30, 30), solid((0, 0, 0), 20, 20))
    edge = Layer((0, 40, 20, 60), solid((0, 0, 0), 20, 20))
    zone = checks.safezone({"rule": "safezone", "margins": [5] * 4, "components": ["a", "b"]}, {"a": inside, "b": edge},
                           (100, 100))
    assert zone["status"] == "fail" and zone["offenders"] == ["b"] and zone["measured"] == 5 * 20
    sizes = [checks.minsize({"rule": "minsize", "component": "a", "min": m}, inside)["status"]
             for m in ([20, 20], [30, 30], [50, 50])]
    assert sizes == ["pass", "warn", "fail"]


# ── every rule can fail at every target (and pass) ───────────────────────────────────────────
RED = (200, 16, 46)


def share_image(n: int) -> np.ndarray:
    """100 x 100 (not downsampled): the first n pixels brand red, the rest green, ΔE00 ≈ 91 from it."""
    flat = np.tile(np.array((0, 255, 0), np.uint8), (10000, 1))
    flat[:n] = RED
    return flat.reshape(100, 100, 3)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 100), st.floats(0.5, 50))  # a ΔE tolerance near 91 would accept green itself
def test_palette_can_fail_and_pass_at_every_coverage(coverage, within):
    params = {"rule": "palette", "canvas": [100, 100], "colors": {"red": "#C8102E"}, "within": within,
              "coverage": coverage}
    at_target = checks.palette(params, share_image(int(np.ceil(coverage * 100))))
    assert at_target["status"] == "pass"
    below_band = int(np.ceil(coverage / checks.WARN_FACTOR * 100)) - 1  # just under target / 1.75
    missed = checks.palette(params, share_image(below_band))
    assert missed["status"] == "fail", (coverage, missed["measured"])


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 50))
def test_sku_color_can_fail_and_pass_at_every_tolerance(within):
    params = {"rule": "color", "component": "p", "color": "red", "target": "#C8102E", "within": within,
              "canvas": [8, 8]}
    exact = Layer((0, 0, 8, 8), solid(RED, 8, 8))
    assert checks.sku_color(params, exact.rgba[..., :3], exact)["status"] == "pass"
    green = Layer((0, 0, 8, 8), solid((0, 255, 0), 8, 8))  # ΔE00 ≈ 91 from the brand red
    assert checks.sku_color(params, green.rgba[..., :3], green)["status"] == "fail"


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400))
def test_minsize_can_fail_and_pass_at_every_size(mw, mh):
    params = {"rule": "minsize", "component": "logo", "min": [mw, mh]}
    assert checks.minsize(params, Layer((0, 0, mw, mh), solid((0, 0, 0), mw, mh)))["status"] == "pass"
    assert checks.minsize(params, Layer((0, 0, mw, mh), solid((0, 0, 0), mw, mh, alpha=0)))["status"] == "fail"
    if max(mw, mh) >= 2:  # a visible logo under target / 1.75 on one side fails too
        w, h = (max(1, int(mw / 1.8)), mh) if mw >= 2 else (mw, max(1, int(mh / 1.8)))
        assert checks.minsize(params, Layer((0, 0, w, h), solid((0, 0, 0), w, h)))["status"] == "fail"


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 10))
def test_clearspace_can_fail_and_pass_at_every_factor(factor):
    canvas = (400, 300)
    logo = Layer((180, 140, 220, 160), solid((0, 0, 0), 40, 20))
    params = {"rule": "clearspace", "component": "logo", "factor": factor, "canvas": list(canvas)}
    assert checks.clearspace(params, None, {"logo": logo}, canvas)["status"] == "pass"
    touching = Layer((190, 150, 200, 170), solid((255, 0, 0), 10, 20))  # overlaps the logo itself
    assert checks.clearspace(params, None, {"logo": logo, "tag": touching}, canvas)["status"] == "fail"


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 149))
def test_safezone_can_fail_and_pass_at_every_margin(margin):
    canvas = (400, 300)
    centre = Layer((199, 149, 201, 151), solid((0, 0, 0), 2, 2))
    edge = Layer((0, 0, 2, 2), solid((0, 0, 0), 2, 2))
    params = {"rule": "safezone", "margins": [margin] * 4, "components": ["a"]}
    assert checks.safezone(params, {"a": centre}, canvas)["status"] == "pass"
    assert checks.safezone(params, {"a": edge}, canvas)["status"] == "fail"


def test_warn_band_is_shown_in_the_target_text():
    image = share_image(5000)
    palette = checks.palette({"rule": "palette", "canvas": [100, 100], "colors": {"red": "#C8102E"}, "within": 3,
                              "coverage": 80}, image)
    assert palette["target"] == "≥ 80% within ΔE 3 (warn from 45.7%)"
    logo = Layer((0, 0, 40, 20), solid((0, 0, 0), 40, 20))
    assert checks.minsize({"rule": "minsize", "component": "l", "min": [70, 35]}, logo)["target"] == \
        "≥ 70 x 35 px (warn from 40 x 20)"


BRIEF = '''use "brands/acme.brief"
brief gate {{
  canvas 240 x 160
  brand acme
  component sky {{
    prompt "clouds"
  }}
  component product {{
    asset "assets/blue.png"
    region box 20% 20% 80% 90%
    z 5
    color red within 2
  }}
{edit}
  check color product
  check palette within 30 coverage 1%
}}
'''


def test_failing_color_check_gets_its_recolor_fix_and_passes(project, tmp_path):
    shoe = solid((26, 95, 180), 80, 60)
    shoe[45:, :, :3] = 250
    Image.fromarray(shoe).save(project.root / "assets" / "blue.png")
    path = project.write("gate.brief", BRIEF.format(edit=""))
    first = run("build", path, "--cache", tmp_path / "c", "--out", tmp_path / "o")
    assert first.returncode == 1 and "brand checks failed" in first.stderr
    fix = next(line.split(": ", 1)[1].strip() for line in first.stderr.splitlines() if "fix for color" in line)
    assert fix == "edit fix_product { recolor product to red }"
    assert (tmp_path / "o" / "gate" / "report.html").read_text().count("<tr") >= 3
    assert run("build", path, "--cache", tmp_path / "c", "--out", tmp_path / "o2", "--no-checks").returncode == 0
    project.write("gate.brief", BRIEF.format(edit="  " + fix))
    second = run("build", path, "--cache", tmp_path / "c", "--out", tmp_path / "o")
    assert second.returncode == 0, second.stderr
    report = __import__("json").loads((tmp_path / "o" / "gate" / "report.json").read_text())
    color = next(c for c in report["checks"] if c["rule"] == "color")
    assert color["status"] == "pass" and color["measured"] <= 2
    # only changing a rule re-runs that check and renders nothing
    project.write("gate.brief", BRIEF.format(edit="  " + fix).replace("coverage 1%", "coverage 2%"))
    again = run("build", path, "--cache", tmp_path / "c", "--out", tmp_path / "o")
    assert "rendered 1 node " in again.stdout
    assert run("check", "--render", path, "--cache", tmp_path / "c").returncode == 0


# ── clear space is measured around the brand's own logo ─────────────────────────────────────────
LOGO_BRIEF = '''use "brands/acme.brief"
brief b {
  canvas 200 x 100
  brand acme
  component sky {
    prompt "sky"
  }
  component logo {
    asset "assets/logo.png"
    region anchor top-right 40px x 20px margin 10px
    z 5
  }
  check clearspace logo
}
'''


def test_clearspace_node_carries_the_brand_logo_hash_and_the_runtime_verifies_it(project):
    graph = project.compile(LOGO_BRIEF)
    node = next(d for _, d in graph.graph.nodes(data=True) if d["op"] == "check")
    logo_hash = hashlib.sha256((project.root / "assets" / "logo.png").read_bytes()).hexdigest()
    assert node["params"]["logo_sha256"] == node["params"]["sha256"] == logo_hash
    canvas = (200, 100)
    logo = Layer((150, 10, 190, 30), solid((0, 0, 0), 40, 20))
    ok = checks.clearspace(node["params"], None, {"logo": logo}, canvas)
    assert ok["status"] == "pass" and ok["logo_sha256"] == logo_hash
    forged = checks.clearspace({**node["params"], "sha256": "0" * 64}, None, {"logo": logo}, canvas)
    assert forged["status"] == "fail" and "not the brand's logo" in forged["note"] and logo_hash[:12] in forged["note"]
