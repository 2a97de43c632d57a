"""Before/after pictures for reviewers (`brief diff --images DIR`): both versions of a brief built
(into scratch folders, sharing the project's cache, so the old one costs nothing it has rendered
before), and for every output whose node changed, three thumbnails: before, after, and where they
differ (the after image, dimmed, with the changed pixels in red) — ready for a pull-request comment.
"""

from __future__ import annotations

from pathlib import Path

THUMB = 480  # px, the longest side


def write_images(old_prog, old_graph, new_prog, new_graph, folder: Path, scratch: Path) -> list[str]:
    """Build both sides and write DIR/<variant>/<output>-{before,after,difference}.png for each
    output whose node differs; returns one line per output written (or why none)."""
    from ..build import Options, build_file

    old_variants = {v.name: v for v in old_graph.variants}
    changed = [(v.name, name) for v in new_graph.variants if v.name in old_variants
               for name, key in v.outputs.items() if old_variants[v.name].outputs.get(name) != key]
    if not changed:
        return ["no output changed"]
    cache = Path(new_prog.root) / ".brief" / "cache"
    folders = {}
    for side, prog in (("before", old_prog), ("after", new_prog)):
        wanted = sorted({v for v, _ in changed})
        built = build_file(prog.module.path, Options(cache=cache, out=scratch / side, checks=False, sign="off",
                                                     variants=wanted, root=Path(prog.root)))
        folders[side] = {b.variant.name: b for b in built}
    lines = []
    for variant, output in changed:
        images = []
        for side in ("before", "after"):
            b = folders[side].get(variant)
            # the PNG master of a JPEG or WebP output: lossy encoding would show as noise everywhere
            images.append(b.folder / b.manifest["stacks"][output]["image"] if b else None)
        if None in images:
            lines.append(f"{variant} / {output}: not built on both sides")
            continue
        dest = folder / variant
        dest.mkdir(parents=True, exist_ok=True)
        _thumbs(images[0], images[1], dest, output)
        lines.append(f"{variant} / {output} → {dest / output}-{{before,after,difference}}.png")
    return lines


def _thumbs(before: Path, after: Path, dest: Path, output: str) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(before) as a, Image.open(after) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        for name, im in (("before", a), ("after", b)):
            small = im.copy()
            small.thumbnail((THUMB, THUMB), Image.LANCZOS)
            small.save(dest / f"{output}-{name}.png")
        if a.size != b.size:
            a = a.resize(b.size, Image.LANCZOS)
        was, now = np.asarray(a, np.int16), np.asarray(b, np.int16)
    differs = np.abs(now - was).max(axis=2) > 0
    shown = (now * 0.35 + 165).astype(np.uint8)  # the new image, faded
    shown[differs] = (220, 20, 60)
    picture = Image.fromarray(shown)
    picture.thumbnail((THUMB, THUMB), Image.NEAREST)  # every changed pixel stays visible
    picture.save(dest / f"{output}-difference.png")
