"""Content credentials (issue 13): every delivered image of a signed build carries a C2PA manifest
that says what made it (source type, generator, backend, variant, output and node keys, the placed
assets and their hashes), signed with a throwaway test chain made on the fly (never a committed
key); the pixels are the unsigned build's; an altered file is caught by `brief verify`; an
unchanged rebuild does not sign again; brief.toml configures the signer."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brief.lang.paths import user_cache_dir
from brief.runtime.build import Options, build_file
from brief.runtime.conditions import UsageError
from brief.runtime.deliver.credentials import TEST_CHAIN, read
from brief.runtime.deliver.layers import verify_folder

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VARIANT = ["sku=volt,season=summer,lang=de"]


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """The example's volt/summer/de variant built twice: signed, and (elsewhere) not."""
    tmp = tmp_path_factory.mktemp("signed")
    shutil.copytree(EXAMPLES, tmp / "examples")
    brief = tmp / "examples" / "campaign" / "launch.brief"
    (plain,) = build_file(brief, Options(cache=tmp / "cache", out=tmp / "plain", variants=VARIANT, sign="off"))
    (made,) = build_file(brief, Options(cache=tmp / "cache", out=tmp / "out", variants=VARIANT))  # brief.toml: test
    return tmp, brief, plain, made


def delivered(built) -> list[Path]:
    return [built.folder / "canvas.png"] + [built.folder / o["file"] for o in built.manifest["outputs"].values()]


def test_every_delivered_image_says_what_made_it(signed):
    tmp, _, _, made = signed
    root = (user_cache_dir() / TEST_CHAIN / "root.pem").read_bytes()
    placed = (tmp / "examples" / "assets" / "sku-volt.png", tmp / "examples" / "brands" / "assets" / "stride-logo.png")
    assets = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in placed}
    for path in delivered(made):
        r = read(path, root)
        assert r["state"] == "trusted" and not r["problems"], (path.name, r)
        assert r["source"] == "compositeWithTrainedAlgorithmicMedia"  # real assets are placed
        assert r["generator"]["name"] == "brief" and r["build"]["variant"] == made.variant.name
        output = r["build"]["output"]
        assert r["build"]["node"] == (made.variant.image if output == "canvas" else made.variant.outputs[output])
        assert r["build"]["backend"] == made.variant.backend
        assert {i["title"]: i["sha256"] for i in r["ingredients"]} == assets
    assert read(made.folder / "layers" / "product.png")["state"] == "none"  # working layers are not delivered


def test_credentials_leave_the_pixels_alone(signed):
    _, _, plain, made = signed
    for a, b in zip(delivered(plain), delivered(made)):
        assert a.read_bytes() != b.read_bytes()  # a manifest was embedded …
        with Image.open(a) as x, Image.open(b) as y:
            assert np.array_equal(np.asarray(x.convert("RGB")), np.asarray(y.convert("RGB")))  # … the same pixels
    assert all(v == "ok" for _, v in verify_folder(made.folder))


def test_an_altered_image_is_caught(signed, tmp_path):
    _, _, _, made = signed
    story = next(p for p in delivered(made) if p.suffix == ".jpg")
    data = bytearray(story.read_bytes())
    data[-200] ^= 0x55  # inside the compressed pixels, near the end of the file
    bad = tmp_path / story.name
    bad.write_bytes(bytes(data))
    run = subprocess.run([sys.executable, "-m", "brief.cli", "verify", str(story), str(bad)],
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{story}: unaltered; signer trusted" in run.stdout  # the project's brief.toml: its test chain's root
    assert f"{bad}: altered since it was signed" in run.stdout


def test_an_unchanged_rebuild_does_not_sign_again(signed):
    tmp, brief, _, made = signed
    before = {p.name: p.stat().st_ino for p in delivered(made)}
    (again,) = build_file(brief, Options(cache=tmp / "cache", out=tmp / "out", variants=VARIANT, sign="test"))
    assert {p.name: p.stat().st_ino for p in delivered(again)} == before


def test_brief_toml_names_the_signer(project):
    chain = user_cache_dir() / TEST_CHAIN
    path = project.write("s.brief", 'brief s {\n  canvas 64 x 48\n  component c {\n'
                                    '    asset "assets/product.png"\n  }\n}\n')
    (project.root / "keys").mkdir()
    with pytest.raises(UsageError) as info:  # named, but not there
        (project.root / "brief.toml").write_text('[c2pa]\ncert = "keys/chain.pem"\nkey = "keys/key.pem"\n')
        build_file(path, Options(cache=project.root / "cache", out=project.root / "out"))
    assert "cannot sign" in info.value.diagnostics[0].summary and "keys/chain.pem" in info.value.diagnostics[0].summary
    build_file(path, Options(cache=project.root / "cache", out=project.root / "warm", sign="test"))  # makes the chain
    for name in ("chain.pem", "key.pem"):
        shutil.copyfile(chain / name, project.root / "keys" / name)
    (built,) = build_file(path, Options(cache=project.root / "cache", out=project.root / "out"))
    r = read(built.folder / "main.png", (chain / "root.pem").read_bytes())
    assert r["state"] == "trusted" and r["source"] == "compositeWithTrainedAlgorithmicMedia"
    assert json.loads((built.folder / "manifest.json").read_text())["outputs"]["main"]["file"] == "main.png"


def test_a_size_cap_bounds_the_signed_file(project):
    text = ('brief s {{\n  canvas 320 x 240\n  component c {{\n    prompt "grass and sky"\n  }}\n'
            '  output o 320 x 240 fit {{\n    format jpeg quality 95{cap}\n  }}\n}}\n')
    path = project.write("s.brief", text.format(cap=""))
    (plain,) = build_file(path, Options(cache=project.root / "cache", out=project.root / "plain", sign="off"))
    size = (plain.folder / "o.jpg").stat().st_size
    path = project.write("s.brief", text.format(cap=f" max {size + 100}B"))  # fits unsigned, not with credentials
    (built,) = build_file(path, Options(cache=project.root / "cache", out=project.root / "out", sign="test"))
    delivered_file = built.folder / "o.jpg"
    assert delivered_file.stat().st_size <= size + 100
    assert read(delivered_file)["state"] == "valid"
