"""Watch mode, driven by real file events: each editor's way of saving gives exactly one rebuild;
broken saves are reported and survived; a newer save supersedes a build in flight; `use`d files
and assets are watched. And the live preview, in headless Chromium."""

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
    def __init__(self, project, target=None, debounce=0.15):
        self.path = project.write("w.brief", BRIEF) if target is None else target
        self.watcher = Watcher(self.path, Options(cache=project.root / "cache", out=project.root / "out"),
                               debounce=debounce)
        self.watcher.start()
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()
        self.settle(1)

    @property
    def count(self) -> int:
        return len(self.watcher.rebuilds)

    def settle(self, expected: int, quiet: float = 0.8, limit: float = 30) -> int:
        """Wait until at least `expected` rebuilds happened, then for a quiet spell; the count."""
        start = time.time()
        while self.count < expected and time.time() - start < limit:
            time.sleep(0.05)
        time.sleep(quiet)
        return self.count

    def edit(self, old: str, new: str) -> str:
        return self.path.read_text().replace(old, new)

    def close(self):
        self.watcher.close()
        self.thread.join(timeout=10)


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


def test_rapid_writes_are_debounced(watching):
    p = watching.path
    for colour in ("green", "black", "white", "pink", "grey"):
        p.write_text(watching.edit("a red kite", f"a {colour} kite") if colour == "green" else
                     p.read_text().replace(p.read_text().split('"')[5], f"a {colour} kite"))
        time.sleep(0.02)
    assert watching.settle(2) == 2
    assert "a grey kite" in watching.watcher.rebuilds[-1].built[0].graph.nodes[
        next(k for k in watching.watcher.rebuilds[-1].built[0].run.ran
             if watching.watcher.rebuilds[-1].built[0].graph.nodes[k]["op"] == "encode_prompt")]["params"]["prompt"]


def test_identical_save_does_nothing_and_delete_then_recreate_rebuilds_once(watching):
    p = watching.path
    p.write_text(p.read_text())
    assert watching.settle(1, quiet=1.0) == 1
    text = watching.edit("a red kite", "a brown kite")
    p.unlink()
    time.sleep(0.05)
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
    assert watching.settle(2, quiet=1.0) == 2
    from PIL import Image
    Image.new("RGBA", (64, 48), (10, 200, 46, 255)).save(asset)
    assert watching.settle(3) == 3


def test_a_newer_save_supersedes_the_build_in_flight(project):
    big = BRIEF.replace("canvas 320 x 240", "canvas 2400 x 1800")
    path = project.write("w.brief", big)
    running = Running(project, target=path)
    try:
        path.write_text(big.replace("summer park", "autumn park"))
        time.sleep(0.5)  # the sky is being rendered
        path.write_text(big.replace("summer park", "winter park"))
        running.settle(3, quiet=2.0, limit=60)
        kinds = [("superseded" if r.superseded else "built") for r in running.watcher.rebuilds]
        assert kinds[-1] == "built" and "superseded" in kinds
        last = running.watcher.rebuilds[-1].built[0]
        prompts = [last.graph.nodes[k]["params"].get("prompt") for k in last.graph.nodes
                   if last.graph.nodes[k]["op"] == "encode_prompt"]
        assert "winter park" in prompts
    finally:
        running.close()


@pytest.mark.skipif(not (shutil.which("vim") and shutil.which("tmux")), reason="needs vim and tmux")
def test_a_real_vim_save_in_tmux_is_one_rebuild(watching):
    session = f"brief-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"vim -u NONE -N -c 'set backup writebackup backupcopy=no' {watching.path}"], check=True)
    try:
        time.sleep(1.0)
        subprocess.run(["tmux", "send-keys", "-t", session, ":%s/a red kite/a violet kite/", "Enter"], check=True)
        subprocess.run(["tmux", "send-keys", "-t", session, ":w", "Enter"], check=True)
        assert watching.settle(2, quiet=1.5) == 2
        assert "a violet kite" in watching.path.read_text()
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, ":qa!", "Enter"])
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
