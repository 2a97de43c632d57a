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


def _meta(key: str, data: bytes, ext: str = "png", refs: tuple[str, ...] = ()) -> bytes:
    import hashlib

    return json.dumps({"key": key, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "ext": ext,
                       "refs": sorted(refs), "meta": {}}, sort_keys=True).encode()


def test_latents_a_record_holds_are_still_found_by_their_own_key(tmp_path, s3):
    """A generated layer's record refers to its latents, which a finishing change (opacity, feather:
    another node key, the same latents) looks up by their own key on another machine; held only
    inside the record's object, they would be a miss there, and a diffusion run again."""
    import numpy as np

    from brief.runtime.store.cache import Cache
    from brief.runtime.store.remote import Remote

    latents, record, tile = "latents-" + "a" * 64, "b" * 64, "tile-" + "c" * 40
    made = Cache(tmp_path / "a", remote=Remote(s3.url))
    assert made.get_tensors(latents) is None  # looked up first, as the diffusers backend does, then made
    made.put_tensors(latents, {"latents": np.arange(8, dtype=np.float32)})
    made.put(tile, b"pixels", "png")
    made.put_json(record, {"tiles": [[tile]]}, refs=[latents, tile])
    made.remote.close()
    other = Cache(tmp_path / "b", remote=Remote(s3.url))  # opacity changed there: the record's key is another
    got = other.get_tensors(latents)
    assert got is not None and got[0]["latents"].tolist() == list(range(8))
    assert other.fetched == {latents}


def test_a_bundle_that_holds_one_key_twice_is_not_trusted(s3):
    """An object of the bucket holds each key once (`pack` is given each once): a second entry under
    the root's key, with other content and no refs, must not replace the root that was verified."""
    from brief.runtime.store.remote import Remote

    root, tile = "r" * 64, "tile-" + "t" * 40
    forged = b'{"tiles":[]}'
    s3.fs.pipe_file(f"{s3.url[5:]}/objects/{root[:2]}/{root}.brf", pack([
        (b'{"tiles":[["%s"]]}' % tile.encode(), _meta(root, b'{"tiles":[["%s"]]}' % tile.encode(), "json", (tile,))),
        (b"pixels", _meta(tile, b"pixels")), (forged, _meta(root, forged, "json"))]))
    warnings: list[str] = []
    stored: dict[str, bytes] = {}
    tier = Remote(s3.url, warn=warnings.append)
    assert not tier.fetch(root, lambda k, d, m: stored.__setitem__(k, d), lambda k: False)
    assert stored == {} and tier.counts["rejected"] == 1 and len(warnings) == 1, (stored, warnings)


def test_a_bundle_without_what_its_objects_refer_to_is_a_miss_never_a_partial_object(s3):
    """A record's object holds a tile whose own ref (deeper) is neither in it, nor in the bucket alone,
    nor local: the record is not whole, so nothing of it is stored and the build makes it."""
    from brief.runtime.store.remote import Remote

    root, mid, deep = "r" * 64, "m" * 64, "d" * 64
    body = b'{"mid":1}'
    s3.fs.pipe_file(f"{s3.url[5:]}/objects/{root[:2]}/{root}.brf", pack([
        (body, _meta(root, body, "json", (mid,))), (b"mid", _meta(mid, b"mid", "bin", (deep,)))]))
    stored: list[str] = []
    tier = Remote(s3.url)
    assert not tier.fetch(root, lambda k, d, m: stored.append(k), lambda k: False)
    assert stored == [] and tier.counts["misses"] == 1 and tier.counts["hits"] == 0


def test_an_object_of_the_former_format_is_a_quiet_miss(s3):
    """A bucket filled by the release before bundles (MAGIC BRF1: one object each) is not corrupt: its
    objects are plain misses, rebuilt and replaced, without a warning for each."""
    from brief.runtime.store.remote import Remote

    key, data = "k" * 64, b"pixels"
    meta = _meta(key, data)
    s3.fs.pipe_file(f"{s3.url[5:]}/objects/{key[:2]}/{key}.brf", b"BRF1" + len(meta).to_bytes(4, "big") + meta + data)
    warnings: list[str] = []
    tier = Remote(s3.url, warn=warnings.append)
    assert not tier.fetch(key, lambda *a: None, lambda k: False)
    assert warnings == [] and tier.counts["rejected"] == 0 and tier.counts["misses"] == 1


def test_a_remote_object_stores_only_its_own_closure_and_nothing_already_here(tmp_path, s3):
    """What an object of the bucket holds beyond what it refers to is not stored; what it refers to
    that this cache has already is neither stored again nor counted as fetched."""
    from brief.runtime.store.cache import Cache
    from brief.runtime.store.remote import Remote

    record, tile, here, stray = "r" * 64, "tile-" + "t" * 40, "tile-" + "h" * 40, "s" * 64
    body = json.dumps({"tiles": [[tile, here]]}).encode()
    s3.fs.pipe_file(f"{s3.url[5:]}/objects/{record[:2]}/{record}.brf", pack([
        (body, _meta(record, body, "json", (tile, here))), (b"t", _meta(tile, b"t")), (b"h", _meta(here, b"h")),
        (b"stray", _meta(stray, b"stray"))]))
    Cache(tmp_path / "b").put(here, b"h", "png")
    before = (tmp_path / "b" / "objects" / here[:2] / f"{here}.meta").stat().st_ino  # a store replaces the file
    cache = Cache(tmp_path / "b", remote=Remote(s3.url))
    assert cache.get_json(record) == {"tiles": [[tile, here]]}
    assert cache.fetched == {record, tile} and not (tmp_path / "b" / "objects" / stray[:2]).exists()
    assert (tmp_path / "b" / "objects" / here[:2] / f"{here}.meta").stat().st_ino == before


@pytest.mark.parametrize("blob", [
    b"BRF2" + (2**32 - 1).to_bytes(4, "big"),  # a count far past what follows
    b"BRF2" + (1).to_bytes(4, "big") + (10).to_bytes(4, "big") + (2**63).to_bytes(8, "big") + b"x" * 10,  # sizes too
    b"BRF2" + (0).to_bytes(4, "big"), b"BRF2", b""])
def test_a_header_that_claims_more_than_the_object_holds_is_refused_at_once(blob):
    with pytest.raises(ValueError):
        unpack(blob)


def test_an_object_whose_data_would_overwrite_its_own_metadata_is_not_trusted(s3):
    """`.meta` is the commit marker beside each object's data: an object whose extension is `meta`
    would write its data there."""
    from brief.runtime.store.remote import Remote

    key, data = "k" * 64, b"data"
    s3.fs.pipe_file(f"{s3.url[5:]}/objects/{key[:2]}/{key}.brf", pack([(data, _meta(key, data, "meta"))]))
    stored: list[str] = []
    tier = Remote(s3.url, warn=lambda m: None)
    assert not tier.fetch(key, lambda k, d, m: stored.append(k), lambda k: False)
    assert stored == [] and tier.counts["rejected"] == 1


def test_an_untrusted_object_is_replaced_by_the_one_made_here_even_when_a_record_holds_it(tmp_path, s3):
    """A corrupt object in the bucket (latents, under their own key) is recomputed, and what this
    machine made replaces it there, though the record that refers to it holds it too."""
    import numpy as np

    from brief.runtime.store.cache import Cache
    from brief.runtime.store.remote import Remote

    latents, record = "latents-" + "e" * 64, "f" * 64
    s3.fs.pipe_file(f"{s3.url[5:]}/objects/{latents[:2]}/{latents}.brf",
                    pack([(b"garbage", _meta(latents, b"not the garbage", "safetensors"))]))
    made = Cache(tmp_path / "a", remote=Remote(s3.url, warn=lambda m: None))
    assert made.get_tensors(latents) is None and made.remote.counts["rejected"] == 1
    made.put_tensors(latents, {"latents": np.ones(4, dtype=np.float32)})
    made.put_json(record, {"latents": latents}, refs=[latents])
    made.remote.close()
    warnings: list[str] = []
    other = Cache(tmp_path / "b", remote=Remote(s3.url, warn=warnings.append))
    got = other.get_tensors(latents)
    assert got is not None and got[0]["latents"].tolist() == [1.0] * 4 and warnings == []
