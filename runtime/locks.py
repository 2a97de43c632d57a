"""A build's models against `brief.lock` (runtime/lockfile.py owns the file): the record of each model
a compiled brief renders with, checked and written before anything renders; `brief lock check`,
which does the same without rendering, writing or calling anything; and the warnings for hosted
models that retire within 30 days. Every finding is a diagnostic at the brief's `backend` line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from brief.lang import ast
from brief.lang.check import check_program
from brief.lang.diagnostics import Diagnostic, DiagnosticError, error, warning
from brief.lang.load import Program, load

from . import lockfile
from .backends import load_backend
from .context import OpError

if TYPE_CHECKING:
    from .build import Compiled, Options


def backend_diagnostic(program: Program, declared: dict, message: str, code: str = "E400",
                       detail: str = "Fix the model folder or the backend line, or build with --backend draft.",
                       severity: str = "error") -> Diagnostic:
    """A backend's refusal (or warning), at the `backend` line of the brief that asked for it: the
    line naming its backend, or its model when `declared` names no backend."""
    make = error if severity == "error" else warning
    for brief in program.module.briefs:
        b = brief.first(ast.Backend)
        if b is not None and (b.name.value == declared["backend"] or (
                not declared["backend"] and b.model is not None and b.model.value == declared.get("model"))):
            return make(code, message, detail, (b.model or b.name).span)
    return make(code, message, detail, None)


def check_lockfile(path, compiled: Compiled, options: Options) -> None:
    records = []
    g = compiled.graph.graph
    retires = {b.model.value: b.retires.value for brief in compiled.program.module.briefs
               if (b := brief.first(ast.Backend)) is not None and b.model is not None and b.retires is not None}
    for declared in {repr(sorted(v.backend.items())): v.backend for v in compiled.variants}.values():
        backend = load_backend(declared["backend"])
        if hasattr(backend, "lock_record"):
            record = backend.lock_record({**declared, "retires": retires.get(declared.get("model", ""), "")},
                                         options.backend_options)
            folders: set[str] = set()
            # the weights the brief adds to the model (LoRAs) are pinned with it
            for key in g:
                a = g.nodes[key]
                if a["lock"].get("backend") == declared["backend"] and a["lock"].get("model") == declared.get("model"):
                    for rel, sha, _ in a["params"].get("loras", ()):
                        record["files"][f"lora:{rel}"] = sha
                    folders.update((a["lock"].get("controlnets") or {}).values())
            for folder in sorted(folders):
                record["files"].update(backend.controlnet_record(folder, options.backend_options))
            records.append(record)
    if not records:
        return
    try:
        locked = lockfile.read(lockfile.lock_path(Path(path))).get("models", {})
    except lockfile.Unreadable:
        locked = {}
    compiled.warnings.extend(retirements(compiled.program, records, locked if isinstance(locked, dict) else {}))
    try:
        problems = lockfile.check_and_write(Path(path), records, options.update_lock)
    except lockfile.Unreadable as exc:
        problems = [str(exc)]
    if problems:
        raise DiagnosticError([backend_diagnostic(
            compiled.program, {"backend": "diffusers"}, p, "E401",
            "If the change is intended, build with --update-lock to accept it into brief.lock.") for p in problems])


def retirements(program: Program, records: list[dict], locked: dict | None = None) -> list[Diagnostic]:
    """W403 at the backend line of each model that retires within 30 days or has retired (the date
    from the brief, else from brief.lock)."""
    import datetime

    today, found = datetime.date.today(), []
    for record in records:
        pinned = (locked or {}).get(record["id"])
        retires = record.get("retires") or (pinned.get("retires", "") if isinstance(pinned, dict) else "")
        message = lockfile.retirement(record["id"], retires, today)
        if message:
            found.append(backend_diagnostic(program, {"backend": "", "model": record["id"]}, message, "W403",
                                            "After that date the provider no longer serves the model; what is in "
                                            "the cache stays reproducible. Move on by naming another model (and "
                                            "building with --update-lock).", severity="warning"))
    return found


def lock_check(path: str | os.PathLike, options: Options) -> tuple[Program, list[Diagnostic]]:
    """`brief lock check`: each model the brief renders with against brief.lock, without rendering,
    writing or calling anything (no API key needed): E401 for drift or a model not pinned yet, W403
    for a retirement within 30 days."""
    from brief.lang.check_backend import declared_backend

    program = load(path, root=options.root, allow_outside=options.allow_outside)
    check_program(program)
    options.backend_options.setdefault("base_dir", str(Path(os.path.abspath(path)).parent))
    records, seen = [], set()
    for brief in program.module.briefs:
        declared = declared_backend(brief.first(ast.Backend))
        backend = load_backend(declared["backend"])
        if not hasattr(backend, "lock_record") or repr(sorted(declared.items())) in seen:
            continue
        seen.add(repr(sorted(declared.items())))
        try:
            records.append(backend.lock_record(declared, options.backend_options))
        except OpError as exc:
            raise DiagnosticError([backend_diagnostic(program, declared, str(exc))]) from None
    try:
        locked = lockfile.read(lockfile.lock_path(Path(path))).get("models", {})
        problems = lockfile.check(Path(path), records)
    except lockfile.Unreadable as exc:
        locked, problems = {}, [str(exc)]
    found = [backend_diagnostic(program, {"backend": "", "model": p.split("`")[1] if "`" in p else ""}, p, "E401",
                                "Build once to pin it, or with --update-lock to accept a change.") for p in problems]
    return program, found + retirements(program, records, locked if isinstance(locked, dict) else {})
