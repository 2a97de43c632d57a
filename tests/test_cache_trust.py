"""The cache never serves a stale or foreign result and never breaks a build: an object is bound to
its key, gc marks from state records and live leases before it sweeps, an object that vanishes
mid-build is recomputed, and leases and temp files carry host and pid (issue 10, points 2 and 3)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from brief.runtime.build import Options, build_file, plan_file
from brief.runtime.store.cache import Cache
from runtime_helpers import SCENE, build, output_bytes

BUILD = ("import sys; from brief.runtime.build import Options, build_file; "
         "build_file(sys.argv[1], Options(cache=sys.argv[2], out=sys.argv[3]))")


def _swap(cache_root, a: str, b: str) -> None:
    """Exchange two objects together with their .meta files, as an attacker or a bad sync would."""
    def files(key):
        return sorted((cache_root / "objects" / key[:2]).glob(f"{key}.*"))
    fa, fb = files(a), files(b)
    assert [p.suffix for p in fa] == [p.suffix for p in fb]
    for pa, pb in zip(fa, fb):
        tmp = pa.with_name("swap")
        os.replace(pa, tmp)
        os.replace(pb, pa)
        os.replace(tmp, pb)


def _clean_outputs(project, tmp_path):
    build_file(project.root / "scene.brief", Options(cache=tmp_path / "clean", out=tmp_path / "clean-out"))
    return output_bytes(tmp_path / "clean-out")


def test_objects_swapped_with_their_meta_are_refused_and_recomputed(project, tmp_path):
    (summer, _) = build(project, SCENE)
    clean = _clean_outputs(project, tmp_path)
    cache_root = project.root / "cache"
    layers = summer.variant.layers
    _swap(cache_root, layers["kite"], layers["bird"])  # two layer records
    tiles = sorted(p.stem for p in cache_root.glob("objects/*/tile-*.png"))
    _swap(cache_root, tiles[0], tiles[-1])  # two tiles (of other sizes, too)
    shutil.rmtree(project.root / "out")
    warnings = []
    build_file(project.root / "scene.brief", Options(cache=cache_root, out=project.root / "out"), warn=warnings.append)
    assert output_bytes(project.root / "out") == clean
    assert sum("belongs to another key" in w for w in warnings) >= 2, warnings  # each swapped object read is refused


def test_a_read_checks_the_kind_of_object_asked_for(tmp_path):
    cache = Cache(tmp_path / "c", warn=lambda m: None)
    cache.put_json("a" * 64, {"x": 1})
    assert cache.get_png("a" * 64) is None and not cache.has("a" * 64)  # a record is not a picture


def test_gc_never_leaves_a_record_without_its_tiles(project, tmp_path):
    build(project, SCENE)
    clean = _clean_outputs(project, tmp_path)
    cache = Cache(project.root / "cache")
    total = cache.stats().bytes
    cache.gc(total // 2)
    _, plans = plan_file(project.root / "scene.brief", Options(cache=project.root / "cache"))
    for p in plans:
        for key in p.cached:
            assert cache.complete(key), f"plan calls {key[:12]} cached but its parts are gone"
    shutil.rmtree(project.root / "out")
    build(project)
    assert output_bytes(project.root / "out") == clean


def test_objects_that_vanish_before_export_are_recomputed(project, tmp_path):
    build(project, SCENE)
    clean = _clean_outputs(project, tmp_path)
    for tile in (project.root / "cache").glob("objects/*/tile-*"):
        tile.unlink()  # a manual delete, or another host's gc
    for band in (project.root / "cache").glob("objects/*/pngband-*"):
        band.unlink()
    shutil.rmtree(project.root / "out")
    build(project)
    assert output_bytes(project.root / "out") == clean


@pytest.mark.slow
def test_a_gc_loop_beside_running_builds_never_fails_them(project, tmp_path):
    path = project.write("scene.brief", SCENE.replace("320 x 240", "700 x 500"))
    clean = _clean_outputs(project, tmp_path)
    cache_root = project.root / "cache"
    cache = Cache(cache_root)
    for round_ in range(4):
        out = project.root / f"out{round_}"
        text = SCENE.replace("320 x 240", "700 x 500").replace("seed 5", f"seed {5 + round_ % 2}")
        path.write_text(text)
        proc = subprocess.Popen([sys.executable, "-c", BUILD, str(path), str(cache_root), str(out)],
                                stderr=subprocess.PIPE)
        while proc.poll() is None:
            cache.gc(0)  # evict everything it may
            time.sleep(0.005)
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        if round_ % 2 == 0:
            assert output_bytes(out) == clean


def test_lease_and_temp_names_carry_host_and_pid(tmp_path):
    cache = Cache(tmp_path / "c")
    host = socket.gethostname()
    with cache.lease(["a" * 64]):
        (lease,) = (tmp_path / "c" / "leases").glob("*.json")
        assert str(os.getpid()) in lease.name and "".join(ch for ch in host if ch.isalnum())[:8] in lease.name
    # a temp file of another host is not this host's dead process: only swept when old
    foreign = tmp_path / "c" / "objects" / "ab"
    foreign.mkdir(parents=True)
    other = foreign / ".tmp-otherhost~1~abcd-x.png"
    other.write_bytes(b"partial")
    mine_dead = foreign / f".tmp-{Cache.host_tag()}~999999~abcd-y.png"
    mine_dead.write_bytes(b"partial")
    Cache(tmp_path / "c")
    assert other.exists() and not mine_dead.exists()
    old = time.time() - 7200
    os.utime(other, (old, old))
    Cache(tmp_path / "c")
    assert not other.exists()


def test_records_with_odd_refs_and_leases_with_odd_fields_are_not_trusted(tmp_path):
    cache = Cache(tmp_path / "c", warn=lambda m: None)
    cache.put_json("a" * 64, {"x": 1}, refs=["tile-" + "1" * 59])
    meta = tmp_path / "c" / "objects" / "aa" / ("a" * 64 + ".meta")
    meta.write_text(meta.read_text().replace('"tile-' + "1" * 59 + '"', "1"))
    assert not cache.complete("a" * 64) and cache.get_json("a" * 64) is None
    (tmp_path / "c" / "leases" / "h~1~x.json").write_text('{"host": "h", "pid": 1, "started": "x", "keys": [3]}')
    (tmp_path / "c" / "leases" / "h~2~x.json").write_text("[" * 100_000 + "]" * 100_000)
    cache.put_json("b" * 64, {"x": 2})
    os.utime(cache._meta_path("b" * 64), (1000, 1000))  # last used long ago
    cache.gc(0)
    assert not cache.has("b" * 64), "gc went on past the odd leases"


def test_a_lease_of_another_host_protects_until_it_goes_stale(tmp_path):
    cache = Cache(tmp_path / "c")
    cache.put_png("tile-" + "1" * 59, np.zeros((4, 4, 3), np.uint8))
    lease = tmp_path / "c" / "leases" / "otherhost~42~beef.json"
    lease.write_text('{"host": "otherhost", "pid": 42, "started": 0, "keys": ["tile-' + "1" * 59 + '"]}')
    cache.gc(0)
    assert cache.has("tile-" + "1" * 59), "a fresh lease of another machine holds"
    old = time.time() - 3600
    os.utime(lease, (old, old))
    cache.gc(0)
    assert not cache.has("tile-" + "1" * 59), "a lease whose holder stopped renewing it is stale"


def test_state_records_of_the_wrong_shape_count_as_no_last_build(project):
    build(project, SCENE)
    for i, state in enumerate(sorted((project.root / "cache" / "state").glob("*.json"))):
        state.write_text(['{"nodes": [1, 2]}', '"abc"', "null", '{"nodes": {"x": {"key": 3, "params": []}}}'][i % 4])
    assert build(project, SCENE.replace("seed 5", "seed 6"))
    Cache(project.root / "cache").gc(0)


def test_a_fifo_in_the_cache_never_blocks(project):
    build(project, SCENE)
    root = project.root / "cache"
    meta = sorted(root.glob("objects/*/*.meta"))[0]
    tile = sorted(root.glob("objects/*/tile-*.png"))[0]
    state = sorted(root.glob("state/*.json"))[0]
    for path in (meta, tile, state):
        path.unlink()
        os.mkfifo(path)
    shutil.rmtree(project.root / "out")
    code = ("import sys; from brief.runtime.build import Options, build_file; "
            "from brief.runtime.store.cache import Cache; "
            "build_file(sys.argv[1], Options(cache=sys.argv[2], out=sys.argv[3])); c = Cache(sys.argv[2]); "
            "c.stats(); c.gc(0)")
    done = subprocess.run([sys.executable, "-c", code, str(project.root / "scene.brief"), str(root),
                           str(project.root / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
