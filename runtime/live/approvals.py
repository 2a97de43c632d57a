"""Approvals: a person's decision on each delivered output, recorded in git beside the brief, and the
status that tells what has not been seen.

`brief.approvals` (TOML, beside the brief; sorted, one table per variant and output) holds, for each
decision: approve or reject, the image's content hash (of its decoded pixels: credentials and
re-encoding of the same pixels do not matter), the output's node key, who decided (git's user.name
and user.email), when (UTC) and an optional note. `status` compares the current brief and its last
build with it: an output is `approved`, or `unapproved` (never decided), `rejected`, `changed` (its
node or its pixels are not the ones approved), `unbuilt` (no export of the current brief yet) or
`failing` (a brand rule fails on it). `brief status` exits 1 unless every output is approved: the
gate that nothing ships that a person has not seen.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FILE = "brief.approvals"
HEADER = ("# Decisions on each output of the briefs beside this file: written by `brief approve`, read by "
          "`brief status`.\n")


@dataclass
class Row:
    variant: str
    output: str
    state: str  # approved | unapproved | rejected | changed | unbuilt | failing
    node: str
    image: str | None  # the delivered file, if built
    why: str = ""


def approvals_path(brief: Path) -> Path:
    return brief.resolve().parent / FILE


def load(path: Path) -> dict:
    """{"variant / output": entry}; an absent file is no decision yet."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    found = data.get("output", {})
    if not isinstance(found, dict):
        raise ValueError(f"{path}: `output` is not a table")
    for name, entry in found.items():  # a hand edit or a bad merge: said, not half-read
        if not isinstance(entry, dict) \
                or not all(isinstance(entry.get(k), str) for k in ("decision", "sha256", "node")) \
                or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) or entry["decision"] not in ("approve", "reject"):
            raise ValueError(f"{path}: the entry for {name!r} is not a decision brief wrote "
                             "(decision, a 64-hex sha256, node)")
    return found


def save(path: Path, entries: dict) -> None:
    import tomli_w

    from ..store.files import atomic_write

    body = tomli_w.dumps({"output": {k: entries[k] for k in sorted(entries)}})
    atomic_write(path, (HEADER + body).encode())


def key(variant: str, output: str) -> str:
    return f"{variant} / {output}"


def pixel_hash(image: Path) -> str:
    """sha256 of an image's decoded RGB pixels and size: what a reviewer saw."""
    import numpy as np
    from PIL import Image

    with Image.open(image) as im:
        rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
    h = hashlib.sha256(f"{rgb.shape[1]}x{rgb.shape[0]}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def who(folder: Path) -> str:
    """The deciding person, as git knows them (`git config user.name`/`user.email`), else the login."""
    def config(name: str) -> str:
        try:
            run = subprocess.run(["git", "config", "--get", name], cwd=folder, capture_output=True, text=True,
                                 timeout=10)
            return run.stdout.strip() if run.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            return ""

    name, email = config("user.name"), config("user.email")
    if name or email:
        return f"{name} <{email}>" if name and email else name or email
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def built_outputs(folder: Path) -> dict[str, dict]:
    """output → {"node", "file", "failing": [rules]} of a variant's last export (empty if none)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for name, o in manifest.get("outputs", {}).items():
        failing = [c["label"] for c in manifest.get("checks", [])
                   if c.get("result", {}).get("status") == "fail" and c.get("result", {}).get("output") in (name, None)]
        out[name] = {"node": o.get("node"), "file": o.get("file"), "failing": failing}
    return out


def status(variants, out_root: Path, decided: dict) -> list[Row]:
    """Every output of every variant of the current brief, against its last export and the decisions."""
    rows = []
    for v in variants:
        folder = out_root / v.name
        built = built_outputs(folder)
        for output, node in v.outputs.items():
            entry = decided.get(key(v.name, output))
            made = built.get(output)
            image = folder / made["file"] if made and made.get("file") else None
            if made is None or made.get("node") != node or image is None or not image.is_file():
                rows.append(Row(v.name, output, "unbuilt", node, None, "no export of the current brief: build it"))
                continue
            if made["failing"]:
                rows.append(Row(v.name, output, "failing", node, str(image), "fails " + ", ".join(made["failing"])))
                continue
            if entry is None:
                rows.append(Row(v.name, output, "unapproved", node, str(image), "nobody has approved it"))
            elif entry.get("node") != node or entry.get("sha256") != pixel_hash(image):
                done = "rejected" if entry.get("decision") == "reject" else "approved"
                rows.append(Row(v.name, output, "changed", node, str(image),
                                f"changed since {entry.get('by', '?')} {done} it on {entry.get('at', '?')}"))
            elif entry.get("decision") == "reject":
                note = f": {entry['note']}" if entry.get("note") else ""
                why = f"rejected by {entry.get('by', '?')}{note}"
                rows.append(Row(v.name, output, "rejected", node, str(image), why))
            else:
                rows.append(Row(v.name, output, "approved", node, str(image), f"by {entry.get('by', '?')}"))
    return rows


KEPT = "@approved"  # beside the variant folders: the images decided on, by pixel hash (for before/after)


def kept(out_root: Path, sha: str) -> Path | None:
    """The image a decision was made on, when it is still kept under out/@approved."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        return None
    found = sorted((out_root / KEPT).glob(f"{sha}.*"))
    return found[0] if found else None


def decide(path: Path, variant, output: str, image: Path, node: str, decision: str, note: str | None,
           out_root: Path | None = None) -> dict:
    """Record a decision on one output (replacing any earlier one), and return it; with `out_root`,
    keep a copy of the image decided on (out/@approved/<pixel hash>), what the review app compares
    the next version with."""
    from ..store.files import atomic_write

    sha = pixel_hash(image)
    if out_root is not None and kept(out_root, sha) is None:
        (out_root / KEPT).mkdir(parents=True, exist_ok=True)
        atomic_write(out_root / KEPT / f"{sha}{image.suffix.lower()}", image.read_bytes())  # a unique temp name
    with _locked(path):  # two deciders at once (the app's threads, `brief approve`): neither decision is lost
        return _record(path, variant, output, sha, node, decision, note)


@contextmanager
def _locked(path: Path):
    import fcntl

    with open(path.with_name(f".{path.name}.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _record(path: Path, variant, output: str, sha: str, node: str, decision: str, note: str | None) -> dict:
    entries = load(path)
    entry = {"decision": decision, "sha256": sha, "node": node, "by": who(path.parent),
             "at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}
    if note:
        entry["note"] = note
    entries[key(variant.name, output)] = entry
    save(path, entries)
    return entry
