"""The cache's remote tier as a demanding user meets it (issue 18's review): a store that is down, or
stops answering midway, costs one warning and the build completes with the local cache alone (never
a wait per object); wrong credentials are named as such, never as a missing bucket, and never
echoed; a key that may only read costs one warning; an odd URL or `--remote-read-only` without a tier
is one line; a remote object cannot make the local cache write outside its folder; `brief plan`
checks the bucket, reads it, writes nothing to it, and still plans on a cache that cannot take what
the bucket holds; what came from the bucket counts as remote hits and within the cache's budget; a
key the bucket lacks is asked for once.

The store is SeaweedFS (tests/seaweed.py), which checks keys; "down" is a loopback port nothing
listens on, with botocore told to try once (AWS_MAX_ATTEMPTS, its standard setting)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest

pytest.importorskip("s3fs")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.build import Options, build_file, cache_for, plan_file  # noqa: E402
from brief.runtime.store.remote import Remote, RemoteError, configured, pack, unpack  # noqa: E402
from runtime_helpers import output_bytes, ran  # noqa: E402
from seaweed import READER, WRITER  # noqa: E402
from test_cli import run  # noqa: E402

TINY = '''brief tiny {
  canvas 96 x 64
  seed 3
  component sky {
    prompt "a sky"
    region full
  }
  component product {
    asset "assets/product.png"
    region box 30% 30% 70% 90%
    z 10
  }
  edit tidy {
    remove box 2% 2% 20% 20%
  }
}
'''


def _options(project, machine: str, url: str | None, **kw) -> Options:
    return Options(cache=project.root / machine / "cache", out=project.root / machine / "out", remote_cache=url, **kw)


def _build(project, machine: str, url: str | None, warn=None, **kw):
    path = project.write("tiny.brief", TINY)
    return build_file(path, _options(project, machine, url, **kw), warn=warn)


def _unreachable(monkeypatch) -> None:
    """Point the tier at a loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "brief-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "brief-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "BRIEF_REMOTE_CACHE", "BRIEF_REMOTE_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)


def test_a_store_that_is_down_is_one_warning_and_the_build_completes_locally(project, monkeypatch):
    _unreachable(monkeypatch)
    warnings: list[str] = []
    started = time.perf_counter()
    built = _build(project, "a", "s3://brief-down/p", warn=warnings.append)
    took = time.perf_counter() - started
    assert ran(built) and built[0].tiers["remote"] == 0 and built[0].tiers["uploaded"] == 0
    assert built[0].tiers["failed"] == len(list((project.root / "a" / "cache" / "objects").glob("*/*.meta")))
    assert len(warnings) == 1 and "s3://brief-down/p" in warnings[0] and "unreachable" in warnings[0], warnings
    assert took < 10, took
    alone = _build(project, "b", None)  # the same bytes as without the tier
    assert output_bytes(project.root / "a" / "out") == output_bytes(project.root / "b" / "out") and ran(alone)


def test_a_store_that_fails_midway_is_asked_once_then_left_alone(monkeypatch):
    """A store that stops answering after the check (a farm worker checks once per process): the first
    failed request says so, once; every later fetch is a miss and every upload stays local at once,
    without a request (each would wait out its retries: about ten seconds with botocore's defaults)."""
    _unreachable(monkeypatch)
    warnings: list[str] = []
    tier = Remote("s3://brief-gone/p", warn=warnings.append)
    stored: list[str] = []
    keys = [hashlib.sha256(bytes([i])).hexdigest() for i in range(20)]
    started = time.perf_counter()
    assert not any(tier.fetch(k, lambda k, d, m: stored.append(k), lambda k: False) for k in keys)
    tier.upload(keys[0], "png", b"data", b"{}")
    tier.close()
    assert time.perf_counter() - started < 3
    assert stored == [] and tier.counts["misses"] == 20 and tier.counts["failed"] == 1
    assert len(warnings) == 1 and "s3://brief-gone/p is unreachable" in warnings[0], warnings


def test_wrong_credentials_are_named_and_never_echoed(project, s3, monkeypatch):
    for name, value in (("AWS_SECRET_ACCESS_KEY", "not-the-secret-9f2c"), ("AWS_ACCESS_KEY_ID", "AKIDNOBODY42")):
        monkeypatch.setenv(name, value)
        with pytest.raises(DiagnosticError) as info:
            _build(project, "a", s3.url)
        (found,) = info.value.diagnostics
        text = f"{found.summary} {found.detail}"
        assert "denied" in text and "credentials" in text and "does not exist" not in text, text
        assert value not in text and "brief-test-secret" not in text
    assert not (project.root / "a" / "out").exists()


def test_a_key_that_may_only_read_costs_one_warning_and_the_build_completes(project, s3, monkeypatch):
    _build(project, "a", s3.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER[1])
    warnings: list[str] = []
    path = project.write("tiny.brief", TINY.replace('"a sky"', '"a night sky"'))
    built = build_file(path, _options(project, "b", s3.url), warn=warnings.append)
    assert built[0].tiers["remote"] > 0 and built[0].tiers["uploaded"] == 0 and built[0].tiers["failed"] > 0
    assert len(warnings) == 1 and "refuses uploads" in warnings[0] and "--remote-read-only" in warnings[0], warnings
    quiet: list[str] = []
    build_file(path, _options(project, "c", s3.url, remote_read_only=True), warn=quiet.append)
    assert quiet == []  # read-only with a read-only key: nothing to say


def test_a_key_that_may_not_read_objects_costs_one_warning_and_one_request(project, s3, monkeypatch):
    """A key that may not read the bucket's objects (on AWS, a policy with s3:ListBucket but not
    s3:GetObject passes the bucket check; SeaweedFS ties the two, so the check is skipped here):
    each read is refused (403), which is no miss. Said once, and nothing more is asked."""
    made = _build(project, "a", s3.url)
    key = made[0].plan.variant.export
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", WRITER[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRITER[1])
    warnings: list[str] = []
    tier = Remote(s3.url, warn=warnings.append)
    assert not any(tier.fetch(k, lambda *a: None, lambda k: False) for k in (key, key[::-1], key.upper()))
    assert tier.counts["asked"] == 1 and tier.counts["misses"] == 3
    assert len(warnings) == 1 and "refuses to let this key read" in warnings[0], warnings
    tier.upload(key[::-1], "json", b"{}", json.dumps({"key": key[::-1], "sha256": hashlib.sha256(b"{}").hexdigest(),
                                                        "ext": "json", "refs": []}).encode())
    tier.close()
    assert tier.counts["uploaded"] == 1  # it may still write: other machines read what it makes


@contextmanager
def _store_at_a_socket(monkeypatch, answers: int = 0):
    """A "store" on a loopback socket that answers its first `answers` connections with an empty 200
    (a bucket check that passes) and drops every later one; yields the connections it took."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"socket-store-{answers}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own attempts: the tests' time
    stop, accepted = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            if len(accepted) <= answers:
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield accepted
    finally:
        stop.set()
        listener.close()


def test_a_worker_does_not_wait_out_a_dead_store_again_on_each_task(monkeypatch):
    """A farm worker runs many builds in one process: once the store failed to answer, the next
    builds of the next minute start with the tier off (one warning each) instead of each waiting out
    the connection's retries again."""
    with _store_at_a_socket(monkeypatch) as accepted:
        warnings: list[str] = []
        first = Remote("s3://dead-store-bucket/p", warn=warnings.append)
        first.check()
        assert first.down and accepted
        asked = len(accepted)
        second = Remote("s3://dead-store-bucket/p", warn=warnings.append)
        second.check()
        assert second.down and len(accepted) == asked  # off at once: the store was not asked again
        assert len(warnings) == 2 and "unreachable" in warnings[0] and "failed" in warnings[1], warnings


def test_what_check_render_computes_reaches_the_bucket(project, s3):
    """`brief check --render` runs the brand checks a rule's change made new (the pixels are the same):
    their results are cache objects like any, so they go up for the other machines."""
    from brief.runtime.build import check_render
    from runtime_helpers import SCENE

    path = project.write("scene.brief", SCENE)
    options = _options(project, "a", s3.url)
    build_file(path, options)
    before = set(_sent_keys(s3))
    path = project.write("scene.brief", SCENE.replace("  check palette\n", "  check palette coverage 50%\n"))
    checked = check_render(path, options)
    assert checked and all(results for _, results in checked)
    made = {p.stem for p in (project.root / "a" / "cache" / "objects").glob("*/*.meta")}
    assert set(_sent_keys(s3)) == made != before  # the checks' results too


def _sent_keys(s3) -> list[str]:
    s3.fs.invalidate_cache()  # listed before: s3fs keeps listings
    return [json.loads(meta)["key"] for p in s3.fs.find(s3.url[5:]) for _, meta in unpack(s3.fs.cat_file(p))]


@pytest.mark.parametrize("url", ["s3://brief test/p", "s3://bkt/p q", "s3://bkt/p*", "s3://bkt/[p]", "s3://bkt//p",
                                 "s3://bkt/a/../b", "s3://bkt/p?versionId=1", "s3://bkt/p#x", "s3://b/p",
                                 "s3://AKIDX:s3cr3t@bkt/p", "s3:///p", "s3://"])
def test_an_odd_url_is_one_line_that_never_echoes_a_secret(url):
    with pytest.raises(RemoteError, match="is not a remote cache URL") as info:
        Remote(url)
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("url", ["s3://bkt", "s3://bkt/", "s3://my.bucket-1/team/a=b/c_d-e.f/", "s3://Legacy_Bucket/p"])
def test_a_plain_url_is_accepted(url):
    assert Remote(url).url == url.rstrip("/")


def test_remote_read_only_without_a_remote_tier_is_one_line(project, monkeypatch):
    for name in ("BRIEF_REMOTE_CACHE", "BRIEF_REMOTE_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RemoteError, match="--remote-read-only needs a remote cache"):
        configured(None, True, project.root)
    assert configured(None, None, project.root) == (None, False)
    path = project.write("tiny.brief", TINY)
    res = run("plan", path, "--cache", project.root / "c", "--remote-read-only")
    assert res.returncode == 2 and "--remote-read-only needs a remote cache" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_a_remote_object_cannot_make_the_cache_write_outside_its_folder(project, s3):
    """Records whose refs name a path, not a key (anyone who may write to the bucket can write them):
    refused as malformed, nothing written outside the cache, and the build still completes."""
    _build(project, "a", s3.url)
    base = s3.url[len("s3://"):]
    evil = str(project.root / "evil")  # an absolute path: objects/<first two>/<key>.png would be it
    data = b"not a cache object"
    meta = json.dumps({"key": evil, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "ext": "png",
                       "refs": [], "meta": {}}, sort_keys=True).encode()
    s3.fs.pipe_file(f"{base}/objects/{evil[:2]}/{evil}.brf", pack([(data, meta)]))
    tampered = 0
    for path in s3.fs.find(base):
        if path.endswith(".brf") and "evil" not in path:
            (got, record), *held = unpack(s3.fs.cat_file(path))
            record = json.loads(record)
            record["refs"] = sorted(record.get("refs", []) + [evil])
            s3.fs.pipe_file(path, pack([(got, json.dumps(record, sort_keys=True).encode()), *held]))
            tampered += 1
    assert tampered
    warnings: list[str] = []
    built = _build(project, "b", s3.url, warn=warnings.append)
    assert not list(project.root.glob("evil*")), "a remote object was written outside the cache"
    assert ran(built) and any("malformed" in w for w in warnings), warnings
    assert output_bytes(project.root / "b" / "out") == output_bytes(project.root / "a" / "out")


def test_plan_checks_the_bucket_reads_it_and_writes_nothing_to_it(project, s3):
    path = project.write("tiny.brief", TINY)
    with pytest.raises(DiagnosticError, match="does not exist"):
        plan_file(path, _options(project, "p", "s3://brief-no-such-bucket/p"))
    built = _build(project, "a", s3.url)
    before = {p: s3.fs.info(p)["LastModified"] for p in s3.fs.find(s3.url[5:])}
    _, (planned,) = plan_file(path, _options(project, "b", s3.url))
    assert ran(built) and planned.steps == [] and planned.cached  # all of it found, in the bucket
    assert {p: s3.fs.info(p)["LastModified"] for p in s3.fs.find(s3.url[5:])} == before


def test_a_build_that_only_fetched_still_keeps_the_cache_within_its_budget(project, s3):
    _build(project, "a", s3.url)
    budget = 5_000
    built = _build(project, "b", s3.url, cache_budget=budget)
    assert not ran(built) and built[0].tiers["remote"] > 0 and built[0].tiers["down_bytes"] > budget
    from brief.runtime.store.cache import Cache

    assert Cache(project.root / "b" / "cache").size() <= budget


def test_what_came_from_the_bucket_is_never_counted_as_found_here(tmp_path, s3):
    """A record's tiles come with it: read later, they are remote hits, not local ones (the build's
    summary and `brief cache stats` say where results came from; a fresh machine has no local hits)."""
    from brief.runtime.store.cache import Cache

    tile, record = "tile-" + "a" * 40, "b" * 64
    made = Cache(tmp_path / "a", remote=Remote(s3.url))
    made.put(tile, b"pixels", "png")
    made.put_json(record, {"tiles": [tile]}, refs=[tile])
    made.remote.close()
    fresh = Cache(tmp_path / "b", remote=Remote(s3.url))
    assert fresh.get_json(record) == {"tiles": [tile]} and fresh.get(tile) is not None
    assert fresh.found == set() and fresh.fetched == {record, tile}


def test_plan_on_a_cache_that_refuses_what_the_bucket_holds_still_plans_with_one_warning(project, s3):
    """A reviewer's cache that cannot take what the bucket holds (a read-only copy; here a folder sits
    where each object's data would go, so the OS refuses the write): the plan is the one made
    without the tier, with one warning, never an error that the tier alone caused."""
    path = project.write("tiny.brief", TINY)
    _build(project, "a", s3.url)
    alone, = plan_file(path, _options(project, "b", None))[1]
    for blob in s3.fs.find(s3.url[5:]):
        for _, meta in unpack(s3.fs.cat_file(blob)):  # the object and the ones it holds
            record = json.loads(meta)
            (project.root / "b" / "cache" / "objects" / record["key"][:2] / f"{record['key']}.{record['ext']}").mkdir(
                parents=True, exist_ok=True)
    warnings: list[str] = []
    options = _options(project, "b", s3.url)
    planned, = plan_file(path, options, cache=cache_for(path, options, warnings.append, write=False))[1]
    assert [s.key for s in planned.steps] == [s.key for s in alone.steps] != []
    assert len(warnings) == 1 and str(project.root / "b" / "cache") in warnings[0], warnings


def test_a_key_the_bucket_lacks_is_asked_for_once_per_build(s3):
    """The build makes what the bucket lacks, so asking again (plans probe a node several times) would
    only add round trips: a first build of the example catalogue asked 408 times for 264 keys."""
    tier = Remote(s3.url)
    key = hashlib.sha256(b"never made").hexdigest()
    assert not any(tier.fetch(key, lambda *a: None, lambda k: False) for _ in range(3))
    assert tier.counts["misses"] == 3 and tier.counts["asked"] == 1


def test_what_a_stopped_build_made_still_reaches_the_bucket(project, s3):
    """Watch mode supersedes builds in flight: the objects made before the stop are committed locally,
    and the next build finds them there and never uploads them; so they go up when the build stops."""
    from brief.runtime.render.execute import Superseded

    path = project.write("tiny.brief", TINY)
    asked = []
    with pytest.raises(Superseded):
        build_file(path, _options(project, "a", s3.url), should_stop=lambda: len(asked) > 3 or asked.append(1))
    made = {p.stem for p in (project.root / "a" / "cache" / "objects").glob("*/*.meta")}
    sent = {json.loads(meta)["key"] for p in s3.fs.find(s3.url[5:]) for _, meta in unpack(s3.fs.cat_file(p))}
    assert made and sent == made  # each as an object, or held by one that refers to it


def test_objects_nothing_refers_to_go_up_during_the_build_and_the_queue_stays_bounded(tmp_path, s3, monkeypatch):
    """The queue goes up early when it passes BATCH_BYTES, to bound the memory it holds; objects no
    record refers to (PNG bands, check results, embeddings) must go then too: held back at every
    early flush, they piled up until the build ended, and each put past the size walked them all."""
    from brief.runtime.store import remote
    from brief.runtime.store.cache import Cache

    monkeypatch.setattr(remote, "BATCH_BYTES", 50_000)  # the sizes of a big build, scaled down
    monkeypatch.setattr(remote, "WAIT_BYTES", 20_000)
    made = Cache(tmp_path / "a", remote=remote.Remote(s3.url))
    peak = 0
    for i in range(60):
        made.put(f"pngband-{i:060d}", bytes([i]) * 10_000, "bin")
        peak = max(peak, made.remote._queued)
    assert made.remote.counts["uploaded"] >= 50 and peak <= remote.BATCH_BYTES + 11_000, (made.remote.counts, peak)
    made.remote.close()
    assert made.remote.counts["uploaded"] == 60 and made.remote.counts["failed"] == 0


def test_a_store_that_fails_after_the_check_is_not_asked_again_by_the_next_builds(monkeypatch):
    """A farm worker checks the bucket once per process; when the store dies later, midway through a
    task, the next tasks of the next minute must start with the tier off, as when it was dead at
    the first check, not each wait out the retries of a first request again."""
    with _store_at_a_socket(monkeypatch, answers=1) as accepted:
        warnings: list[str] = []
        first = Remote("s3://dies-midway-bucket/p", warn=warnings.append)
        first.check()
        assert not first.down and len(accepted) == 1  # it answered the check
        assert not first.fetch("k" * 64, lambda *a: None, lambda k: False) and first.down  # then failed
        asked = len(accepted)
        second = Remote("s3://dies-midway-bucket/p", warn=warnings.append)  # the worker's next task
        second.check()
        assert not second.fetch("q" * 64, lambda *a: None, lambda k: False)
        assert second.down and len(accepted) == asked, (second.down, len(accepted), asked)
        assert len(warnings) == 2 and "unreachable" in warnings[0] and "failed" in warnings[1], warnings


def test_uploads_a_failed_store_never_took_are_all_counted_as_failed(monkeypatch):
    """The store fails on the first of several chunks: every object queued stays local, and the
    build's summary says so (the objects nothing refers to too, not only the records' chunks)."""
    from brief.runtime.store import remote

    _unreachable(monkeypatch)
    monkeypatch.setattr(remote, "CHUNK_BYTES", 1)  # a chunk per record
    tier = Remote("s3://brief-gone-chunks/p", warn=lambda m: None)
    queued = 0
    for name in "ab":
        tile, record = f"tile-{name * 40}", name * 64
        tier.upload(tile, "png", b"px", json.dumps({"key": tile, "sha256": hashlib.sha256(b"px").hexdigest(),
                                                     "ext": "png", "refs": []}).encode())
        tier.upload(record, "json", b"{}", json.dumps({"key": record, "sha256": hashlib.sha256(b"{}").hexdigest(),
                                                        "ext": "json", "refs": [tile]}).encode())
        queued += 2
    for i in range(3):
        key = f"alone-{i}" * 8
        tier.upload(key, "bin", b"x", json.dumps({"key": key, "sha256": hashlib.sha256(b"x").hexdigest(),
                                                   "ext": "bin", "refs": []}).encode())
        queued += 1
    tier.close()
    assert tier.counts["uploaded"] == 0 and tier.counts["failed"] == queued, tier.counts


def test_a_record_whose_object_lacks_its_tiles_is_a_miss_and_the_build_makes_it(project, s3):
    """Objects uploaded by a machine that lacked what they refer to (the tiles are neither held by
    the record's object, nor in the bucket alone, nor local): a clean miss each, never a failed build
    nor a partial object; the build renders them, with the same bytes."""
    _build(project, "a", s3.url)
    stripped = 0
    for path in s3.fs.find(s3.url[5:]):
        entries = unpack(s3.fs.cat_file(path))
        if len(entries) > 1:
            s3.fs.pipe_file(path, pack(entries[:1]))
            stripped += 1
    assert stripped
    warnings: list[str] = []
    built = _build(project, "b", s3.url, warn=warnings.append)
    assert ran(built) and warnings == [] and built[0].tiers["rejected"] == 0
    assert output_bytes(project.root / "b" / "out") == output_bytes(project.root / "a" / "out")
