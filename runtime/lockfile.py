"""`brief.lock` beside the brief: the model each brief renders with, pinned — id, revision,
pipeline class, the sha256 of every model file that can change the output (weights, configs,
tokenizer, scheduler, `model_index.json`, LoRAs in the model folder, and the LoRA files and ControlNet
folders briefs add with `lora "…"` and `controlnet …`, each pinned from the build that first uses it)
and the library versions. A hosted model has no files: its pinned id is the record, with the date
its provider retires it (`retires`, from the brief's backend line), from which builds and `brief lock
check` warn 30 days ahead. Written on the first
build; a later build whose model or libraries differ stops with a diagnostic naming what changed,
until `--update-lock` accepts the new state. Commit it with the brief: it is what lets an old asset
be reproduced. TOML, read with `tomllib` (`tomli` on Python 3.10), written with `tomli_w`.
"""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import tomli_w

from .store.files import atomic_write

HEADER = "# brief.lock: the models this folder's briefs render with. Written by `brief build`; commit it.\n"
FORMAT = 2  # 1 pinned weight files only; 2 pins every model file that can change the output
ADDED = ("lora:", "controlnet:")  # files a brief adds to a model (`lora "…"`, `controlnet …`): pinned when
# first used, refused when changed


def lock_path(brief: Path) -> Path:
    return Path(brief).resolve().parent / "brief.lock"


class Unreadable(Exception):
    """brief.lock exists but cannot be read as a lock; the message says what to do."""


def read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise Unreadable(f"{path} is not valid TOML ({exc}); fix it, or delete it and build with --update-lock") from None
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror}") from None


def _folder(name: str) -> str | None:
    """The added folder a pinned file belongs to (`controlnet:models/cn/` of a ControlNet's file), so
    that a file new in a pinned folder is drift; None for single files (a LoRA)."""
    return name.rsplit("/", 1)[0] + "/" if name.startswith("controlnet:") and "/" in name else None


def differences(old: dict, new: dict) -> list[str]:
    """Human-readable changes from the locked record to the current one."""
    found = []
    for field in ("revision", "pipeline"):
        if old.get(field) != new.get(field):
            found.append(f"{field} {old.get(field)!r} → {new.get(field)!r}")
    old_f, new_f = old.get("files", {}), new.get("files", {})
    for name in sorted(set(old_f) | set(new_f)):
        if name.startswith(ADDED) and (name not in old_f or name not in new_f) \
                and not (name not in old_f and _folder(name) is not None and _folder(name) in {_folder(n) for n in old_f}):
            continue  # a LoRA or ControlNet a brief starts or stops using: pinned from its first use, not drift
        if name not in new_f:
            found.append(f"model file {name} is gone")
        elif name not in old_f:
            found.append(f"model file {name} is new")
        elif old_f[name] != new_f[name]:
            found.append(f"model file {name} changed (sha256 {str(old_f[name])[:12]}… → {new_f[name][:12]}…)")
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
    if not isinstance(models, dict):
        return [f"{path.name} has no [models] table; delete it and build with --update-lock"]
    if models and data.get("format") != FORMAT and not update:
        return [f"{path.name} was written by an earlier brief that pinned the weight files only; build once "
                "with --update-lock to pin every model file"]
    problems, changed = [], data.get("format") != FORMAT
    data["format"] = FORMAT
    for record in records:
        old = models.get(record["id"])
        if old is None or update:
            changed = changed or old != record
            models[record["id"]] = record
            continue
        diff = differences(old if isinstance(old, dict) else {}, record)
        if diff:
            problems.append(f"model `{record['id']}` no longer matches {path.name}: " + "; ".join(diff))
            continue
        if isinstance(old, dict) and record.get("retires") and old.get("retires", "") != record["retires"]:
            old["retires"] = record["retires"]  # when the provider retires it: news, not drift (kept when
            changed = True  # a brief stops saying it; --update-lock or an edit of the lock drops it)
        files = old.setdefault("files", {}) if isinstance(old, dict) else {}
        added = {k: v for k, v in record.get("files", {}).items() if k.startswith(ADDED) and k not in files}
        if added:  # the first use of a LoRA: pin it
            files.update(added)
            changed = True
    if changed and not problems:
        atomic_write(path, (HEADER + tomli_w.dumps(data)).encode())
    return problems


WARN_DAYS = 30  # how long before a model's retirement builds and `brief lock check` start to warn


def retirement(model: str, retires: str, today) -> str | None:
    """A warning for a model that retires within WARN_DAYS of `today` (a date), or has retired."""
    import datetime

    if not retires:
        return None
    try:
        day = datetime.date.fromisoformat(retires)
    except ValueError:
        return None
    left = (day - today).days
    if left > WARN_DAYS:
        return None
    if left < 0:
        return (f"model `{model}` was retired on {retires} ({-left} days ago): its provider no longer serves it, so "
                "what is not in the cache cannot be rendered again; move the brief to another model")
    return (f"model `{model}` retires on {retires}, in {left} day{'s' * (left != 1)}: render what you need from it "
            "now, then move the brief to another model")


def check(brief: Path, records: list[dict]) -> list[str]:
    """What `brief lock check` finds, without writing: models not pinned yet, and the drift a build
    would refuse."""
    path = lock_path(brief)
    models = read(path).get("models", {})
    problems = []
    for record in records:
        old = models.get(record["id"]) if isinstance(models, dict) else None
        if not isinstance(old, dict):
            problems.append(f"model `{record['id']}` is not pinned in {path.name} yet: build once to pin it")
            continue
        diff = differences(old, record)
        if diff:
            problems.append(f"model `{record['id']}` no longer matches {path.name}: " + "; ".join(diff))
    return problems
