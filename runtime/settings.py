"""The project's settings file, brief.toml at the project root: one table of it read for the part of
the runtime that owns that table (`[c2pa]` for content credentials, `[cache]` for the cache's remote
tier). An absent file or table reads as empty; an unreadable one is one line naming the file."""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class SettingsError(Exception):
    """brief.toml exists but cannot be read; the message names the file and the cause."""


def table(root: Path | None, name: str) -> dict | None:
    """The `[name]` table of `root`/brief.toml; None when there is no such file or table (or it is
    not a table)."""
    toml = root / "brief.toml" if root is not None else None
    if toml is None or not toml.is_file():
        return None
    try:
        found = tomllib.loads(toml.read_text(encoding="utf-8")).get(name)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {toml}: {exc}") from None
    return found if isinstance(found, dict) else None
