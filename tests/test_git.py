"""brief diff (files and REV:path) and the git integration: textconv, hunk headers, hooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from test_cli import run

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
BRIEF_BIN = os.path.join(os.path.dirname(sys.executable), "brief")
XFUNCNAME = r"^[[:space:]]*((brief|brand|component|edit|matrix)[[:space:]]+[A-Za-z_][A-Za-z0-9_-]*).*$"


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(examples_copy):
    git(examples_copy, "init", "-q")
    shutil.copy(REPO / ".gitattributes", examples_copy / ".gitattributes")
    git(examples_copy, "config", "diff.brief.textconv", f"{BRIEF_BIN} fmt --textconv")
    git(examples_copy, "config", "diff.brief.xfuncname", XFUNCNAME)
    git(examples_copy, "add", "-A")
    git(examples_copy, "commit", "-qm", "base")
    return examples_copy


def test_diff_names_changes_and_rerenders(repo):
    brief = repo / "campaign" / "runner.brief"
    brief.write_text(brief.read_text().replace('"a red kite in the sky"', '"a green kite in the sky"')
                     .replace("  check safezone\n", "  check safezone\n  check minsize logo 100px x 40px\n"))
    res = run("diff", "HEAD:campaign/runner.brief", "campaign/runner.brief", cwd=repo)
    assert res.returncode == 1, res.stderr
    assert '~ runner: component kite: prompt "a red kite in the sky" → "a green kite in the sky"' in res.stdout
    assert "+ runner: check minsize logo 100px x 40px" in res.stdout
    assert "generate      component kite" in res.stdout and "6.8%" in res.stdout
    doc = json.loads(run("diff", "--json", "HEAD:campaign/runner.brief", "campaign/runner.brief", cwd=repo).stdout)
    assert not doc["equal"] and doc["rerender"][0]["variant"] == "runner[season=summer]"
    same = run("diff", "campaign/runner.brief", "campaign/runner.brief", cwd=repo)
    assert same.returncode == 0 and "no difference" in same.stdout
    assert run("diff", "nosuchrev:campaign/runner.brief", "campaign/runner.brief", cwd=repo).returncode == 2


def test_reformat_is_no_change_for_diff_and_git(repo):
    brief = repo / "campaign" / "runner.brief"
    brief.write_text(brief.read_text().replace("  seed 42\n", "  seed    42\n").replace("  z 5\n", "    z   5\n"))
    assert run("diff", "HEAD:campaign/runner.brief", "campaign/runner.brief", cwd=repo).returncode == 0
    assert git(repo, "diff", "--", "campaign/runner.brief").strip() == ""


def test_git_hunk_headers_name_the_block(repo):
    brief = repo / "campaign" / "runner.brief"
    brief.write_text(brief.read_text().replace("color red within 2", "color red within 3"))
    out = git(repo, "diff", "--", "campaign/runner.brief")
    assert "@@ component product" in out and "+    color red within 3" in out


def test_pre_commit_hooks_are_declared():
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    for hook in ("id: brief-fmt", "id: brief-check"):
        assert hook in text
    assert text.count(r"files: \.brief$") == 2


@pytest.mark.parametrize("spec", ["--output={base}/pwned:x", "-p:campaign/runner.brief",
                                  "HEAD --output={base}/pwned:x", "--end-of-options:campaign/runner.brief"])
def test_a_revision_is_never_read_as_an_option(repo, tmp_path, spec):
    trap = tmp_path / "pwned:."  # `git show --output=BASE/pwned:./x` writes the file x in there
    trap.mkdir()
    spec = spec.format(base=tmp_path)
    res = run("diff", "--", spec, "campaign/runner.brief", cwd=repo)
    assert res.returncode == 2
    assert list(trap.iterdir()) == [], "git wrote a file named by user text"
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a revision" in lines[0], res.stderr


def test_a_revision_that_is_not_a_commit_or_a_missing_path_is_one_clear_line(repo):
    for spec in ("nosuchrev:campaign/runner.brief", "HEAD:campaign/nosuch.brief"):
        res = run("diff", spec, "campaign/runner.brief", cwd=repo)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("brief diff: error:"), res.stderr


def test_diff_of_a_binary_or_a_folder_at_a_revision_is_one_clear_error(repo):
    res = run("diff", "HEAD:assets/runner.png", "campaign/runner.brief", cwd=repo)
    assert res.returncode == 2 and "E004" in res.stderr and "Traceback" not in res.stderr
    res = run("diff", "HEAD:campaign", "campaign/runner.brief", cwd=repo)
    assert res.returncode == 2 and "is a folder, not a brief" in res.stderr


def test_textconv_shows_a_file_that_is_not_a_brief_unchanged(tmp_path):
    data = b'brief x {\n  prompt "\xff"\n}\n'
    (tmp_path / "bad.brief").write_bytes(data)
    res = subprocess.run([BRIEF_BIN, "fmt", "--textconv", str(tmp_path / "bad.brief")], capture_output=True, timeout=60)
    assert res.returncode == 0 and res.stdout == data


def test_a_replaced_asset_is_a_change_for_diff(repo):
    """A commit that only replaces a SKU photo changes what is delivered: the diff names the file, the
    components and variants it reaches, and what re-renders (the old side reads the photo as it was)."""
    from PIL import Image

    photo = repo / "assets" / "sku-navy.png"
    with Image.open(photo) as im:
        im.rotate(4).save(photo)
    res = run("diff", "HEAD:campaign/launch.brief", "campaign/launch.brief", cwd=repo)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "~ file assets/sku-navy.png: its bytes changed" in res.stdout
    assert "used by product in 4 variants" in res.stdout and "launch[sku=navy,season=summer,lang=en]" in res.stdout
    assert "load_asset    component product" in res.stdout


def test_diff_images_for_a_pull_request(repo):
    """`brief diff --images DIR` builds both versions and writes before/after/difference thumbnails of
    every output whose node changed — and of no other."""
    import numpy as np
    from PIL import Image

    text = ('brief small {\n  canvas 160 x 120\n  matrix lang {\n    en "English" { word "Hello" }\n'
            '    de "Deutsch" { word "Hallo" }\n  }\n  component sky {\n    prompt "a {lang} sky"\n  }\n'
            '  component label {\n    text "{lang.word}"\n    font display\n    size auto 8px 40px\n'
            '    region box 5% 5% 95% 40%\n    z 1\n  }\n  output square 100 x 100 crop\n'
            '  output wide 200 x 100 fit {\n    format jpeg\n  }\n}\n')
    brand = 'brand b {\n  font display "../brands/fonts/LiberationSans-Bold.ttf"\n}\n'
    brief = repo / "campaign" / "small.brief"
    brief.write_text(text.replace("brief small {\n", brand + "brief small {\n  brand b\n"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "small")
    brief.write_text(brief.read_text().replace('"Hello"', '"Hello there"'))
    res = run("diff", "HEAD:campaign/small.brief", "campaign/small.brief", "--images", repo / "pr", cwd=repo)
    assert res.returncode == 1, res.stdout + res.stderr
    made = sorted(p.relative_to(repo / "pr").as_posix() for p in (repo / "pr").rglob("*.png"))
    kinds = ("after", "before", "difference")
    assert made == [f"small[lang=en]/{o}-{k}.png" for o in ("square", "wide") for k in kinds]
    diff = np.asarray(Image.open(repo / "pr" / "small[lang=en]" / "wide-difference.png"))
    red = (diff[..., 0] == 220) & (diff[..., 1] == 20) & (diff[..., 2] == 60)
    assert 0 < red.mean() < 0.5  # the word changed, not the whole picture (a JPEG is compared by its PNG master)
