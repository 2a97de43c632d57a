"""The `backend` line: which backends there are, which of them call a hosted API, what each takes
(a model, a revision, an endpoint, a retirement date), and what a brief's line declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import ast
from .check_controls import SCHEDULERS, _word
from .diagnostics import Diagnostic, did_you_mean, error, replace_with_closest
from .scope import Scope

BACKENDS = ("draft", "diffusers", "openai", "gemini", "bfl", "stability")
HOSTED = ("openai", "gemini", "bfl", "stability")  # backends that call a provider's API: a pinned model id, keys
# from the environment; a model id each, for the help text
HOSTED_EXAMPLES = {"openai": "gpt-image-1-2025-04-15", "gemini": "gemini-2.5-flash-image", "bfl": "flux-pro-1.0-fill",
                   "stability": "sd3.5-large"}


def _iso_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def check_backend(scope: Scope) -> Iterator[Diagnostic]:
    for brief in scope.module.briefs:
        yield from _word(brief.first(ast.Scheduler), SCHEDULERS, "scheduler")
        b = brief.first(ast.Backend)
        if b is None:
            continue
        if b.name.value not in BACKENDS:
            hint = did_you_mean(b.name.value, BACKENDS)
            yield error("E350", f"unknown backend `{b.name.value}`",
                        (hint.strip() + " " if hint else "") + f"Backends: {', '.join(BACKENDS)}.", b.name.span,
                        fixes=replace_with_closest(b.name.span, b.name.value, BACKENDS))
        elif b.name.value == "draft" and (b.model or b.revision):
            yield error("E351", "the draft backend takes no model",
                        "Remove the model and revision, or use backend diffusers \"MODEL\".", b.span)
        elif b.name.value in HOSTED and b.model is None:
            yield error("E352", f"the {b.name.value} backend needs a model id",
                        f'Pin a model: backend {b.name.value} "{HOSTED_EXAMPLES[b.name.value]}" (a floating alias such '
                        'as `latest` is refused by the lock unless --allow-floating).', b.span)
        elif b.endpoint is not None and b.name.value not in HOSTED:
            yield error("E351", f"the {b.name.value} backend takes no endpoint",
                        "`endpoint` points a hosted backend (openai, gemini, bfl, stability) at another host; "
                        "remove it.", b.endpoint.span)
        elif b.retires is not None and b.name.value not in HOSTED:
            yield error("E351", f"the {b.name.value} backend takes no retirement date",
                        "`retires` records when a provider retires a hosted model; remove it.", b.retires.span)
        elif b.retires is not None and not _iso_date(b.retires.value):
            yield error("E370", f"`{b.retires.value}` is not a date",
                        'Write the retirement date as YYYY-MM-DD: retires "2027-03-31".', b.retires.span)
        elif b.name.value == "diffusers" and b.model is None:
            yield error("E352", "the diffusers backend needs a model",
                        'Name a local folder or a hub id: backend diffusers "models/sd-turbo" revision "<sha>".',
                        b.span)
        elif b.model is not None and not b.model.value.strip():
            yield error("E352", "the model name is empty", "Name a local folder or a hub id.", b.model.span)


def declared_backend(backend: ast.Backend | None) -> dict:
    """What the brief says renders it: the backend, its model and revision."""
    if backend is None:
        return {"backend": "draft"}
    lock: dict[str, Any] = {"backend": backend.name.value}
    if backend.model is not None:
        lock["model"] = backend.model.value
    if backend.revision is not None:
        lock["revision"] = backend.revision.value
    if backend.endpoint is not None:  # where a hosted backend calls; the runtime keeps it out of the keys
        lock["endpoint"] = backend.endpoint.value
    if backend.retires is not None:  # when the provider retires the model: for brief.lock, not any key
        lock["retires"] = backend.retires.value
    return lock
