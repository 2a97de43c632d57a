"""Layered PSD files (psd-tools): one per delivered image, its layers as the stack that flattens to it
(`runtime/deliver/layers.py`), so a designer can open an output and change one thing.

Bottom to top: the background (the renderer's, opaque white) or the output's scene, a group
"components" with a pixel layer per component (a text layer named by its text, in any script), and
a group "edits" with each edit's patch. The file's merged image, what viewers and psd-tools'
`composite()` show, is the delivered image itself, byte for byte; the layers blended by
Photoshop's (or psd-tools') arithmetic match it to within a level at anti-aliased edges.
The sRGB profile is embedded, dated by a constant (same bytes every run).
"""

from __future__ import annotations

import io

import numpy as np

Box = tuple[int, int, int, int]


def psd_bytes(size: tuple[int, int], layers: list[tuple[str, str, Box, np.ndarray]], flat: np.ndarray) -> bytes:
    """A PSD of `size`: `layers` (name, kind: scene|component|edit, box, pixels) in stack order over
    the background; `flat` (H, W, 3 uint8): the delivered image, stored as the file's merged image."""
    from PIL import Image
    from psd_tools import PSDImage
    from psd_tools.api.layers import Group, PixelLayer
    from psd_tools.constants import Resource
    from psd_tools.psd.image_resources import ImageResource

    from ..render.imaging import BACKGROUND
    from .encodings import srgb_icc

    doc = PSDImage.frompil(Image.fromarray(np.ascontiguousarray(flat), "RGB"))
    W, H = size
    if not any(kind == "scene" for _, kind, _, _ in layers):
        doc.append(PixelLayer.frompil(Image.new("RGB", (W, H), BACKGROUND), doc, name="background"))
    groups: dict[str, Group] = {}
    for name, kind, box, pixels in layers:
        if kind == "scene":
            doc.append(PixelLayer.frompil(Image.fromarray(np.ascontiguousarray(pixels[..., :3]), "RGB"), doc,
                                          name="scene", top=box[1], left=box[0]))
            continue
        title = "components" if kind == "component" else "edits"
        if title not in groups:
            groups[title] = Group.new(doc, name=title, open_folder=True)
        if pixels.size == 0:
            continue
        pil = Image.fromarray(np.ascontiguousarray(pixels), "RGBA")
        layer = PixelLayer.frompil(pil, groups[title], name="layer", top=box[1], left=box[0])
        layer.name = name[:255]  # the setter keeps any script: a Unicode name, and "?" where Mac Roman has none
        groups[title].append(layer)
    doc.image_resources[Resource.ICC_PROFILE] = ImageResource(key=Resource.ICC_PROFILE, data=srgb_icc())
    # The merged image stays `flat`, the delivered pixels, as `frompil` stored it: psd-tools would
    # otherwise re-blend the layers on save (its arithmetic rounds differently, and it costs a second
    # per image). psd-tools has no public switch for that; tests/test_layers.py holds it to the bytes.
    doc._updated = False
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
