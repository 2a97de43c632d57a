"""Delivery settings of an output (`format`, `quality`, `max`, `file`): what the language accepts.

Owns the output formats and their file extensions, the quality range and its default, file-size
caps as people write them (`500KB`, `1.5MB`, `2MiB`) and how sizes read back in messages, and the
rules a delivery file name must keep. Pure: the checker calls it at check time, the runtime's
encoder (`runtime/deliver/encodings.py`) uses the same numbers.

Sizes: KB, MB and GB are powers of 1000 (what delivery specs mean: an ad network's "150 KB" is
150,000 bytes); KiB, MiB and GiB are powers of 1024; `kB` is accepted for KB and `B` for bytes.
Other spellings (`kb` is kilobits to some, `Mb` megabits) are refused with the spelling to use.

File names: one name inside the output folder, portable to the systems a delivery lands on
(Windows shares, DAMs, ad servers): no path separators or `..`, no control or bidirectional
formatting characters, none of the characters Windows refuses, no leading dot (hidden) or dash
(read as an option), no space at either end of the name or before its extension, no Windows device
name (CON, NUL, COM1…), at most 200 bytes of UTF-8, and the extension of its format (any case).
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

FORMATS: dict[str, tuple[str, ...]] = {  # format → its extensions; the first is the one brief writes
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
    "webp": (".webp",),
}
DEFAULT_FORMAT = "png"
LOSSY = ("jpeg", "webp")
QUALITY_MIN, QUALITY_MAX = 1, 100
DEFAULT_QUALITY = 90  # high enough for type and brand-colour edges, about a third of the size of 100

UNITS = {"B": 1, "KB": 1000, "kB": 1000, "MB": 1000**2, "GB": 1000**3,
         "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
MAX_CAP = 1000**3  # a cap above 1GB is surely a slip (500GB for 500KB): no image brief writes is near it
MAX_NAME_BYTES = 200
_SIZE = re.compile(r"(\d+(?:\.\d+)?) *([A-Za-z]+)", re.ASCII)
_WINDOWS_REFUSES = '<>:"|?*'
_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_CONTROL = ("Cc", "Cf", "Zl", "Zp")  # control, formatting (bidi overrides, zero-width), line/paragraph breaks


def parse_file_size(text: str) -> int:
    """`500KB`, `1.5MB`, `2MiB`, `100B` (a space before the unit allowed) in bytes; anything else
    raises ValueError with one sentence saying what to write."""
    found = _SIZE.fullmatch(text.strip()) if len(text) <= 64 else None
    if found is None:
        raise ValueError(f"'{text[:40]}' is not a size: write a number and a unit, e.g. 500KB or 1.5MB")
    number, unit = found.groups()
    if unit not in UNITS:
        known = {u.lower(): u for u in UNITS if u != "kB"}
        if unit.lower() in known:
            raise ValueError(f"write {number}{known[unit.lower()]}: units are B, KB, MB, GB (of 1000) "
                             "or KiB, MiB, GiB (of 1024)")
        raise ValueError(f"'{unit}' is not a unit of size: use B, KB, MB, GB (of 1000) or KiB, MiB, GiB (of 1024)")
    size = Fraction(number) * UNITS[unit]
    if size.denominator != 1:
        raise ValueError(f"{text.strip()} is not a whole number of bytes ({float(size):g})")
    if size <= 0:
        raise ValueError("a size cap must be more than 0 bytes")
    if size > MAX_CAP:
        raise ValueError(f"{text.strip()} is too large for a cap: it must be at most 1GB")
    return int(size)


def format_size(size: int) -> str:
    """A byte count as people read it, in the units `parse_file_size` takes: `999 bytes`,
    `11.2 KB`, `812 KB`, `1.5 MB` (one decimal below 100 of a unit)."""
    if size < 1000:
        return f"{size} bytes"
    scale, unit = next((s, u) for u, s in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)) if size >= s)
    value = size / scale
    text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{text.removesuffix('.0')} {unit}"


def check_file_name(name: str, fmt: str) -> str:
    """`name` unchanged when it is a safe delivery file name for `fmt`; otherwise ValueError with one
    sentence saying what is wrong (the checker turns it into a diagnostic at the `file` line)."""
    if fmt not in FORMATS:
        raise ValueError(f"'{fmt}' is not an output format: use {', '.join(FORMATS)}")
    if not name:
        raise ValueError("the file name is empty")
    if ".." in name:
        raise ValueError(f"the file name '{name}' has '..' in it: a delivery name stays inside the output folder")
    if "/" in name or "\\" in name:
        raise ValueError(f"the file name '{name}' has a path separator in it: give a name, not a path")
    for char in name:
        if unicodedata.category(char) in _CONTROL:
            raise ValueError(f"the file name has a control character (U+{ord(char):04X}) in it: "
                             "use letters, digits, spaces, '-', '_' and '.'")
        if char in _WINDOWS_REFUSES:
            raise ValueError(f"the file name '{name}' has '{char}' in it, which Windows and many delivery systems "
                             "refuse")
    if name[0] in ".-":
        why = "hidden" if name[0] == "." else "read as an option by command-line tools"
        raise ValueError(f"the file name '{name}' would be {why}: a delivery name must not start with '{name[0]}'")
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        raise ValueError(f"the file name '{name}' has no extension: end it in {' or '.join(FORMATS[fmt])}")
    if name != name.strip() or stem != stem.rstrip():
        raise ValueError(f"the file name '{name}' has a space at its end or before its extension")
    if stem.split(".")[0].upper() in _DEVICE_NAMES:
        raise ValueError(f"the file name '{name}' is reserved by Windows for a device: choose another")
    length = len(name.encode("utf-8"))
    if length > MAX_NAME_BYTES:
        raise ValueError(f"the file name is {length} bytes long in UTF-8; the limit is {MAX_NAME_BYTES}")
    if f".{extension.lower()}" not in FORMATS[fmt]:
        raise ValueError(f"the file name '{name}' does not match its format: a {fmt} file ends in "
                         f"{' or '.join(FORMATS[fmt])}, not .{extension}")
    return name
