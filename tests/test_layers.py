"""The layered export is the delivered image (issue 13): flattening every image's exported layers in
manifest order gives the delivered pixels, byte for byte — the canvas (components, then one patch per
edit) and every output (its scene, the components it lays out itself, the patches of edits that
followed them) — on random briefs with random edits and outputs, on the example, and `brief
verify-layers` says so (and says when a layer was altered)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from brief.runtime.build import Options, build_file
from brief.runtime.deliver.layers import verify_folder

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@st.composite
def briefs(draw) -> str:
    """A small brief: a backdrop, two or three placed, typeset or generated components, some edits,
    one to three outputs of any mode, some of them laying components out themselves."""
    comps = ['component back {\n    prompt "a field"\n    region full\n  }']
    kinds = draw(st.lists(st.sampled_from(["asset", "text", "prompt"]), min_size=2, max_size=3))
    names = []
    for i, kind in enumerate(kinds):
        x, y = draw(st.integers(0, 50)), draw(st.integers(0, 50))
        box = f"region box {x}% {y}% {x + draw(st.integers(20, 45))}% {y + draw(st.integers(20, 45))}%"
        body = {"asset": 'asset "assets/product.png"\n    color red within 2',
                "text": 'text "Hello there"\n    font display\n    size auto 6px 30px\n    color ink',
                "prompt": 'prompt "a kite"'}[kind]
        names.append((f"c{i}", kind))
        comps.append(f"component c{i} {{\n    {body}\n    {box}\n    z {i + 1}\n  }}")
    edits = []
    for j, op in enumerate(draw(st.lists(st.sampled_from(["remove", "inpaint", "recolor", "harmonize"]), max_size=3))):
        target = draw(st.sampled_from([n for n, _ in names]))
        assets = [n for n, k in names if k == "asset"]
        if op == "remove":
            edits.append(f"edit e{j} {{\n    remove box 5% 60% 25% 90%\n  }}")
        elif op == "inpaint":
            edits.append(f'edit e{j} {{\n    inpaint around {target} 6px\n    prompt "soft shadow"\n  }}')
        elif op == "recolor" and assets:
            edits.append(f"edit e{j} {{\n    recolor {assets[0]} to red\n  }}")
        elif op == "harmonize":
            edits.append(f"edit e{j} {{\n    harmonize {target} band 4px\n  }}")
    outputs = []
    for k in range(draw(st.integers(1, 3))):
        w, h = draw(st.sampled_from([(100, 100), (90, 160), (200, 104)]))
        mode = draw(st.sampled_from(["crop", "fit", "outpaint"]))
        block = []
        placeable = [n for n, kind in names if kind != "prompt"]
        if placeable and draw(st.booleans()):
            block.append(f"place {draw(st.sampled_from(placeable))} box 10% 10% 60% 40%")
        if draw(st.booleans()):
            block.append("format jpeg quality 80")
        body = (" {\n    " + "\n    ".join(block) + "\n  }") if block else ""
        outputs.append(f"output o{k} {w} x {h} {mode}{body}")
    return ("brand b {\n  color red #C8102E\n  color ink #1A1A1A\n  font display \"fonts/Display-Bold.ttf\"\n}\n"
            "brief r {\n  canvas 160 x 120\n  brand b\n  " + "\n  ".join(comps + edits + outputs) + "\n}\n")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=briefs())
def test_every_image_flattens_from_its_layers(project, text):
    path = project.write("r.brief", text)
    (built,) = build_file(path, Options(cache=project.root / "cache", out=project.root / "out", checks=False))
    found = dict(verify_folder(built.folder))
    assert set(found) == {"canvas", *built.variant.outputs}, found
    assert all(v == "ok" for v in found.values()), found


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example's navy/summer/de variant, built once with its PSDs: (brief, options, what was built)."""
    tmp = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLES, tmp / "examples")
    brief = tmp / "examples" / "campaign" / "launch.brief"
    options = Options(cache=tmp / "cache", out=tmp / "out", variants=["sku=navy,season=summer,lang=de"], psd=True)
    (built,) = build_file(brief, options)
    return brief, options, built


def test_the_example_delivers_what_its_layers_flatten_to_and_a_changed_layer_is_caught(example, tmp_path):
    _, options, built = example
    run = subprocess.run([sys.executable, "-m", "brief.cli", "verify-layers", str(options.out)],
                         capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.count("byte for byte") == 4, run.stdout + run.stderr
    shutil.copytree(built.folder, tmp_path / "copy")  # altered below: the other tests keep the built folder
    built = SimpleNamespace(folder=tmp_path / "copy", manifest=built.manifest)
    manifest = json.loads((built.folder / "manifest.json").read_text())
    assert set(manifest["stacks"]) == {"canvas", "square", "story", "banner"}
    kinds = [e["kind"] for e in manifest["stacks"]["canvas"]["layers"]]
    assert kinds[-2:] == ["edit", "edit"]  # the shadow and the recolour, as patches above the components
    banner = manifest["stacks"]["banner"]["layers"]
    assert [e["name"] for e in banner][:1] == ["scene"] and {"product", "headline", "cta", "logo"} <= {
        e["name"] for e in banner}  # the banner's own layout: its placed components are its layers
    assert next(e for e in banner if e["name"] == "headline")["text"] == "Lauf weiter"
    tone = built.folder / next(e["file"] for e in manifest["stacks"]["canvas"]["layers"] if e["name"] == "tone")
    with Image.open(tone) as im:
        pixels = np.asarray(im).copy()
    ys, xs = np.nonzero(pixels[..., 3])
    pixels[ys[0], xs[0], 0] ^= 0x40  # one pixel of the recolour patch, altered
    Image.fromarray(pixels).save(tone)
    run = subprocess.run([sys.executable, "-m", "brief.cli", "verify-layers", str(built.folder)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "canvas: changed since the export: layers/tone.png" in run.stdout, run.stdout
    manifest.pop("fingerprints")  # a folder whose files were not written by this export: pixels are compared
    (built.folder / "manifest.json").write_text(json.dumps(manifest))
    run = subprocess.run([sys.executable, "-m", "brief.cli", "verify-layers", str(built.folder)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "canvas: 1 px differ" in run.stdout, run.stdout
    (built.folder / "square.png").write_bytes((built.folder / "canvas.png").read_bytes())  # a delivered file swapped
    manifest = json.loads(json.dumps(built.manifest))
    (built.folder / "manifest.json").write_text(json.dumps(manifest))
    run = subprocess.run([sys.executable, "-m", "brief.cli", "verify-layers", str(built.folder)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "square: changed since the export: square.png" in run.stdout, run.stdout


def test_one_psd_per_image_whose_composite_is_the_delivered_image(example):
    from psd_tools import PSDImage

    brief, options, built = example
    manifest = json.loads((built.folder / "manifest.json").read_text())
    for name, stack in manifest["stacks"].items():
        psd_file = built.folder / ("launch.psd" if name == "canvas" else f"launch-{name}.psd")
        psd = PSDImage.open(psd_file)
        with Image.open(built.folder / stack["image"]) as im:
            want = np.asarray(im.convert("RGB")).astype(int)
        assert np.array_equal(np.asarray(psd.composite().convert("RGB")), want), name  # the merged image
        forced = np.asarray(psd.composite(force=True, ignore_preview=True).convert("RGB")).astype(int)
        assert np.abs(forced - want).max() <= 1, name  # the layers, blended by psd-tools: within a level
        groups = {layer.name: [c.name for c in layer] for layer in psd if layer.is_group()}
        if name == "story":
            assert groups["components"] == ["Lauf weiter", "Jetzt kaufen", "logo"]  # text layers by their text
        if name == "canvas":
            assert [layer.name for layer in psd][0] == "background" and groups["edits"] == ["shadow", "tone"]
    before = {p.name: p.stat().st_ino for p in built.folder.glob("*.psd")}
    (again,) = build_file(brief, options)  # nothing changed: no PSD is written again
    assert {p.name: p.stat().st_ino for p in again.folder.glob("*.psd")} == before


def test_a_psd_keeps_text_layers_in_any_script_and_the_delivered_pixels():
    from psd_tools import PSDImage

    from brief.runtime.deliver.psd import psd_bytes

    flat = np.full((30, 40, 3), 200, np.uint8)
    layer = np.zeros((10, 10, 4), np.uint8)
    layer[..., 0], layer[..., 3] = 255, 77  # half-transparent: psd-tools' own blend would round otherwise
    data = psd_bytes((40, 30), [("Бегите дальше 跑", "component", (5, 5, 15, 15), layer)], flat)
    psd = PSDImage.open(io.BytesIO(data))
    assert [c.name for group in psd if group.is_group() for c in group] == ["Бегите дальше 跑"]
    assert np.array_equal(np.asarray(psd.composite().convert("RGB")), flat)  # the merged image is the delivered one
