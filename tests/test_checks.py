"""Brand rules with known answers, their edge cases, and the gate end to end: a brief fails
`check color`, gets the printed `recolor` edit, and passes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000

from brief.runtime import checks, imaging
from brief.runtime.tiles import Layer
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
    got = [checks.palette({**base, "coverage": c}, image)["status"] for c in (40, 60, 80)]
    assert got == ["pass", "warn", "fail"]
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
    result = checks.sku_color({**params, "within": 2}, image, layer)
    assert result["measured"] == pytest.approx(expected, abs=0.01)
    assert result["status"] == ("fail" if expected > 3.5 else "warn")
    assert result["fix"] == "edit fix_shoe { recolor shoe to red }"
    assert checks.sku_color({**params, "within": expected + 0.1}, image, layer)["status"] == "pass"


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
    assert checks.minsize({"rule": "minsize", "component": "p", "min": [5, 5]}, empty)["status"] == "skipped"
    assert checks.clearspace({"rule": "clearspace", "component": "p", "factor": 1, "canvas": [10, 10]}, image,
                             {"p": empty}, (10, 10))["status"] == "skipped"
    zone = checks.safezone({"rule": "safezone", "margin": 2, "components": ["p"]}, {"p": empty}, (10, 10))
    assert zone["status"] == "pass" and zone["notes"]


def test_safezone_and_minsize():
    inside = Layer((10, 10, 30, 30), solid((0, 0, 0), 20, 20))
    edge = Layer((0, 40, 20, 60), solid((0, 0, 0), 20, 20))
    zone = checks.safezone({"rule": "safezone", "margin": 5, "components": ["a", "b"]}, {"a": inside, "b": edge}, (100, 100))
    assert zone["status"] == "fail" and zone["offenders"] == ["b"] and zone["measured"] == 5 * 20
    sizes = [checks.minsize({"rule": "minsize", "component": "a", "min": m}, inside)["status"]
             for m in ([20, 20], [30, 30], [50, 50])]
    assert sizes == ["pass", "warn", "fail"]


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
  check palette within 100 coverage 1%
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
