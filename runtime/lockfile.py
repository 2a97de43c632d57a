"""`brief.lock` beside the brief: the model each brief renders with, pinned — id, revision,
pipeline class, the sha256 of every weight file, the scheduler configuration and the library
versions. Written on the first build; a later build whose model or libraries differ stops with a
diagnostic naming what changed, until `--update-lock` accepts the new state. Commit it with the
brief: it is what lets an old asset be reproduced.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w

from .cache import atomic_write

HEADER = "# brief.lock: the models this folder's briefs render with. Written by `brief build`; commit it.\n"


def lock_path(brief: Path) -> Path:
    return Path(brief).resolve().parent / "brief.lock"


def read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML ({exc}); fix it, or delete it and build with --update-lock")


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable changes from the locked record to the current one."""
    found = []
    for field in ("revision", "pipeline", "scheduler"):
        if old.get(field) != new.get(field):
            found.append(f"{field} {old.get(field)!r} → {new.get(field)!r}" if field != "scheduler"
                         else "the scheduler configuration")
    old_w, new_w = old.get("weights", {}), new.get("weights", {})
    for name in sorted(set(old_w) | set(new_w)):
        if name not in new_w:
            found.append(f"weight file {name} is gone")
        elif name not in old_w:
            found.append(f"weight file {name} is new")
        elif old_w[name] != new_w[name]:
            found.append(f"weight file {name} changed (sha256 {old_w[name][:12]}… → {new_w[name][:12]}…)")
    for lib in sorted(set(old.get("versions", {})) | set(new.get("versions", {}))):
        a, b = old.get("versions", {}).get(lib), new.get("versions", {}).get(lib)
        if a != b:
            found.append(f"{lib} {a} → {b}")
    return found


def check_and_write(brief: Path, records: list[dict], update: bool) -> list[str]:
    """Compare each model record with brief.lock; write the file when new or when `update`.
    Returns the problems (empty when the lock holds)."""
    path = lock_path(brief)
    data = read(path)
    models = data.setdefault("models", {})
    problems, changed = [], False
    for record in records:
        old = models.get(record["id"])
        if old is None or update:
            changed = changed or old != record
            models[record["id"]] = record
            continue
        diff = differences(old, record)
        if diff:
            problems.append(f"model `{record['id']}` no longer matches {path.name}: " + "; ".join(diff))
    if changed and not problems:
        atomic_write(path, (HEADER + tomli_w.dumps(data)).encode())
    return problems
