"""What every hosted image API shares as a backend: keys from the environment only, the endpoint,
refusing floating model aliases, a call budget and a concurrency limit, sizes a provider accepts,
mask conventions, and the region work that keeps every pixel outside a region bit-identical
whatever the service returns.

A hosted call is a node like any other: the executor caches its result under the node's key
(prompt, the crop's pixels through its inputs, the mask, the model id, the parameters), so a no-op
or an unrelated change makes no call and a result is reproducible forever from the cache. A region
is sent as its padded crop, resized to a size the provider accepts, and the answer is resized back
and composited through the feathered mask: the service may repaint the whole picture, only the
region's pixels are kept. Keys are read from the environment when a call is made and are never
written anywhere (not the cache, the lock, manifests or reports).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

from ..context import OpError
from . import lazy_module

np = lazy_module("numpy")
cv2 = lazy_module("cv2")

FLOATING = re.compile(r"(^|[-_.])(latest|preview|beta|alpha|exp|experimental)$|^chatgpt-image", re.I)


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API can do, declared and honoured (the plan refuses what it cannot)."""

    mask: str  # how it takes a mask: "alpha0" (transparent = edit: OpenAI), "white" (white = edit), "none"
    seed: str  # "deterministic" | "best-effort" | "none"
    sizes: tuple[tuple[int, int], ...]  # the output sizes it accepts
    polling: bool  # answers asynchronously (a job to poll)


def api_key(env: str, provider: str) -> str:
    key = os.environ.get(env, "").strip()
    if not key:
        raise OpError(f"{provider} needs an API key: set {env} in the environment (brief never reads keys from "
                      "files and never writes them anywhere)")
    return key


def endpoint(declared: dict, provider: str) -> str | None:
    """The host to call: the brief's `endpoint`, else BRIEF_<PROVIDER>_ENDPOINT, else the provider's."""
    return declared.get("endpoint") or os.environ.get(f"BRIEF_{provider.upper()}_ENDPOINT") or None


def check_pinned(model: str, options: dict) -> None:
    """A floating alias (`…-latest`, `…-preview`) names a model that changes under it: refused unless
    --allow-floating, since the lock could not mean the same pixels."""
    if FLOATING.search(model) and not options.get("allow_floating"):
        raise OpError(f"`{model}` is a floating alias: the model behind it changes without notice. Pin a dated "
                      "model id, or build with --allow-floating to accept it")


class Calls:
    """The calls one build makes: counted against `--max-calls`, at most `limit` at a time."""

    def __init__(self, limit: int = 4):
        self.made = 0
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(limit)

    def start(self, options: dict) -> None:
        budget = options.get("max_calls")
        with self.lock:
            if budget is not None and self.made >= int(budget):
                raise OpError(f"the build would make more than {budget} hosted calls (--max-calls); "
                              "raise the budget, or render fewer variants")
            self.made += 1


def closest_size(w: int, h: int, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The accepted size whose aspect is nearest w:h (then the nearest area)."""
    aspect = w / h
    return min(sizes, key=lambda s: (abs(np.log((s[0] / s[1]) / aspect)), abs(s[0] * s[1] - w * h)))


def resized(pixels, size: tuple[int, int]):
    w, h = size
    up = w * h > pixels.shape[0] * pixels.shape[1]
    return cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LANCZOS4 if up else cv2.INTER_AREA)


def png(pixels) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if pixels.shape[-1] == 4
                                                 else cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def decoded(data: bytes, size: tuple[int, int]):
    """A provider's answer as 8-bit RGB of `size` (any size or mode it sent, resized)."""
    from io import BytesIO

    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as img:
            rgb = np.asarray(img.convert("RGB"))
    except Exception as exc:  # the service's bytes: one clear line
        raise OpError(f"the service returned an image that could not be read ({type(exc).__name__})") from None
    return rgb if (rgb.shape[1], rgb.shape[0]) == size else resized(rgb, size)


def mask_image(mask, convention: str):
    """The mask in the provider's convention: "alpha0" → RGBA whose transparent pixels mark the area
    to edit (OpenAI); "white" → white marks it."""
    inside = np.clip(mask, 0, 1) >= 0.5
    if convention == "alpha0":
        rgba = np.full(mask.shape + (4,), 255, np.uint8)
        rgba[inside, 3] = 0
        return rgba
    return np.where(inside, 255, 0).astype(np.uint8)


# ── the ops, written once: a provider gives how to draw a picture and how to paint a crop ──────────

CONTEXT_PAD, EDIT_PAD, MASK_BLUR = 32, 32, 4


def prompt_of(desc: dict) -> str:
    negative = desc.get("negative")
    return desc["prompt"] + (f". Avoid: {negative}" if negative else "")


def encode_prompt(ctx, params: dict, inputs: list) -> dict:
    """The prompt, kept as the node's record (the service encodes it)."""
    return {"prompt": params["prompt"], "negative": params.get("negative", "")}


def cannot(name: str, op: str, params: dict) -> str | None:
    """What a hosted backend refuses before any call: the model-side controls only diffusers has."""
    if op == "generate" and params.get("control"):
        return f"the {name} backend has no ControlNet (`control`): it is a diffusers feature"
    if op in ("generate", "encode_prompt") and params.get("loras"):
        return f"the {name} backend takes no LoRA (`lora`): it is a diffusers feature"
    if op == "refine":
        return f"the {name} backend cannot `refine` a placed asset yet"
    return None


def make_ops(name: str, draw, paint) -> dict:
    """The backend's op table: `draw(ctx, model, prompt, w, h, seed)` → RGB of w × h;
    `paint(ctx, model, prompt, scene, mask)` → the crop `scene` repainted (RGB, its size), of which
    only the masked part is kept. Everything else is the draft backend's."""
    from . import draft

    imaging = lazy_module("brief.runtime.render.imaging")

    def generate(ctx, params: dict, inputs: list):
        if params.get("control") or params.get("loras"):
            raise OpError(f"the {name} backend has no ControlNet and takes no LoRA; use backend diffusers for them")
        desc, rest = inputs[0], inputs[1:]
        ref = rest[0] if params.get("shape") == "around" and rest else None
        below = rest[1:] if ref is not None else rest
        box, model = tuple(params["box"]), ctx.node["lock"]["model"]
        w, h = box[2] - box[0], box[3] - box[1]
        if box == (0, 0, *ctx.canvas) or params.get("context") != "scene" or not below:  # drawn whole
            rgba = np.dstack([draw(ctx, model, prompt_of(desc), w, h, params.get("seed")),
                              np.full((h, w), 255, np.uint8)])
        else:  # the padded crop over what lies below, painted inside the box
            crop = tuple(params["crop"])
            scene = imaging.composite_region(crop, below)
            mask = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), np.float32)
            sub = (slice(box[1] - crop[1], box[3] - crop[1]), slice(box[0] - crop[0], box[2] - crop[0]))
            mask[sub] = 1.0
            mask = cv2.GaussianBlur(mask, (0, 0), MASK_BLUR / 2)
            painted = paint(ctx, model, prompt_of(desc), scene, mask)
            rgba = np.dstack([painted[sub], np.rint(mask[sub] * 255).astype(np.uint8)])
        return draft._finish_layer(ctx, params, rgba, ref)

    def edit_region(ctx, image, box: tuple, mask_box, prompt: str):
        crop = imaging.grow(box, EDIT_PAD, image.size)
        mask = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), np.float32)
        sub = (slice(box[1] - crop[1], box[3] - crop[1]), slice(box[0] - crop[0], box[2] - crop[0]))
        mask[sub] = mask_box
        mask = cv2.GaussianBlur(mask, (0, 0), MASK_BLUR / 2)
        painted = paint(ctx, ctx.node["lock"]["model"], prompt, image.read(crop), mask)
        return image.replaced(box, imaging.blend_masked(image.read(box), painted[sub], mask[sub]))

    def inpaint(ctx, params: dict, inputs: list):
        image, desc = inputs[0], inputs[1]
        mask = draft._edit_mask(ctx, params, inputs[2] if len(inputs) > 2 else None)
        return edit_region(ctx, image, tuple(params["box"]), mask, prompt_of(desc))

    def remove(ctx, params: dict, inputs: list):
        """Classical in-painting first (no trace left to copy), then the service repaints the region."""
        first = draft.remove(ctx, params, inputs)
        mask = draft._edit_mask(ctx, params, inputs[1] if len(inputs) > 1 else None)
        return edit_region(ctx, first, tuple(params["box"]), mask,
                           "the same scene with nothing in the marked area: continue the background seamlessly")

    return {**draft.OPS, "encode_prompt": encode_prompt, "generate": generate, "inpaint": inpaint, "remove": remove}
