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
    blobs = {path: unpack(s3.fs.cat_file(path)) for path in sorted(_objects(s3))}  # path: (data, .meta)
    records = {path: json.loads(meta) for path, (_, meta) in blobs.items()}
    png = next(path for path, r in records.items() if r["ext"] == "png")
    s3.fs.pipe_file(png, pack(b"\x89PNG not the pixels", blobs[png][1]))  # corrupt data under its own .meta
    images = [path for path, r in records.items() if r["meta"].get("kind") == "image"]  # composites, edits
    for victim, other in zip(images, images[1:] + images[:1]):
        s3.fs.pipe_file(victim, pack(blobs[victim][0], blobs[other][1]))  # each one's .meta swapped for another's
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
