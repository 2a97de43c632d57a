"""Only diagnostics reach the user (issue 10, point 5; DESIGN bad input 22): every expected
condition of the machine ends in one clear line or a diagnostic and exit 1 or 2; anything
unexpected is an internal error (exit 3) that says it is a bug of brief's; watch mode survives
them all."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from brief.runtime.backends import draft
from brief.runtime.build import Options
from brief.runtime.deliver import publish
from brief.runtime.live.watch import Watcher
from runtime_helpers import SCENE
from test_cli import run

BRIEF_CMD = os.path.join(os.path.dirname(sys.executable), "brief")


def no_traceback(text: str) -> bool:
    return "Traceback" not in text and 'File "' not in text


def test_out_naming_a_file_is_one_line_and_exit_2(project):
    path = project.write("scene.brief", SCENE)
    (project.root / "report.png").write_bytes(b"x")
    res = run("build", path, "--out", project.root / "report.png", "-q")
    assert res.returncode == 2 and "is a file, not a folder" in res.stderr and no_traceback(res.stderr)
    res = run("build", path, "--cache", project.root / "report.png", "-q")
    assert res.returncode == 2 and "--cache" in res.stderr


def test_a_full_disk_mid_build_is_one_line(project, monkeypatch):
    path = project.write("scene.brief", SCENE)

    def full(self, rel, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path / rel))

    monkeypatch.setattr(publish.Stage, "write", full)
    res = run("build", path, "--cache", project.root / "c", "--out", project.root / "out", "-q")
    assert res.returncode == 1 and "no space left on the device" in res.stderr and no_traceback(res.stderr)
    assert "brief cache gc" in res.stderr


@pytest.fixture
def tiny_disk():
    """A 2 MiB tmpfs, where the machine lets us mount one (root in a container usually may)."""
    where = Path(tempfile.mkdtemp(prefix="brief-tinydisk-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True).returncode:
        where.rmdir()
        pytest.skip("cannot mount a small tmpfs here to fill a real disk")
    yield where
    subprocess.run(["umount", str(where)], check=False)
    where.rmdir()


def test_a_really_full_disk_is_one_line_and_the_old_output_survives(project, tiny_disk):
    path = project.write("scene.brief", SCENE)
    out, cache = tiny_disk / "out", project.root / "cache"
    assert run("build", path, "--cache", cache, "--out", out, "-q", "--no-checks").returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*.png")}
    fd = os.open(tiny_disk / "filler", os.O_WRONLY | os.O_CREAT)  # fill what is left (unbuffered: no late flush)
    try:
        while os.write(fd, b"\0" * 65536):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    res = run("build", project.write("scene.brief", SCENE.replace("seed 5", "seed 8")), "--cache", cache,
              "--out", out, "-q", "--no-checks")
    assert res.returncode == 1 and "no space left" in res.stderr and no_traceback(res.stderr), res.stderr
    assert {p: p.read_bytes() for p in out.rglob("*.png")} == before


def test_a_file_name_too_long_is_one_line(project):
    name = "b" * 300
    path = project.write("long.brief", SCENE.replace("brief scene", f"brief {name}"))
    res = run("build", path, "--cache", project.root / "c", "--out", project.root / "out", "-q")
    assert res.returncode == 1 and "file name is too long" in res.stderr and no_traceback(res.stderr)


def test_garbage_meta_files_are_warned_and_recomputed(project):
    path = project.write("scene.brief", SCENE)
    args = ("build", path, "--cache", project.root / "c", "--out", project.root / "out", "-q", "--no-checks")
    assert run(*args).returncode == 0
    for i, meta in enumerate(sorted((project.root / "c" / "objects").glob("*/*.meta"))):
        meta.write_bytes([b"\xff\xfe garbage", b"[1, 2]", b'{"key": 5, "ext": []}', b"{}",
                          b"[" * 100_000 + b"]" * 100_000, b'{"key": "x", "ext": "png", "refs": [1]}'][i % 6])
    shutil.rmtree(project.root / "out")
    res = run(*args)
    assert res.returncode == 0 and "corrupt" in res.stderr and no_traceback(res.stderr)


def test_a_400_digit_size_is_one_line(project):
    (project.root / "c" / "objects").mkdir(parents=True)
    res = run("cache", "gc", "--cache", project.root / "c", "--max-size", "9" * 400)
    assert res.returncode == 2 and "not a size" in res.stderr and no_traceback(res.stderr)


def test_check_render_before_any_build_is_a_diagnostic(project):
    path = project.write("scene.brief", SCENE)
    res = run("check", "--render", path, "--cache", project.root / "c")
    assert res.returncode == 1 and "has not been rendered" in res.stderr and "brief build first" in res.stderr


def test_an_unexpected_failure_is_an_internal_error_exit_3(project, monkeypatch):
    path = project.write("scene.brief", SCENE)

    def broken(ctx, params, inputs):
        return 1 / 0

    monkeypatch.setitem(draft.OPS, "composite", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(project.root))
    res = run("build", path, "--cache", project.root / "c", "--out", project.root / "out", "-q")
    assert res.returncode == 3, res.stderr
    assert "internal error: ZeroDivisionError" in res.stderr and "bug in brief" in res.stderr
    assert no_traceback(res.stderr)
    (crash,) = project.root.glob("brief-crash-*.txt")
    assert "Traceback" in crash.read_text() and "1 / 0" in crash.read_text()


def _unprivileged(cmd, cwd):
    """Run `cmd` bound by file permissions: as root, without the capabilities that override them."""
    if os.geteuid() != 0:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", *cmd],
                          cwd=cwd, capture_output=True, text=True)


def test_read_only_folders_and_files_are_one_line(project):
    path = project.write("scene.brief", SCENE.replace("  ", "    "))  # not canonical: fmt would rewrite it
    (project.root / "ro").mkdir()
    os.chmod(project.root / "ro", 0o555)
    os.chmod(project.root, 0o555)  # fmt cannot put its temp file beside the brief
    try:
        res = _unprivileged([BRIEF_CMD, "build", str(path), "-q", "--out", str(project.root / "ro" / "out"),
                             "--cache", str(project.root / "ro" / "cache")], project.root)
        assert res.returncode == 2 and "not writable" in res.stderr and no_traceback(res.stderr), res.stderr
        res = _unprivileged([BRIEF_CMD, "fmt", str(path)], project.root)
        assert res.returncode == 1 and "permission denied" in res.stderr and no_traceback(res.stderr), res.stderr
        assert ".brief-fmt" not in res.stderr, "messages name the file, not a temp file"
    finally:
        os.chmod(project.root, 0o755)


class _Watching:
    def __init__(self, project, text, variants=None):
        self.path = project.write("scene.brief", text)
        self.watcher = Watcher(self.path, Options(cache=project.root / "cache", out=project.root / "out",
                                                  variants=variants or []), debounce=0.1)
        self.watcher.start()
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()

    def wait(self, n, limit=60):
        start = time.time()
        while len(self.watcher.rebuilds) < n and time.time() - start < limit:
            time.sleep(0.05)
        assert len(self.watcher.rebuilds) >= n, "the watcher stopped rebuilding"
        return self.watcher.rebuilds[n - 1]

    def close(self):
        self.watcher.close()
        self.thread.join(timeout=10)


def test_watch_survives_a_variant_that_vanishes_a_full_disk_and_a_bug(project, monkeypatch):
    w = _Watching(project, SCENE, variants=["season=autumn"])
    try:
        assert w.wait(1).built
        w.path.write_text(SCENE.replace("autumn", "fall"))  # --variant season=autumn matches nothing now
        assert "no variant matches" in w.wait(2).error
        real = publish.Stage.write

        def full(self, rel, data):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / rel))

        monkeypatch.setattr(publish.Stage, "write", full)
        w.path.write_text(SCENE.replace("seed 5", "seed 6"))
        assert "no space left" in w.wait(3).error
        monkeypatch.setattr(publish.Stage, "write", real)
        monkeypatch.setitem(draft.OPS, "composite", lambda ctx, params, inputs: 1 / 0)
        w.path.write_text(SCENE.replace("seed 5", "seed 7"))
        third = w.wait(4)
        assert "internal error" in third.error and third.internal is not None
        monkeypatch.undo()
        w.path.write_text(SCENE.replace("seed 5", "seed 9"))
        assert w.wait(5).built, "the watcher builds again once the causes are gone"
    finally:
        w.close()


def test_odd_arguments_are_usage_errors(project):
    path = project.write("scene.brief", SCENE)
    res = run("build", path, "--variant", "season=summer,season=autumn", "--cache", project.root / "c")
    assert res.returncode == 2 and "names an axis twice" in res.stderr
    assert run("build", path, "--cache", "").returncode == 2
    assert run("build", path, "--out", " ").returncode == 2
    for port in ("-1", "70000", "http"):
        assert run("watch", path, "--serve", port).returncode == 2
    (project.root / "notes").mkdir()
    res = run("cache", "stats", "--cache", project.root / "notes")
    assert res.returncode == 2 and "no cache at" in res.stderr
    assert list((project.root / "notes").iterdir()) == [], "a folder that is not a cache is left alone"


def test_non_utf8_on_stdin_is_e004_everywhere(project):
    text = ('brief x {\n  canvas 64 x 64\n  component a {\n    prompt "\udcff"\n  }\n}\n'
            .encode("utf-8", "surrogateescape"))
    for args in (("compile", "-"), ("check", "-"), ("fmt", "-")):
        res = run_bytes(args, text, cwd=project.root)
        assert res.returncode == 1 and "E004" in res.stderr and no_traceback(res.stderr), (args, res.stderr)


def run_bytes(args, data: bytes, cwd):
    """`brief ARGS` as a process, `data` on its standard input (bytes: not necessarily UTF-8)."""
    res = subprocess.run([BRIEF_CMD, *args], input=data, capture_output=True, cwd=cwd, timeout=60)
    res.stderr, res.stdout = res.stderr.decode("utf-8", "replace"), res.stdout.decode("utf-8", "replace")
    return res


def test_machine_limits_and_link_loops_are_one_line(project):
    import resource

    path = project.write("scene.brief", SCENE)
    small = subprocess.run([BRIEF_CMD, "build", str(path), "-q", "--cache", str(project.root / "c1"),
                            "--out", str(project.root / "o1")], capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192)))
    assert small.returncode == 1 and "larger than this system allows" in small.stderr, small.stderr
    assert no_traceback(small.stderr)
    os.symlink("l2", project.root / "l1")
    os.symlink("l1", project.root / "l2")
    res = run("build", path, "-q", "--cache", project.root / "l1")
    assert res.returncode == 2 and "symbolic link" in res.stderr and no_traceback(res.stderr), res.stderr


def test_compile_output_into_a_fifo_writes_into_it(project, tmp_path):
    path = project.write("scene.brief", SCENE)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    res = run("compile", path, "--emit", "dot", "-o", fifo)
    reader.join(timeout=30)
    assert res.returncode == 0 and got and b"digraph" in got[0][:40] and stat_is_fifo(fifo)


def stat_is_fifo(path) -> bool:
    import stat

    return stat.S_ISFIFO(os.lstat(path).st_mode)
