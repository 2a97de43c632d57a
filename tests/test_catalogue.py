"""The catalogue constructs built end to end (issue 12, in progress): matrix fields bind per
variant (only the variants that use a changed field render again), text layers are typeset
deterministically, lossy delivery formats honour a size cap or fail naming the output, and
`check visible` fails an output that cuts its component."""

from __future__ import annotations

import hashlib

import pytest

from brief.lang.fmt import format_module
from brief.lang.parser import parse
from brief.runtime.build import Options, build_file
from brief.runtime.render.execute import BuildError

BRIEF = '''brand s {{
  color ink  #14161A
  color volt #D4FF3A
  color navy #1F2A44
  font display "fonts/Display-Bold.ttf"
}}
brief cat {{
  canvas 320 x 240
  brand s
  matrix sku {{
    volt "neon volt runner" {{ asset "assets/product.png" color volt }}
    navy "deep navy runner" {{ asset "assets/logo.png" color navy }}
  }}
  matrix lang {{
    en "English" {{ headline "{en}" }}
    de "Deutsch" {{ headline "{de}" }}
  }}
  component backdrop {{
    prompt "{{sku}}, studio floor"
    region full
  }}
  component product {{
    asset "{{sku.asset}}"
    region box 30% 40% 70% 90%
    z 10
  }}
  component headline {{
    text "{{lang.headline}}"
    font display
    size auto 10px 40px
    color ink
    region box 5% 5% 95% 30%
    z 30
  }}
  edit tone {{
    recolor product to sku.color
  }}
  check visible headline
  output wide 320 x 120 {mode} {{
    format jpeg quality 80{cap}
    file "{{brief}}-{{sku.name}}-{{lang.name}}.jpg"
  }}
}}
'''


def write(project, en="Run further", de="Lauf weiter", mode="fit", cap=""):
    return project.write("cat.brief", BRIEF.format(en=en, de=de, mode=mode, cap=cap))


def build(project, path, **kw):
    return build_file(path, Options(cache=project.root / "cache", out=project.root / "out", **kw))


def digests(built) -> dict[str, str]:
    return {b.variant.name: hashlib.sha256((b.folder / "canvas.png").read_bytes()).hexdigest() for b in built}


def test_fields_bind_per_variant_and_a_changed_field_renders_only_its_variants(project):
    path = write(project)
    first = build(project, path, checks=False)
    before = digests(first)
    assert len(first) == 4
    products = {b.variant.name: b.variant.layers["product"] for b in first}
    assert products["cat[sku=volt,lang=en]"] != products["cat[sku=navy,lang=en]"]  # its own photo
    assert products["cat[sku=volt,lang=en]"] == products["cat[sku=volt,lang=de]"]  # shared across languages
    assert first[0].manifest["layers"]["headline"]["text"] == "Run further"  # a text layer says what it reads
    for b in first:  # the delivery name interpolates fields, the file is a real JPEG
        sku, lang = b.variant.axes["sku"], b.variant.axes["lang"]
        data = (b.folder / f"cat-{sku}-{lang}.jpg").read_bytes()
        assert data[:3] == b"\xff\xd8\xff"
    again = build(project, write(project, de="Lauf weiter, immer weiter"), checks=False)
    ran = {b.variant.name: bool(b.run.ran) for b in again}
    assert ran == {"cat[sku=volt,lang=en]": False, "cat[sku=navy,lang=en]": False,
                   "cat[sku=volt,lang=de]": True, "cat[sku=navy,lang=de]": True}
    after = digests(again)
    assert all(before[v] == after[v] for v in before if "lang=en" in v)
    assert all(before[v] != after[v] for v in before if "lang=de" in v)


def test_text_is_bit_identical_clean_and_incremental(project, tmp_path):
    path = write(project)
    build(project, path, checks=False)
    build(project, write(project, en="Something else"), checks=False)
    incremental = digests(build(project, write(project), checks=False))
    clean = build_file(path, Options(cache=tmp_path / "other-cache", out=tmp_path / "other-out", checks=False))
    assert digests(clean) == incremental


def test_fmt_keeps_the_catalogue_constructs(project):
    text = BRIEF.format(en="Run", de="Lauf", mode="crop", cap=" max 40KB")
    once = format_module(parse(text), text)
    assert format_module(parse(once), once) == once
    assert 'volt "neon volt runner" { asset "assets/product.png" color volt }' in once
    assert "format jpeg quality 80 max 40KB" in once


def test_an_impossible_size_cap_fails_naming_the_output(project):
    path = write(project, cap=" max 1KB")
    with pytest.raises(BuildError) as info:
        build(project, path, checks=False)
    assert "output wide" in str(info.value) and "no jpeg quality fits max 1 KB" in str(info.value)


def test_a_crop_that_cuts_the_text_fails_visible(project):
    fit = build(project, write(project, mode="fit"), variants=["sku=volt,lang=en"])
    crop = build(project, write(project, mode="crop"), variants=["sku=volt,lang=en"])

    def visible(built):
        return next(c["result"] for c in built[0].manifest["checks"] if c["result"]["rule"] == "visible")

    assert visible(fit)["status"] == "pass"
    assert visible(crop)["status"] == "fail" and "wide" in visible(crop)["measured"]
