"""Reading the image files a user gives us (assets, masks, the brand kit's logo): the one place
that opens them, for the build and for `brief check`.

It owns the limits (file size, and pixels read from the header before anything is decoded, so a
decompression bomb is refused unopened), the check that a file still has the bytes the graph was
compiled with, and turning images as people have them into what compositing expects: the EXIF
orientation applied (a phone photo stands upright), ICC-tagged pixels (Display P3, Adobe RGB,
CMYK) converted to sRGB, 16-bit images scaled to 8 bits and palette images expanded with their
transparency. An untagged 8-bit image decodes to exactly the pixels Pillow gives for it.

Every way a file can be unreadable (not an image, truncated, garbage, a bomb, a broken profile) is
an `OpError` with a one-line reason; `diagnose` turns the same reasons into diagnostics at the
line that names the file.
"""

from __future__ import annotations

import functools
import hashlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from brief.lang import ast
from brief.lang.check_files import IMAGE_SUFFIXES, looks_like_image, named_files
from brief.lang.diagnostics import Diagnostic, error
from brief.lang.load import Program
from brief.lang.paths import resolve
from brief.lang.scope import scopes

from ..context import OpError
from ..store.memo import memo_path, read_memo, save_memo, stat_identity

if TYPE_CHECKING:  # Pillow is imported by the first image decoded: `brief check` of a brief without images needs none
    from PIL import Image, ImageCms

MAX_PIXELS = 64 * 1024 * 1024  # larger (or a decompression bomb) is refused
MAX_FILE_BYTES = 512 * 1024 * 1024  # more than any PNG, JPEG or WebP of MAX_PIXELS needs
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
PROFILE_MODES = {"RGB ": ("RGB", "RGBA"), "GRAY": ("L", "LA"), "CMYK": ("CMYK",)}  # ICC space → pixel modes


_decoded: dict[tuple[str, str], object] = {}  # (sha256, mode) → image: one asset placed many times decodes once
DECODED_PIXELS = 32 * 1024 * 1024  # what the memo may hold, in pixels


def open_image(path: Path, expected_sha256: str | None = None, mode: str = "RGBA", quick: bool = False) -> Image.Image:
    """The image at `path`, upright, 8-bit: "RGBA" in sRGB (assets, logos) or "L" (masks: their
    values are coverage, not colour, so no profile is applied, though a broken one is refused).
    With `expected_sha256`, the bytes must be those the brief was compiled with (and an image of
    those bytes decoded before in this process is that image again: callers do not change it).
    `quick` (for checking a file): a JPEG may decode at a reduced scale; every byte is still read."""
    memo = (expected_sha256, mode) if expected_sha256 and not quick else None
    if memo in _decoded:
        return _decoded[memo]
    img = _open_image(path, expected_sha256, mode, quick)
    if memo:
        while _decoded and sum(i.width * i.height for i in _decoded.values()) + img.width * img.height > DECODED_PIXELS:
            _decoded.pop(next(iter(_decoded)))
        if img.width * img.height <= DECODED_PIXELS:
            _decoded[memo] = img
    return img


def _open_image(path: Path, expected_sha256: str | None, mode: str, quick: bool) -> Image.Image:
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise OpError(f"{path.name} is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
        data = path.read_bytes()  # hashed and decoded from the same bytes
    except OSError as exc:
        raise OpError(f"{path.name} cannot be read: {exc.strerror or exc}") from None
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise OpError(f"{path.name} changed after the brief was compiled; run the build again")
    with _refusals(path.name):
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:  # from the header, before decoding
            raise OpError(f"{path.name} is {img.width} x {img.height} pixels; the limit is "
                          f"{MAX_PIXELS // 2**20} megapixels (is it a decompression bomb?)")
        if quick and img.format == "JPEG":
            img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
        img.load()
        profile = _profile(img, path.name)
        ImageOps.exif_transpose(img, in_place=True)
        img = _eight_bit(img)
        if mode == "L":
            return img.convert("L")
        return _to_srgb(img, profile).convert("RGBA")


@contextmanager
def _refusals(name: str) -> Iterator[None]:
    """Pillow's ways of saying a file is unreadable, as one-line `OpError`s."""
    from PIL import Image, ImageCms, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # metadata Pillow skips (odd EXIF of phones)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own, larger limit
        raise OpError(f"{name} was refused as a decompression bomb: it claims over "
                      f"{MAX_PIXELS // 2**20} megapixels") from None
    except UnidentifiedImageError:
        raise OpError(f"{name} is not an image Pillow can read (use PNG, JPEG or WebP)") from None
    except ImageCms.PyCMSError as exc:
        raise OpError(f"{name} has an ICC profile that cannot be applied: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated, corrupt, garbage
        reason = str(exc).strip() or type(exc).__name__
        raise OpError(f"{name} could not be decoded ({reason}); is it truncated or damaged?") from None


def _profile(img: Image.Image, name: str) -> ImageCms.ImageCmsProfile | None:
    """The embedded ICC profile, parsed, or None; one that does not fit the pixels is refused."""
    icc = img.info.get("icc_profile")
    if not icc:
        return None
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    space = profile.profile.xcolor_space
    base = img.mode[:-1] if img.mode in ("RGBA", "LA", "PA") else img.mode
    fits = PROFILE_MODES.get(space, ())
    if base not in fits and not (base == "P" and space == "RGB ") and not (base in SIXTEEN_BIT and space == "GRAY"):
        raise OpError(f"{name} has a {space.strip()} ICC profile for {img.mode} pixels; "
                      "save it again with a matching profile (or none)")
    return profile


def _eight_bit(img: Image.Image) -> Image.Image:
    """16-bit grey scaled to 8 bits (rounded, with a tRNS colour as alpha); palette images expanded
    with their transparency; bilevel to grey. 8-bit L, LA, RGB, RGBA and CMYK pass unchanged."""
    if img.mode in SIXTEEN_BIT:
        import numpy as np
        from PIL import Image

        wide = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        grey = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
        key = img.info.get("transparency")
        if isinstance(key, int):
            grey = Image.merge("LA", (grey, Image.fromarray(np.where(wide == key, 0, 255).astype(np.uint8), "L")))
        return grey
    if img.mode in ("P", "PA") or (img.mode == "RGB" and "transparency" in img.info):
        return img.convert("RGBA")
    if img.mode == "L" and "transparency" in img.info:
        return img.convert("LA")
    if img.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return img
    return img.convert("RGBA" if "A" in img.getbands() else ("L" if img.mode == "1" else "RGB"))


@functools.cache
def srgb_profile() -> ImageCms.ImageCmsProfile:
    """The sRGB profile (Little CMS's built-in) that pixels are converted to, and that exports name."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(img: Image.Image, profile: ImageCms.ImageCmsProfile | None) -> Image.Image:
    """Pixels in `profile`'s colour space converted to sRGB (relative colorimetric, as browsers
    do for display profiles); alpha kept as it was."""
    if profile is None:
        return img
    from PIL import ImageCms

    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    colour = img.convert(img.mode[:-1]) if alpha is not None else img
    out = ImageCms.profileToProfile(colour, profile, srgb_profile(), outputMode="RGB",
                                    renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    if alpha is not None:
        out.putalpha(alpha)
    return out


# ── `brief check`: every image a brief names, decoded ─────────────────────────

DECODED_MEMO = memo_path("decoded-images.json")  # stat identity of files that decoded cleanly
DECODE_RULES = 1  # bump when `open_image` refuses more: every file is decoded again
MEMO_ENTRIES = 20_000


def diagnose(program: Program) -> list[Diagnostic]:
    """An error at every asset, mask and logo path whose file does not decode (truncated,
    garbage, too large, a bomb, a broken profile). Each distinct file is decoded once, quickly,
    and a file that decoded cleanly is not decoded again while it is unchanged (the user's memo,
    by `stat_identity`: `brief check` in a pre-commit hook imports no image library); paths the
    language checks already refuse (missing, outside, not an image) are left to them."""
    found, verdicts, clean = [], {}, {}
    memo = read_memo(DECODED_MEMO)
    for scope in scopes(program):
        for path, written, where, kind in named_files(scope.module):  # a path with placeholders: each value
            resolved = resolve(scope.folder, written, program.root, program.allow_outside).path
            if kind != "image" or resolved is None or resolved.suffix.lower() not in IMAGE_SUFFIXES \
                    or not looks_like_image(resolved):
                continue
            if resolved not in verdicts:
                verdicts[resolved] = _problem(resolved, memo, clean)
            if verdicts[resolved]:
                found.append(_diagnostic(path, verdicts[resolved] + (f" (for {where}: `{written}`)" if where else "")))
    save_memo(DECODED_MEMO, clean, MEMO_ENTRIES)
    return found


def _problem(path: Path, memo: dict, clean: dict) -> str:
    """Why the file cannot be used, or ''. A clean decode is added to `clean`, under the identity
    the file had before it was read (a write meanwhile gives it another)."""
    try:
        tag = f"{DECODE_RULES}:{stat_identity(path.stat())}"
    except OSError:
        tag = None
    if tag is not None and memo.get(tag) is True:
        return ""
    try:
        open_image(path, quick=True)
    except OpError as exc:
        return str(exc)
    if tag is not None:
        clean[tag] = True
    return ""


def _diagnostic(path: ast.Str, problem: str) -> Diagnostic:
    return error("E362", f"this image cannot be used: {problem}",
                 "Export the file again (PNG, JPEG or WebP, at most "
                 f"{MAX_PIXELS // 2**20} megapixels) and save it completely.", path.span)
