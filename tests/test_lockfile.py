"""brief.lock: its format, its refusals, and reading it on Python 3.10 (no tomllib)."""

from __future__ import annotations

import builtins
import importlib

from brief.runtime import lockfile

RECORD = {"id": "model", "revision": "", "pipeline": "StableDiffusionPipeline",
          "files": {"unet/w.safetensors": "a" * 64, "vae/config.json": "b" * 64},
          "versions": {"torch": "2.13.0"}}


def test_lock_is_read_with_tomli_when_tomllib_is_missing(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tomllib(name, *args, **kwargs):
        if name == "tomllib":
            raise ModuleNotFoundError("No module named 'tomllib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tomllib)
    fallback = importlib.reload(lockfile)
    try:
        assert fallback.tomllib.__name__ == "tomli"
        brief = tmp_path / "x.brief"
        assert fallback.check_and_write(brief, [RECORD], update=False) == []
        assert fallback.read(fallback.lock_path(brief))["models"]["model"]["files"] == RECORD["files"]
        changed = {**RECORD, "files": {**RECORD["files"], "vae/config.json": "c" * 64}}
        (problem,) = fallback.check_and_write(brief, [changed], update=False)
        assert "model file vae/config.json changed" in problem
    finally:
        monkeypatch.undo()
        importlib.reload(lockfile)
    assert lockfile.tomllib.__name__ == "tomllib"


def test_a_lock_of_the_weights_only_format_asks_for_update(tmp_path):
    brief = tmp_path / "x.brief"
    (tmp_path / "brief.lock").write_text('[models.model]\nid = "model"\n[models.model.weights]\n"unet/w" = "aa"\n')
    (problem,) = lockfile.check_and_write(brief, [RECORD], update=False)
    assert "pinned the weight files only" in problem and "--update-lock" in problem
    assert lockfile.check_and_write(brief, [RECORD], update=True) == []
    assert lockfile.check_and_write(brief, [RECORD], update=False) == []
    assert "format = 2" in (tmp_path / "brief.lock").read_text()


def test_an_unreadable_lock_is_a_clear_problem(tmp_path):
    (tmp_path / "brief.lock").write_bytes(b"models = [\xff")
    try:
        lockfile.check_and_write(tmp_path / "x.brief", [RECORD], update=False)
    except lockfile.Unreadable as exc:
        assert "brief.lock is not valid TOML" in str(exc) and "--update-lock" in str(exc)
    else:
        raise AssertionError("an unreadable lock must be refused")
