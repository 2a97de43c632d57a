"""Export is all or nothing per output folder (issue 10, point 4; DESIGN bad inputs 20 and 21): a
kill or a full disk mid-export leaves the last export whole, files of removed outputs and
components do not linger, and two briefs of one name or an output named like a reserved file are
refused naming both."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from brief.lang.diagnostics import DiagnosticError
from brief.runtime.build import Options, build_file
from brief.runtime.deliver import publish
from runtime_helpers import SCENE, build

BUILD = ("import sys; from brief.runtime.build import Options, build_file; "
         "build_file(sys.argv[1], Options(cache=sys.argv[2], out=sys.argv[3]))")
SUMMER = "scene[season=summer]"


def folder_files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def pixel_files(folder):
    return {k: v for k, v in folder_files(folder).items() if k != "manifest.json"}


@pytest.mark.slow
def test_a_kill_mid_export_leaves_the_last_export_whole(project, tmp_path):
    big = SCENE.replace("320 x 240", "1400 x 1000")
    path = project.write("scene.brief", big)
    build(project)
    old = folder_files(project.root / "out" / SUMMER)
    changed = big.replace('prompt "a red kite"', 'prompt "a green kite"')
    path.write_text(changed)
    cache, out = project.root / "cache", project.root / "out"
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(path), str(cache), str(out)])
    deadline = time.time() + 120
    while time.time() < deadline and not any(n.startswith(f".{SUMMER}.new~") for n in os.listdir(out)):
        time.sleep(0.002)  # (not glob: the variant's name has brackets)
    assert time.time() < deadline, "the export did not start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert folder_files(out / SUMMER) == old, "a killed export must leave the old folder as it was"
    build(project)  # the next build sweeps the killed one's staging folder and publishes
    assert not list(out.glob(".*~*")), "leftovers of the killed export are swept"
    build_file(path, Options(cache=tmp_path / "c", out=tmp_path / "clean"))
    assert pixel_files(out / SUMMER) == pixel_files(tmp_path / "clean" / SUMMER)


def test_a_full_disk_mid_export_leaves_the_last_export_whole(project, monkeypatch):
    build(project, SCENE)
    old = folder_files(project.root / "out" / SUMMER)
    writes = []
    real_write = publish.Stage.write

    def full_disk(self, rel, data):
        writes.append(rel)
        if len(writes) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / rel))
        real_write(self, rel, data)

    monkeypatch.setattr(publish.Stage, "write", full_disk)
    with pytest.raises(DiagnosticError) as info:  # the machine's condition, as a diagnostic
        build(project, SCENE.replace('prompt "a red kite"', 'prompt "a green kite"'))
    assert info.value.diagnostics[0].code == "E440" and "no space left" in info.value.diagnostics[0].summary
    assert folder_files(project.root / "out" / SUMMER) == old
    assert not list((project.root / "out").glob(".*~*")), "the staging folder is removed"


def test_a_swap_interrupted_between_two_renames_is_completed(tmp_path):
    folder = tmp_path / "out" / "x"
    staged = tmp_path / "out" / f".x.new~{publish.HOST}~999999~abcd"  # a dead process's, whole
    staged.mkdir(parents=True)
    (staged / "manifest.json").write_text("{}")
    (staged / "main.png").write_bytes(b"new")
    retired = tmp_path / "out" / f".x.old~{publish.HOST}~999999~abcd"
    retired.mkdir()
    (retired / "main.png").write_bytes(b"old")
    publish.recover(folder)
    assert (folder / "main.png").read_bytes() == b"new" and not staged.exists() and not retired.exists()


def test_files_of_removed_outputs_and_components_do_not_linger(project):
    build(project, SCENE, psd=True)
    folder = project.root / "out" / SUMMER
    assert (folder / "wide.png").exists() and (folder / "layers" / "bird.png").exists()
    smaller = SCENE.replace("  output wide 400 x 200 fit\n", "").replace(
        '''  component bird {
    prompt "a bird"
    region box 5% 5% 20% 20%
    z 6
    context none
  }
''', "")
    build(project, smaller)
    names = set(folder_files(folder))
    assert not {"wide.png", "layers/bird.png", "masks/bird.png", "scene.psd"} & names, names
    assert {"square.png", "tall.png", "layers/kite.png", "manifest.json"} <= names


def test_two_briefs_of_one_name_writing_one_folder_are_refused(project):
    build(project, SCENE)
    other = project.write("other.brief", SCENE.replace("seed 5", "seed 6"))
    with pytest.raises(DiagnosticError) as info:
        build_file(other, Options(cache=project.root / "cache", out=project.root / "out"))
    (d,) = info.value.diagnostics
    assert d.code == "E420" and "scene.brief" in d.summary and d.span.file.endswith("other.brief")
    assert "--out" in d.detail
    shutil.rmtree(project.root / "out" / SUMMER)  # only the folder of another brief's variant refuses
    with pytest.raises(DiagnosticError):
        build_file(other, Options(cache=project.root / "cache", out=project.root / "out"))


def test_a_renamed_brief_keeps_its_output_folder(project):
    build(project, SCENE)
    (project.root / "scene.brief").rename(project.root / "scene-v2.brief")
    assert build_file(project.root / "scene-v2.brief", Options(cache=project.root / "cache", out=project.root / "out"))


def test_two_first_exports_of_one_folder_both_publish(tmp_path):
    folder = tmp_path / "out" / "x"
    first, second = publish.Stage(folder), publish.Stage(folder)
    first.write("main.png", b"one")
    second.write("main.png", b"two")
    first.commit()
    second.commit()  # the folder appeared meanwhile: exchanged, not an error
    assert (folder / "main.png").read_bytes() == b"two"
    assert [p.name for p in folder.parent.iterdir()] == ["x"]


def test_a_folder_brief_did_not_write_is_never_replaced(project):
    (project.root / "assets" / "notes.txt").write_text("my notes")
    path = project.write("assets.brief", 'brief assets {\n  canvas 64 x 64\n  component product {\n'
                                         '    asset "assets/product.png"\n  }\n}\n')
    with pytest.raises(DiagnosticError) as info:  # `--out .` would make out/assets the user's assets/
        build_file(path, Options(cache=project.root / "cache", out=project.root))
    (d,) = info.value.diagnostics
    assert d.code == "E421" and "notes.txt" in d.summary and "would be lost" in d.summary
    assert (project.root / "assets" / "notes.txt").read_text() == "my notes"
    build(project, SCENE)
    (project.root / "out" / SUMMER / "my-retouch.psd").write_bytes(b"precious")
    with pytest.raises(DiagnosticError) as info:  # a file dropped into an export folder
        build(project, SCENE.replace("seed 5", "seed 6"))
    assert "my-retouch.psd" in info.value.diagnostics[0].summary


def test_a_damaged_output_file_is_written_again(project):
    build(project, SCENE)
    good = (project.root / "out" / SUMMER / "square.png").read_bytes()
    (project.root / "out" / SUMMER / "square.png").write_bytes(b"garbage")
    build(project)
    assert (project.root / "out" / SUMMER / "square.png").read_bytes() == good


def test_files_are_carried_over_from_the_folder_whose_manifest_was_read(tmp_path):
    folder = tmp_path / "out" / "x"
    first = publish.Stage(folder)
    first.write("a.png", b"one")
    first.commit()
    seen = publish.Current(folder)  # this export reads the folder: a.png is "one"
    other = publish.Stage(folder)  # another build publishes meanwhile
    other.write("a.png", b"two")
    other.commit()
    late = publish.Stage(folder, seen)
    kept = late.keep("a.png")
    assert not kept or (late.path / "a.png").read_bytes() == b"one", "never another export's file"
    late.abort()
    seen.close()
