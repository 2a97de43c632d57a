"""Faults the runtime must survive: corrupt and truncated objects, kill -9 mid-build, concurrent
builds, a capped cache, and hostile assets (DESIGN's bad-input list, items 4–7 and 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from brief.lang.compile import node_key
from brief.lang.diagnostics import DiagnosticError
from brief.runtime.backends import draft
from brief.runtime.build import Options
from brief.runtime.render.execute import BuildError
from brief.runtime.store.cache import Cache, parse_size
from runtime_helpers import SCENE, build, output_bytes


def objects(project, ext):
    return sorted((project.root / "cache" / "objects").glob(f"*/*.{ext}"))


def test_corrupt_object_is_detected_rebuilt_same_bytes(project):
    build(project, SCENE)
    before = output_bytes(project.root / "out")
    layer = next(iter(b for b in build(project)[:1])).variant.layers["kite"]
    data = next(project.root.glob(f"cache/objects/{layer[:2]}/{layer}.json"))
    data.write_bytes(data.read_bytes()[:-10] + b"garbage")  # corrupted record
    tile = objects(project, "png")[0]
    tile.write_bytes(tile.read_bytes()[: len(tile.read_bytes()) // 2])  # truncated
    for out in (project.root / "out").rglob("*.png"):
        out.unlink()  # force export to read everything again
    warnings = []
    again = build_file_warn(project, warnings)
    assert any("corrupt" in w for w in warnings)
    assert output_bytes(project.root / "out") == before
    assert any(b.run.recomputed for b in again)


def build_file_warn(project, warnings):
    from brief.runtime.build import build_file
    return build_file(project.root / "scene.brief", Options(cache=project.root / "cache", out=project.root / "out"),
                      warn=warnings.append)


BUILD = ("import sys; from brief.runtime.build import Options, build_file; "
         "build_file(sys.argv[1], Options(cache=sys.argv[2], out=sys.argv[3]))")


@pytest.mark.slow
def test_kill_9_mid_build_then_next_build_succeeds_with_same_bytes(project, tmp_path):
    path = project.write("scene.brief", SCENE.replace("320 x 240", "1600 x 1200"))
    cache, out = project.root / "cache", project.root / "out"
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(path), str(cache), str(out)])
    deadline = time.time() + 60
    while time.time() < deadline and len(list(cache.glob("objects/*/*.meta"))) < 6:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    from brief.runtime.build import build_file
    build_file(path, Options(cache=cache, out=out))
    assert not list(cache.rglob(".tmp-*")), "temp files of the killed build were swept"
    build_file(path, Options(cache=tmp_path / "clean", out=tmp_path / "clean-out"))
    assert output_bytes(out) == output_bytes(tmp_path / "clean-out")


@pytest.mark.slow
def test_two_builds_at_once_on_one_cache_both_succeed_identically(project, tmp_path):
    path = project.write("scene.brief", SCENE.replace("320 x 240", "900 x 700"))
    cache = project.root / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(path), str(cache), str(project.root / f"out{i}")],
                              stderr=subprocess.PIPE) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    assert output_bytes(project.root / "out0") == output_bytes(project.root / "out1")


def test_same_key_written_twice_concurrently_stays_whole(tmp_path):
    cache = Cache(tmp_path / "c")
    code = ("import sys, numpy as np; from brief.runtime.store.cache import Cache; c = Cache(sys.argv[1]); "
            "[c.put_png('k' * 64, np.full((300, 300, 3), 7, np.uint8)) for _ in range(30)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "c")]) for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    array, _ = cache.get_png("k" * 64)
    assert array.shape == (300, 300, 3) and (array == 7).all()
    assert not list((tmp_path / "c").rglob(".tmp-*"))


def test_gc_evicts_lru_but_never_what_a_running_build_holds(tmp_path):
    cache = Cache(tmp_path / "c")
    for i in range(10):
        cache.put(f"{i:064d}", os.urandom(10_000), "bin")
        os.utime(cache._meta_path(f"{i:064d}"), (1000 + i, 1000 + i))
    held = {f"{0:064d}", f"{1:064d}"}
    with cache.lease(held):
        evicted, freed = cache.gc(35_000)
    assert evicted == 7 and freed > 60_000
    left = {p.stem for p in (tmp_path / "c" / "objects").glob("*/*.meta")}
    assert held <= left and f"{9:064d}" in left  # the held ones and the most recent stay
    assert parse_size("1.5G") == int(1.5 * 1024 ** 3) and parse_size("500M") == 500 * 1024 ** 2


def test_other_library_versions_or_backend_lock_give_other_keys():
    declared = {"backend": "draft"}
    lock = draft.lock(declared)
    assert {"numpy", "opencv", "pillow", "draft"} <= set(lock)
    params = {"prompt": "x", "negative": ""}
    a = node_key("encode_prompt", params, [], lock)
    assert a != node_key("encode_prompt", params, [], {**lock, "numpy": "0.0.1"})
    assert a != node_key("encode_prompt", params, [], {"backend": "diffusers", "model": "m", "revision": "r2"})


def test_decompression_bomb_and_unsupported_image_are_refused(project):
    bomb = Image.new("1", (20000, 20000))
    bomb.save(project.root / "assets" / "bomb.png")  # tiny file, 400 megapixels
    text = SCENE.replace('asset "assets/logo.png"', 'asset "assets/bomb.png"')
    with pytest.raises(BuildError) as info:
        build(project, text)
    assert "bomb.png" in str(info.value) and "decompression bomb" in str(info.value)
    (project.root / "assets" / "fake.png").write_bytes(b"this is not a png at all")
    with pytest.raises(DiagnosticError) as diag:  # refused by the checker, from its first bytes
        build(project, SCENE.replace('asset "assets/logo.png"', 'asset "assets/fake.png"'))
    assert [d.code for d in diag.value.diagnostics] == ["E361"]
    good = (project.root / "assets" / "logo.png").read_bytes()
    (project.root / "assets" / "broken.png").write_bytes(good[:40])  # a PNG header, then nothing
    with pytest.raises(BuildError) as info:
        build(project, SCENE.replace('asset "assets/logo.png"', 'asset "assets/broken.png"'))
    assert "broken.png" in str(info.value) and "scene.brief:" in str(info.value)


def test_empty_cache_folder_is_created_and_stats_count(tmp_path):
    cache = Cache(tmp_path / "new" / "cache")
    cache.put_json("a" * 64, {"x": 1})
    cache.put_tensors("b" * 64, {"latents": np.zeros((1, 4, 8, 8), np.float32)})
    st = cache.stats()
    assert st.objects == 2 and set(st.by_kind) == {"json", "safetensors"}
    tensors, _ = cache.get_tensors("b" * 64)
    assert tensors["latents"].shape == (1, 4, 8, 8)
