"""What every hosted image API shares as a backend: the `lock` (the key present, the endpoint,
refusing floating model aliases), sizes a provider accepts, mask conventions, the answers read, and
the region work that keeps every pixel outside a region bit-identical whatever the service returns.
What each call goes through (its budget, its slot, retries, timeouts, keys kept out of messages)
is `hosted_call.py`'s.

A hosted call is a node like any other: the executor caches its result under the node's key
(prompt, the crop's pixels through its inputs, the mask, the model id, the parameters), so a no-op
or an unrelated change makes no call and a result is reproducible forever from the cache. A region
is sent as its padded crop, resized to a size the provider accepts, and the answer is resized back
and composited through the feathered mask: the service may repaint the whole picture, only the
region's pixels are kept. Keys are read from the environment when a call is made and are never
written anywhere (not the cache, the lock, manifests or reports).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from ..context import OpError
from . import hosted_call, lazy_module

np = lazy_module("numpy")
cv2 = lazy_module("cv2")

FLOATING = re.compile(r"(^|[-_.])(latest|preview|beta|alpha|exp|experimental)$|^chatgpt-image", re.I)


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API can do, declared and honoured (the plan refuses what it cannot)."""

    mask: str  # how it takes a mask: "alpha0" (transparent = edit: OpenAI), "white" (white = edit),
    #            "none" (a guided edit: the crop and an instruction), "" (no edits at all)
    seed: str  # "deterministic" | "best-effort" | "none"
    sizes: tuple[tuple[int, int], ...] | str  # the output sizes it accepts (or the rule they follow)
    polling: bool  # answers asynchronously (a job to poll)


def endpoint(declared: dict, provider: str) -> str | None:
    """The host to call: the brief's `endpoint`, else BRIEF_<PROVIDER>_ENDPOINT, else the provider's."""
    return declared.get("endpoint") or os.environ.get(f"BRIEF_{provider.upper()}_ENDPOINT") or None


def prepare(declared: dict, options: dict, provider: str, api: str, key_env: str, pinned: bool = True) -> dict:
    """A backend's `lock`, shared: the model pinned (unless --allow-floating), the key present, the
    endpoint an http(s) URL, each refused at the backend line before any work; a new budget of
    calls. Returns what a result depends on (`declared_lock`); the endpoint is kept, by that lock,
    in `options` (`endpoint_of`), since it is part of no key."""
    if pinned:
        check_pinned(declared.get("model", ""), options)
    hosted_call.api_key(key_env, f"the {provider} backend")
    url = endpoint(declared, provider)
    if url is not None and not re.match(r"https?://[^/\s]", url):
        named = "" if declared.get("endpoint") else f" (BRIEF_{provider.upper()}_ENDPOINT)"
        raise OpError(f"the {provider} endpoint `{url}`{named} is not an http(s) URL: write it whole, as "
                      "\"https://host/path\"")
    lock = declared_lock(declared, api)
    options.setdefault("endpoints", {})[_identity(lock)] = url
    hosted_call.new_build(options)
    return lock


def endpoint_of(ctx) -> str | None:
    """Where the node's calls go: the endpoint of the backend line its lock came from (two briefs of
    one build that name one model through two endpoints share their results, and the last named)."""
    return ctx.options.get("endpoints", {}).get(_identity(ctx.node["lock"]))


def _identity(lock: dict) -> str:
    return json.dumps(lock, sort_keys=True)


def check_pinned(model: str, options: dict) -> None:
    """A floating alias (`…-latest`, `…-preview`) names a model that changes under it: refused unless
    --allow-floating, since the lock could not mean the same pixels."""
    if FLOATING.search(model) and not options.get("allow_floating"):
        raise OpError(f"`{model}` is a floating alias: the model behind it changes without notice. Pin a dated "
                      "model id, or build with --allow-floating to accept it")


def lock_record(declared: dict, pipeline: str) -> dict:
    """What brief.lock pins of a hosted model: its id (it has no files to hash), and the date its
    provider retires it, when the brief's backend line says (`retires`)."""
    return {"id": declared["model"], "revision": "", "pipeline": pipeline, "files": {}, "versions": {},
            "retires": declared.get("retires", "")}


def declared_lock(declared: dict, api: str) -> dict:
    """What a hosted result depends on besides the graph: the model id and the module's API contract;
    not where the call goes (`endpoint`) nor when the model retires."""
    from . import draft

    return {**{k: v for k, v in declared.items() if k not in ("endpoint", "retires")}, "api": api,
            "draft": draft.VERSION}


def closest_size(w: int, h: int, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The accepted size whose aspect is nearest w:h (then the nearest area)."""
    aspect = w / h
    return min(sizes, key=lambda s: (abs(np.log((s[0] / s[1]) / aspect)), abs(s[0] * s[1] - w * h)))


def megapixel(w: int, h: int, multiple: int, lo: int, hi: int, area: int = 1024 * 1024) -> tuple[int, int]:
    """w:h scaled to about `area` pixels, each side a multiple of `multiple` within lo … hi (the sizes
    the providers that take any size accept, and that their models paint best at)."""
    scale = (area / (w * h)) ** 0.5
    return tuple(int(min(hi, max(lo, round(side * scale / multiple) * multiple))) for side in (w, h))  # type: ignore[return-value]


def nearest_aspect(w: int, h: int, aspects) -> str:
    """The aspect ratio ("16:9") among `aspects` nearest w:h."""
    def off(a: str) -> float:
        x, y = (int(v) for v in a.split(":"))
        return abs(float(np.log((x / y) / (w / h))))
    return min(aspects, key=off)


def b64png(pixels) -> str:
    import base64

    return base64.b64encode(png(pixels)).decode()


def resized(pixels, size: tuple[int, int]):
    w, h = size
    up = w * h > pixels.shape[0] * pixels.shape[1]
    return cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LANCZOS4 if up else cv2.INTER_AREA)


def png(pixels) -> bytes:
    """RGB, RGBA or grey (a mask) as PNG bytes: the cache's own encoder."""
    from ..store.png import png_bytes

    return png_bytes(np.ascontiguousarray(pixels))


def decoded(data: bytes, size: tuple[int, int], provider: str):
    """A provider's answer as 8-bit RGB of `size` (any size or mode it sent, resized)."""
    from io import BytesIO

    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as img:
            rgb = np.asarray(img.convert("RGB"))
    except Exception as exc:  # the service's bytes: one clear line
        raise OpError(f"{provider} answered with an image that could not be read ({type(exc).__name__})") from None
    return rgb if (rgb.shape[1], rgb.shape[0]) == size else resized(rgb, size)


def decoded_b64(text, size: tuple[int, int], provider: str):
    """`decoded`, of a picture sent as base64 text."""
    import base64
    import binascii

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise OpError(f"{provider} answered with an image that could not be read (not base64)") from None
    return decoded(data, size, provider)


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


def cannot(name: str, op: str, params: dict, capabilities: Capabilities | None = None,
           model: str = "") -> str | None:
    """What a hosted backend refuses before any call: the model-side controls only diffusers has, and
    (for a model that takes no picture: `capabilities.mask == ""`) every op that repaints a region."""
    if capabilities is not None and capabilities.mask == "":
        what = {"inpaint": "in-paint", "remove": "remove (repaint) a region",
                "outpaint": "out-paint an output's margins"}
        if op in what:
            return f"the {name} model `{model}` only draws whole pictures: it cannot {what[op]}"
        if op == "generate" and params.get("context") == "scene" and params.get("crop") != params.get("box"):
            return (f"the {name} model `{model}` only draws whole pictures: it cannot paint a region over the scene "
                    "(give the component `context none`, or use a model that edits)")
    if op == "generate" and params.get("control"):
        return f"the {name} backend has no ControlNet (`control`): it is a diffusers feature"
    if op in ("generate", "encode_prompt") and params.get("loras"):
        return f"the {name} backend takes no LoRA (`lora`): it is a diffusers feature"
    if op == "refine":
        return f"the {name} backend cannot `refine` a placed asset yet"
    return None


def calls(op: str, params: dict) -> int:
    """How many calls a node makes at most (`brief plan` shows their sum): one per picture drawn or
    region painted, one per margin an out-paint paints; every other op is the draft backend's."""
    if op in ("generate", "inpaint", "remove"):
        return 1
    if op == "outpaint":
        from ..render import formats

        return len(formats.margin_strips(formats.Placement.of(tuple(params["canvas"]), tuple(params["size"]), "fit")))
    return 0


def make_ops(name: str, draw, paint, erase=None) -> dict:
    """The backend's op table: `draw(ctx, model, prompt, w, h, seed)` → RGB of w × h;
    `paint(ctx, model, prompt, scene, mask)` → the crop `scene` repainted (RGB, its size), of which
    only the masked part is kept; `erase(ctx, model, scene, mask)` (where the provider has an eraser)
    → the crop with the masked part removed. Everything else is the draft backend's."""
    from . import draft

    imaging = lazy_module("brief.runtime.render.imaging")
    formats = lazy_module("brief.runtime.render.formats")

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

    def edit_region(ctx, image, box: tuple, mask_box, prompt: str | None, keep=None):
        """`box` of `image` repainted through `mask_box` (its float mask): the padded crop is sent,
        and only the masked part of the answer is kept. `prompt` None: the provider's eraser. `keep`
        (float over the box, 1 = free): the component an `around` region surrounds, which the feathered
        mask must not reach into."""
        crop = imaging.grow(box, EDIT_PAD, image.size)
        mask = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), np.float32)
        sub = (slice(box[1] - crop[1], box[3] - crop[1]), slice(box[0] - crop[0], box[2] - crop[0]))
        mask[sub] = mask_box
        mask = cv2.GaussianBlur(mask, (0, 0), MASK_BLUR / 2)
        if keep is not None:
            mask[sub] *= keep
        model, scene = ctx.node["lock"]["model"], image.read(crop)
        painted = erase(ctx, model, scene, mask) if prompt is None else paint(ctx, model, prompt, scene, mask)
        return image.replaced(box, imaging.blend_masked(image.read(box), painted[sub], mask[sub]))

    def free(params: dict, ref):
        """Where an `around` edit may paint in its box: everywhere but the component it surrounds."""
        if params.get("shape") != "around" or ref is None:
            return None
        return 1 - imaging.layer_alpha_in(ref, tuple(params["box"])).astype(np.float32) / 255

    def inpaint(ctx, params: dict, inputs: list):
        image, desc, ref = inputs[0], inputs[1], (inputs[2] if len(inputs) > 2 else None)
        mask = draft._edit_mask(ctx, params, ref)
        return edit_region(ctx, image, tuple(params["box"]), mask, prompt_of(desc), free(params, ref))

    def remove(ctx, params: dict, inputs: list):
        """The provider's eraser where it has one; else classical in-painting first (no trace left
        to copy), then the service repaints the region."""
        ref = inputs[1] if len(inputs) > 1 else None
        mask, keep = draft._edit_mask(ctx, params, ref), free(params, ref)
        if erase is not None:
            return edit_region(ctx, inputs[0], tuple(params["box"]), mask, None, keep)
        first = draft.remove(ctx, params, inputs)
        return edit_region(ctx, first, tuple(params["box"]), mask,
                           "the same scene with nothing in the marked area: continue the background seamlessly", keep)

    def outpaint(ctx, params: dict, inputs: list):
        """The classical extension, then each margin repainted by the service from the strip of the
        canvas beside it (only the margin is kept). After a change away from the canvas's border the
        last margins hold, and no call is made."""
        image, size, seed = inputs[0], tuple(params["size"]), params.get("seed", 0)
        if formats.keeps_margins(image.size, size, ctx.before, ctx.changed, OUTPAINT_REACH):
            return formats.outpaint(image, size, seed, ctx.before, ctx.changed, OUTPAINT_REACH)
        out = formats.outpaint(image, size, seed)
        prompt = "continue the picture into the marked area seamlessly, the same scene, light and texture"
        strips = formats.margin_strips(formats.Placement.of(image.size, size, "fit"))
        hosted_call.room(ctx, len(strips))  # all its margins or none: a margin painted alone is a call lost
        for strip in strips:
            out = edit_region(ctx, out, strip, np.ones((strip[3] - strip[1], strip[2] - strip[0]), np.float32), prompt)
        return out

    return {**draft.OPS, "encode_prompt": encode_prompt, "generate": generate, "inpaint": inpaint, "remove": remove,
            "outpaint": outpaint}


OUTPAINT_REACH = EDIT_PAD + 3 * MASK_BLUR  # output px into the canvas a margin's repaint reads or blends
