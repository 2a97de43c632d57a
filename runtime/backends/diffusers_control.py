"""ControlNet for the diffusers backend: `control canny|depth from COMPONENT [weight F]`.

The ControlNet models are folders like the base model (`controlnet canny "folder"` in the brief),
vetted the same way (a `ControlNetModel` config, safetensors weights) and hashed into the lock and
`brief.lock`. The conditioning image is made from the guiding layer as placed, in the frame the
node denoises: its edges (Canny on its pixels, and on its alpha so the silhouette is always there)
or a depth proxy from its silhouette (the distance to its edge, nearest at its middle: no depth
model is downloaded; a folder-provided estimator would slot in here). Supported on the UNet families
(SD 1.x, SDXL), whose ControlNet pipelines diffusers composes with `from_pipe`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..context import OpError
from . import lazy_module
from .diffusers_model import file_hashes, quiet_libraries

np = lazy_module("numpy")
cv2 = lazy_module("cv2")

ALLOWED_CLASSES = {"ControlNetModel"}


def vet(path: Path) -> dict[str, str]:
    """A ControlNet folder's file hashes, after checking it is one brief can load."""
    import json

    config = path / "config.json"
    if not config.is_file():
        raise OpError(f"controlnet folder {path} has no config.json; it is not a diffusers ControlNet")
    try:
        cls = json.loads(config.read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError) as exc:
        raise OpError(f"{config} is not readable JSON: {exc}") from None
    if cls not in ALLOWED_CLASSES:
        raise OpError(f"{path}: `{cls}` is not a ControlNet brief can load ({', '.join(sorted(ALLOWED_CLASSES))})")
    if not list(path.glob("*.safetensors")):
        raise OpError(f"controlnet {path.name} has no .safetensors weights; brief loads safetensors only")
    return file_hashes(path)


@lru_cache(maxsize=4)
def load(path: str, device: str, dtype: str, content: str = ""):
    quiet_libraries()
    import torch
    from diffusers import ControlNetModel

    try:
        model = ControlNetModel.from_pretrained(path, use_safetensors=True, local_files_only=True,
                                                torch_dtype=getattr(torch, dtype))
    except Exception as exc:  # the folder is the user's input: one clear line
        first = (str(exc).splitlines() or [""])[0][:300]
        raise OpError(f"the ControlNet in {path} could not be loaded ({type(exc).__name__}: {first})") from None
    return model.to(device)


_pipes: dict[tuple[int, int, str], tuple] = {}


def pipeline(pipe, controlnet, task: str):
    """`pipe` composed with `controlnet` for `task` ("text2image" or "inpaint")."""
    from .diffusers_family import family

    if family(pipe) not in ("sd", "sdxl"):
        raise OpError("`control` needs a Stable Diffusion 1.x or SDXL model (this one is "
                      f"{type(pipe).__name__})")
    key = (id(pipe), id(controlnet), task)
    if key not in _pipes:
        from diffusers import AutoPipelineForInpainting, AutoPipelineForText2Image

        auto = AutoPipelineForInpainting if task == "inpaint" else AutoPipelineForText2Image
        composed = auto.from_pipe(pipe, controlnet=controlnet)
        composed.set_progress_bar_config(disable=True)
        _pipes[key] = (pipe, controlnet, composed)  # the parts kept alive with it: their ids stay theirs
    return _pipes[key][2]


def condition(layer, frame: tuple[int, int, int, int], size: tuple[int, int], kind: str):
    """The conditioning image (PIL, RGB, `size`) of the guiding `layer` seen in canvas box `frame`."""
    from PIL import Image

    x0, y0, x1, y1 = frame
    rgba = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    lx0, ly0, lx1, ly1 = layer.box
    ix0, iy0, ix1, iy1 = max(x0, lx0), max(y0, ly0), min(x1, lx1), min(y1, ly1)
    if ix0 < ix1 and iy0 < iy1:
        rgba[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = layer.rgba[iy0 - ly0:iy1 - ly0, ix0 - lx0:ix1 - lx0]
    alpha = rgba[..., 3]
    if kind == "canny":
        gray = cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2GRAY)
        gray[alpha == 0] = 0
        edges = cv2.Canny(gray, 100, 200) | cv2.Canny(alpha, 50, 150)
        out = edges
    else:  # depth: nearest in the middle of the silhouette, far outside it
        dist = cv2.distanceTransform((alpha > 127).astype(np.uint8), cv2.DIST_L2, 5)
        out = np.rint(255 * dist / dist.max()).astype(np.uint8) if dist.max() > 0 else dist.astype(np.uint8)
    out = cv2.resize(out, size, interpolation=cv2.INTER_AREA if out.shape[1] > size[0] else cv2.INTER_LINEAR)
    return Image.fromarray(np.dstack([out] * 3))
