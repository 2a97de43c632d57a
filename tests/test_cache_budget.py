"""The cache keeps to a size budget (issue 11, point 4): after a build it is trimmed by the gc that
marks first, so what the last build needs stays and older results go; and a plan that finds an
object marks it as used, so recency follows planning, not only reading."""

from __future__ import annotations

import os

from brief.runtime.build import Options, build_file, plan_file
from brief.runtime.store.cache import Cache
from runtime_helpers import SCENE


def test_a_build_keeps_the_cache_within_its_budget_and_keeps_what_it_needs(project, tmp_path):
    path = project.write("scene.brief", SCENE)
    options = Options(cache=project.root / "cache", out=project.root / "out")
    build_file(path, options)
    grown = Cache(project.root / "cache").size()
    for seed in (6, 7, 8):
        path.write_text(SCENE.replace("seed 5", f"seed {seed}"))
        build_file(path, Options(cache=project.root / "cache", out=project.root / "out", cache_budget=grown))
    build_file(path, Options(cache=tmp_path / "clean", out=tmp_path / "clean-out"))
    clean = Cache(tmp_path / "clean").size()  # what the last version needs, alone
    assert Cache(project.root / "cache").size() <= max(grown, clean * 1.05)
    _, plans = plan_file(path, options)
    assert all(not p.steps for p in plans), "what the last build needs stayed"


def test_planning_marks_what_it_finds_as_used(project):
    path = project.write("scene.brief", SCENE)
    options = Options(cache=project.root / "cache", out=project.root / "out")
    (summer, _) = build_file(path, options)
    cache = Cache(project.root / "cache")
    key = summer.variant.outputs["square"]
    os.utime(cache._meta_path(key), (1000, 1000))
    plan_file(path, options)
    assert cache._meta_path(key).stat().st_mtime > 1000


def test_the_budget_comes_from_the_environment(project, monkeypatch):
    path = project.write("scene.brief", SCENE)
    options = Options(cache=project.root / "cache", out=project.root / "out")
    build_file(path, options)
    monkeypatch.setenv("BRIEF_CACHE_BUDGET", "1k")
    path.write_text(SCENE.replace("seed 5", "seed 9"))
    build_file(path, options)
    assert Cache(project.root / "cache").size() <= 1024, "a budget this small keeps nothing once the build is done"
    assert build_file(path, options), "and the next build makes again what it needs"
    monkeypatch.setenv("BRIEF_CACHE_BUDGET", "lots")
    path.write_text(SCENE.replace("seed 5", "seed 10"))
    try:
        build_file(path, options)
    except Exception as exc:  # a UsageError naming the variable
        assert "BRIEF_CACHE_BUDGET" in str(exc)
    else:
        raise AssertionError("an unreadable budget must be refused")
