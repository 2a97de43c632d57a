"""Watch mode, driven by real file events: each editor's way of saving gives exactly one rebuild;
broken saves are reported and survived; a newer save supersedes a build in flight; `use`d files
and assets are watched. No test sleeps for a guessed time: they wait for events, with deadlines."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from brief.runtime.build import Options
from brief.runtime.live.watch import Watcher, ignored

BRIEF = '''use "brands/acme.brief"
brief w {
  canvas 320 x 240
  brand acme
  component sky {
    prompt "summer park"
  }
  component kite {
    prompt "a red kite"
    region box 60% 5% 90% 40%
    z 2
  }
  component product {
    asset "assets/product.png"
    region box 30% 50% 70% 95%
    z 3
  }
}
'''


class Running:
    """A Watcher on its own thread, and ways to wait for it without guessing how long anything takes.

    `settle(n)` waits for the n-th rebuild, then until the watcher has taken in every file event so
    far and is idle: a marker file written into each watched folder comes through the same inotify
    stream behind the test's own writes, so once every marker is seen, nothing the test did is still
    on its way, and once nothing is pending or building, the count is final."""

    def __init__(self, project, target=None, debounce=0.15):
        self.path = project.write("w.brief", BRIEF) if target is None else target
        self.watcher = Watcher(self.path, Options(cache=project.root / "cache", out=project.root / "out"),
                               debounce=debounce)
        self.changed = threading.Condition()
        self.seen: set[str] = set()
        self.markers = 0
        real_touched = self.watcher.touched

        def touched(path: str) -> None:
            real_touched(path)
            with self.changed:
                self.seen.add(path)
                self.changed.notify_all()

        def report(rebuild) -> None:
            with self.changed:
                self.changed.notify_all()

        self.watcher.touched, self.watcher.report = touched, report
        self.watcher.start()
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()
        self.settle(1)

    @property
    def count(self) -> int:
        return len(self.watcher.rebuilds)

    def wait_for(self, predicate, deadline: float, what: str) -> None:
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out waiting for {what}"
                self.changed.wait(timeout=min(left, 0.02))  # woken by events and rebuilds; the tick sees idleness

    def sync(self, limit: float = 30, idle: bool = True) -> None:
        """Return once the watcher has taken in every file event caused so far, and (`idle`) has
        nothing pending or building."""
        deadline = time.monotonic() + limit
        markers = []
        for folder in tuple(self.watcher.watched):
            self.markers += 1
            marker = os.path.join(folder, f"test-sync-{self.markers}")
            with open(marker, "w"):
                pass
            markers.append(os.path.realpath(marker))
        self.wait_for(lambda: self.seen.issuperset(markers), deadline, "the marker files' events")
        for marker in markers:
            os.unlink(marker)

        def is_idle() -> bool:
            with self.watcher.lock:
                return not self.watcher.pending and self.watcher.building is None

        if idle:
            self.wait_for(is_idle, deadline, "the watcher to finish")

    def settle(self, expected: int, limit: float = 30) -> int:
        """Wait for at least `expected` rebuilds and then for the watcher to be done; the count."""
        self.wait_for(lambda: self.count >= expected, time.monotonic() + limit, f"rebuild {expected}")
        self.sync(limit)
        return self.count

    def edit(self, old: str, new: str) -> str:
        return self.path.read_text().replace(old, new)

    def close(self):
        self.watcher.close()
        self.thread.join(timeout=10)


class HeldBuild(threading.Event):
    """The watcher's stop flag, holding its next build at a node boundary (its second check, one
    node in) until a newer save sets the flag: a save while a build runs, for certain, however fast
    or slow the build."""

    def __init__(self, hold_at: int = 2, limit: float = 30):
        super().__init__()
        self.hold_at, self.limit, self.checks = hold_at, limit, 0
        self.holding = threading.Event()

    def is_set(self) -> bool:
        self.checks += 1
        if self.checks == self.hold_at:
            self.holding.set()
            self.wait(timeout=self.limit)
        return super().is_set()


@pytest.fixture
def watching(project):
    running = Running(project)
    yield running
    running.close()


def test_temp_files_are_ignored():
    for name in (".w.brief.swp", "w.brief~", "w.brief___jb_tmp___", "w.brief___jb_old___", ".goutputstream-X1Y2",
                 "4913"):
        assert ignored(f"/p/{name}"), name
    assert not ignored("/p/w.brief")


def test_vim_backup_rename_save_is_one_rebuild(watching):
    p = watching.path
    text = watching.edit("a red kite", "a blue kite")
    os.rename(p, f"{p}~")
    (p.parent / "4913").write_text("")  # vim probes the folder
    os.unlink(p.parent / "4913")
    p.write_text(text)
    os.unlink(f"{p}~")
    assert watching.settle(2) == 2
    assert "generate component kite" in {f"{b.graph.nodes[k]['op']} {b.graph.nodes[k]['label']}"
                                         for b in watching.watcher.rebuilds[-1].built for k in b.run.ran}


def test_jetbrains_safe_write_is_one_rebuild(watching):
    p = watching.path
    tmp = p.with_name(p.name + "___jb_tmp___")
    tmp.write_text(watching.edit("a red kite", "a teal kite"))
    os.rename(p, p.with_name(p.name + "___jb_old___"))
    os.rename(tmp, p)
    os.unlink(p.with_name(p.name + "___jb_old___"))
    assert watching.settle(2) == 2


def test_gedit_temp_rename_is_one_rebuild(watching):
    p = watching.path
    tmp = p.parent / ".goutputstream-AB12CD"
    tmp.write_text(watching.edit("a red kite", "a gold kite"))
    os.rename(tmp, p)
    assert watching.settle(2) == 2


def test_rapid_writes_are_debounced(project):
    watching = Running(project, debounce=0.5)
    try:
        p = watching.path
        started = time.monotonic()
        for colour in ("green", "black", "white", "pink", "grey"):  # five saves, back to back
            p.write_text(watching.edit("a red kite", f"a {colour} kite") if colour == "green" else
                         p.read_text().replace(p.read_text().split('"')[5], f"a {colour} kite"))
        assert time.monotonic() - started < 0.25, "the saves were not rapid: the machine stalled"
        assert watching.settle(2) == 2
    finally:
        watching.close()
    last = watching.watcher.rebuilds[-1].built[0]
    assert "a grey kite" in last.graph.nodes[
        next(k for k in last.run.ran if last.graph.nodes[k]["op"] == "encode_prompt")]["params"]["prompt"]


def test_identical_save_does_nothing_and_delete_then_recreate_rebuilds_once(watching):
    p = watching.path
    p.write_text(p.read_text())
    assert watching.settle(1) == 1
    text = watching.edit("a red kite", "a brown kite")
    p.unlink()
    watching.sync(idle=False)  # the watcher has seen the file gone (and keeps looking for it)
    p.write_text(text)
    assert watching.settle(2) == 2


def test_broken_save_is_reported_and_a_fix_rebuilds(watching):
    p = watching.path
    p.write_text(watching.edit("canvas 320 x 240", "canvas 320000 x 240"))
    assert watching.settle(2) == 2
    assert "out of range" in watching.watcher.rebuilds[-1].error
    p.write_text(watching.edit("canvas 320000 x 240", "canvas 320 x 240").replace("a red kite", "a red kite!"))
    assert watching.settle(3) == 3 and not watching.watcher.rebuilds[-1].error


def test_used_files_and_assets_are_watched(watching, project):
    brand = project.root / "brands" / "acme.brief"
    brand.write_text(brand.read_text().replace("#C8102E", "#C8102F"))
    assert watching.settle(2) == 2
    asset = project.root / "assets" / "product.png"
    data = asset.read_bytes()
    asset.write_bytes(data[:-12] + data[-12:])  # same bytes: nothing to do
    assert watching.settle(2) == 2
    from PIL import Image
    Image.new("RGBA", (64, 48), (10, 200, 46, 255)).save(asset)
    assert watching.settle(3) == 3


def test_a_newer_save_supersedes_the_build_in_flight(watching):
    held = HeldBuild()
    watching.watcher.stop_build = held  # the next build waits after its first node for the next save
    watching.path.write_text(BRIEF.replace("summer park", "autumn park"))
    assert held.holding.wait(30), "the build of the first save did not start"
    watching.path.write_text(BRIEF.replace("summer park", "winter park"))
    watching.settle(3)
    kinds = [("superseded" if r.superseded else "built") for r in watching.watcher.rebuilds]
    assert kinds == ["built", "superseded", "built"]
    last = watching.watcher.rebuilds[-1].built[0]
    prompts = [last.graph.nodes[k]["params"].get("prompt") for k in last.graph.nodes
               if last.graph.nodes[k]["op"] == "encode_prompt"]
    assert "winter park" in prompts


@pytest.mark.skipif(not (shutil.which("vim") and shutil.which("tmux")), reason="needs vim and tmux")
def test_a_real_vim_save_in_tmux_is_one_rebuild(watching):
    session = f"brief-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"vim -u NONE -N -c 'set backup writebackup backupcopy=no' {watching.path}"], check=True)
    try:
        deadline = time.monotonic() + 30
        while "a red kite" not in subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                                 capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, "vim did not show the brief"
            time.sleep(0.05)  # polling vim's screen until it has loaded the file
        subprocess.run(["tmux", "send-keys", "-t", session, ":%s/a red kite/a violet kite/", "Enter"], check=True)
        subprocess.run(["tmux", "send-keys", "-t", session, ":w", "Enter"], check=True)
        assert watching.settle(2) == 2
        assert "a violet kite" in watching.path.read_text()
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, ":qa!", "Enter"])
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
