"""The cache's remote tier against a real S3 server (SeaweedFS, tests/seaweed.py): two machines with
their own local caches and one bucket in common. What one builds, the other fetches instead of
rendering, byte for byte; a corrupt or foreign remote object is not trusted and is recomputed; a
read-only tier uploads nothing; a bad URL or a missing bucket is one line before any work."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("s3fs")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from brief.runtime.store.remote import pack, unpack  # noqa: E402
from runtime_helpers import SCENE, output_bytes, ran  # noqa: E402
from test_cli import run  # noqa: E402


def _build(project, machine: str, url: str, text: str = SCENE, **kw):
    project.write("scene.brief", text)
    return build_file(project.root / "scene.brief", Options(cache=project.root / machine / "cache",
                                                            out=project.root / machine / "out", remote_cache=url, **kw))


def _objects(s3) -> set[str]:
    return {p for p in s3.fs.find(s3.url[5:]) if p.endswith(".brf")}


def test_a_second_machine_fetches_what_the_first_rendered(project, s3):
    first = _build(project, "a", s3.url)
    assert ran(first) and first[0].tiers["uploaded"] > 0 and first[0].tiers["failed"] == 0
    uploaded = _objects(s3)
    assert len(uploaded) == first[0].tiers["uploaded"]  # every object it made, once
    second = _build(project, "b", s3.url)  # another machine: an empty local cache, the same bucket
    assert ran(second) == set() and second[0].tiers["remote"] > 0 and second[0].tiers["uploaded"] == 0
    assert output_bytes(project.root / "b" / "out") == output_bytes(project.root / "a" / "out")
    assert _objects(s3) == uploaded
    third = _build(project, "b", s3.url)  # now local: no transfer
    assert ran(third) == set() and third[0].tiers["remote"] == 0 and third[0].tiers["down_bytes"] == 0


def test_a_corrupt_or_foreign_remote_object_is_recomputed_never_trusted(project, s3):
    _build(project, "a", s3.url)
    blobs = {path: unpack(s3.fs.cat_file(path)) for path in sorted(_objects(s3))}  # path: [(data, .meta), …]
    records = {path: json.loads(entries[0][1]) for path, entries in blobs.items()}  # each object's own first
    holder = next(path for path, entries in blobs.items() if len(entries) > 1)  # a record, holding its tiles
    own, (_, tile_meta), *rest = blobs[holder]
    s3.fs.pipe_file(holder, pack([own, (b"\x89PNG not the pixels", tile_meta), *rest]))  # a tile's data corrupt
    images = [path for path, r in records.items() if r["meta"].get("kind") == "image" and path != holder]
    assert len(images) >= 2
    for victim, other in zip(images, images[1:] + images[:1]):  # each one's .meta swapped for another's
        s3.fs.pipe_file(victim, pack([(blobs[victim][0][0], blobs[other][0][1]), *blobs[victim][1:]]))
    warnings: list[str] = []
    second = build_file(project.root / "scene.brief", Options(cache=project.root / "b" / "cache",
                                                              out=project.root / "b" / "out", remote_cache=s3.url),
                        warn=warnings.append)
    assert second[0].tiers["rejected"] == len(warnings) >= 2 and ran(second)  # those recomputed …
    assert any("does not match its hash" in w for w in warnings) and any("another key" in w for w in warnings)
    assert output_bytes(project.root / "b" / "out") == output_bytes(project.root / "a" / "out")  # … the same bytes


def test_read_only_fetches_and_uploads_nothing(project, s3):
    _build(project, "a", s3.url)
    before = _objects(s3)
    changed = SCENE.replace('"a red kite"', '"a blue kite"')
    built = _build(project, "b", s3.url, changed, remote_read_only=True)
    assert built[0].tiers["remote"] > 0 and "generate component kite" in ran(built)
    assert _objects(s3) == before and built[0].tiers["uploaded"] == 0


def test_a_bad_url_or_a_missing_bucket_is_one_line_before_any_work(project, s3):
    for url, words in (("http://nope", "not a remote cache URL"), ("s3://no-such-bucket/p", "does not exist")):
        with pytest.raises(DiagnosticError, match=words):
            _build(project, "a", url)
    assert not (project.root / "a" / "out").exists()


def test_cache_stats_shows_local_and_remote_hits(project, s3):
    _build(project, "a", s3.url)
    res = run("build", project.root / "scene.brief", "-q", "--cache", project.root / "b" / "cache",
              "--out", project.root / "b" / "out", "--remote-cache", s3.url, "--no-checks")
    assert res.returncode == 0 and "remote hits" in res.stdout, res.stderr
    res = run("cache", "stats", "--cache", project.root / "b" / "cache")
    assert res.returncode == 0 and "local hits" in res.stdout and s3.url in res.stdout, res.stdout


def test_the_tier_comes_from_the_flag_else_the_environment_else_brief_toml(tmp_path, monkeypatch):
    from brief.runtime.store.remote import RemoteError, configured

    monkeypatch.delenv("BRIEF_REMOTE_CACHE", raising=False)
    monkeypatch.delenv("BRIEF_REMOTE_READ_ONLY", raising=False)
    assert configured(None, None, tmp_path) == (None, False)
    (tmp_path / "brief.toml").write_text('[cache]\nremote = "s3://toml/p"\nread_only = true\n')
    assert configured(None, None, tmp_path) == ("s3://toml/p", True)
    monkeypatch.setenv("BRIEF_REMOTE_CACHE", "s3://env/p")
    monkeypatch.setenv("BRIEF_REMOTE_READ_ONLY", "0")
    assert configured(None, None, tmp_path) == ("s3://env/p", False)
    assert configured("s3://flag/p", True, tmp_path) == ("s3://flag/p", True)
    (tmp_path / "brief.toml").write_text("[cache\n")
    with pytest.raises(RemoteError, match="cannot read .*brief.toml"):
        configured("s3://flag/p", None, tmp_path)


def _sent(s3) -> dict[str, list[str]]:
    """Each remote object's key: the keys it holds, its own first."""
    return {path.rsplit("/", 1)[1][:-len(".brf")]: [json.loads(meta)["key"] for _, meta in unpack(s3.fs.cat_file(path))]
            for path in _objects(s3)}


def test_a_record_travels_with_what_it_refers_to_one_request_each_way(tmp_path, s3):
    """A record goes up in one object holding its tiles (those made before the tier was on too), and
    a machine that lacks it fetches it, tiles and all, in one request: hundreds of small requests per
    image were most of a farm's transfer time. What nothing refers to goes up alone."""
    from brief.runtime.store.cache import Cache
    from brief.runtime.store.remote import Remote

    old = "tile-" + "c" * 40
    Cache(tmp_path / "a").put(old, b"made before the tier was on", "png")
    made = Cache(tmp_path / "a", remote=Remote(s3.url))
    tiles = ["tile-" + c * 40 for c in "de"]
    for tile in tiles:
        made.put(tile, tile.encode(), "png")
    record, alone = "f" * 64, "1" * 64
    made.put_json(record, {"tiles": [*tiles, old]}, refs=[*tiles, old])
    made.put_json(alone, {"checked": True})
    made.remote.close()
    sent = _sent(s3)
    assert set(sent) == {record, alone} and sorted(sent[record][1:]) == sorted([*tiles, old])
    assert made.remote.counts["uploaded"] == 2
    fresh = Cache(tmp_path / "b", remote=Remote(s3.url))
    assert fresh.get_json(record) == {"tiles": [*tiles, old]} and fresh.get(old)[0] == b"made before the tier was on"
    assert fresh.remote.counts["asked"] == 1 and fresh.fetched == {record, old, *tiles}


def test_tiles_wait_for_their_record_when_the_queue_goes_up_early(tmp_path, s3, monkeypatch):
    """A queue that passes its size goes up before the build ends: tiles nothing queued refers to yet
    wait for the record that will (else they would go up alone, and again inside it)."""
    from brief.runtime.store import remote
    from brief.runtime.store.cache import Cache

    monkeypatch.setattr(remote, "BATCH_BYTES", 1)  # every put passes it
    monkeypatch.setattr(remote, "CHUNK_BYTES", 1)  # and each object is a chunk of its own
    made = Cache(tmp_path / "a", remote=remote.Remote(s3.url))
    tiles = ["tile-" + c * 40 for c in "de"]
    for tile in tiles:
        made.put(tile, tile.encode(), "png")
    assert _objects(s3) == set()  # held back
    made.put_json("f" * 64, {"tiles": tiles}, refs=tiles)
    made.put_json("e" * 64, {"tiles": tiles[:1]}, refs=tiles[:1])
    made.remote.close()
    sent = _sent(s3)
    assert set(sent) == {"f" * 64, "e" * 64} and sorted(sent["f" * 64][1:]) == sorted(tiles)
    assert sent["e" * 64][1:] == tiles[:1]  # a tile an earlier upload held, held again: each object is whole
