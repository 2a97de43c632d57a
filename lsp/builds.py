"""What the last build left behind, read for the editor: brand-check results from the delivered
`manifest.json` files, and each node's key and render time from the cache's state records.

Read only, and only files with a documented shape: `out/<variant>/manifest.json` (its `checks`
carry each rule's result and, for a failing `check color`, the `recolor` edit that fixes it) and
the cache's `state/*.json` (the last build of each variant: node identity → key) and
`objects/<k[:2]>/<key>.meta` (written when the node was rendered); the layout is
`runtime/store/cache.py`'s. Nothing here imports the runtime, and nothing is written.
A result is shown only while it describes the text on disk: the document is saved and no file
the brief reads changed since the build.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

MAX_MANIFESTS = 2048
MAX_JSON_BYTES = 32 * 2**20


def _read_json(path: Path) -> dict | None:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class CheckResult:
    variant: str
    label: str  # "check color product"
    rule: str
    component: str | None
    status: str  # "fail" | "warn" | "pass" | "skipped"
    target: str
    measured: object
    fix: str | None  # the edit a failing `check color` prints


def manifests(brief_path: str, brief_names: set[str], out_dirs: list[Path]) -> list[tuple[dict, float]]:
    """The manifests of this file's briefs in the output folders, newest first, with their mtimes."""
    found = []
    seen = 0
    name = os.path.basename(brief_path)
    for folder in out_dirs:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if seen >= MAX_MANIFESTS:
                break
            manifest = Path(entry.path) / "manifest.json"
            if not entry.is_dir() or not manifest.is_file():
                continue
            seen += 1
            data = _read_json(manifest)
            if data and data.get("brief") in brief_names and os.path.basename(str(data.get("file", ""))) == name:
                found.append((data, manifest.stat().st_mtime))
    return sorted(found, key=lambda m: -m[1])


def check_results(brief_path: str, brief_names: set[str], out_dirs: list[Path],
                  read_files: list[str]) -> list[CheckResult]:
    """The brand-check results of the last build of each variant, when that build is newer than
    the brief and every file it reads (else they describe another text: none)."""
    try:
        newest_input = max(os.stat(p).st_mtime for p in [brief_path, *read_files] if os.path.exists(p))
    except ValueError:
        return []
    out: list[CheckResult] = []
    done: set[str] = set()
    for data, mtime in manifests(brief_path, brief_names, out_dirs):
        variant = str(data.get("variant", ""))
        if variant in done or mtime < newest_input:
            continue
        done.add(variant)
        for check in data.get("checks") or []:
            result = check.get("result") if isinstance(check, dict) else None
            if not isinstance(result, dict):
                continue
            out.append(CheckResult(variant, str(check.get("label", "")), str(result.get("rule", "")),
                                   result.get("component"), str(result.get("status", "")),
                                   str(result.get("target", "")), result.get("measured"),
                                   result.get("fix") if isinstance(result.get("fix"), str) else None))
    return out


def cache_dir(brief_path: str) -> Path:
    """Where a build of this brief keeps its cache by default (`runtime/store/cache.py`'s rule)."""
    env = os.environ.get("BRIEF_CACHE")
    return Path(env) if env else Path(os.path.abspath(brief_path)).parent / ".brief" / "cache"


@dataclass(frozen=True)
class Rendered:
    variant: str
    key: str
    op: str
    when: float | None  # when the node's object was written (None: not in the cache any more)


def rendered(brief_path: str, variant_names: set[str], label: str) -> list[Rendered]:
    """The last build's node for `label` ("component product") in each variant the cache's state
    records know, with the time its result was written."""
    root = cache_dir(brief_path)
    out = []
    try:
        states = sorted((root / "state").glob("*.json"))[:MAX_MANIFESTS]
    except OSError:
        return []
    for path in states:
        record = _read_json(path)
        if not record or record.get("variant") not in variant_names or not isinstance(record.get("nodes"), dict):
            continue
        for identity, node in record["nodes"].items():
            op, _, rest = str(identity).partition(" ")
            if rest != label or op not in ("generate", "load_asset", "text") or not isinstance(node, dict):
                continue
            key = str(node.get("key", ""))
            meta = root / "objects" / key[:2] / f"{key}.meta"
            try:
                when: float | None = meta.stat().st_mtime
            except OSError:
                when = None
            out.append(Rendered(str(record["variant"]), key, op, when))
    return sorted(out, key=lambda r: r.variant)
