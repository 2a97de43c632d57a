"""The OpenAI backend: `backend openai "gpt-image-1-2025-04-15" [endpoint "URL"]`, through the
official `openai` client (its retries with backoff on 429 and 5xx), to the documented Images API:
`images.generate` for a layer drawn whole, `images.edit` (multipart: the padded crop and a mask
whose transparent pixels mark the area to paint) for a regional layer and for `inpaint` and
`remove` edits. Everything else (assets, text, compositing, recolour, formats) is the draft
backend's exact operations. `hosted.py` holds what every hosted provider shares.

Key: OPENAI_API_KEY, from the environment only. Endpoint: the brief's `endpoint`, else
BRIEF_OPENAI_ENDPOINT, else OpenAI's. Seeds: none (the service has no seed; the cache makes a
result reproducible).
"""

from __future__ import annotations

import base64

from ..context import OpContext, OpError
from ..store.tiles import Layer, TiledImage
from . import draft, hosted, lazy_module, version_of

np = lazy_module("numpy")
cv2 = lazy_module("cv2")
imaging = lazy_module("brief.runtime.render.imaging")

KEY_ENV = "OPENAI_API_KEY"
API = "openai-images-1"  # this module's contract with the API: part of every key
CAPABILITIES = hosted.Capabilities(mask="alpha0", seed="none",
                                   sizes=((1024, 1024), (1536, 1024), (1024, 1536)), polling=False)
CONTEXT_PAD, EDIT_PAD, MASK_BLUR = 32, 32, 4


def lock(declared: dict, options: dict | None = None) -> dict:
    """What a result depends on: the pinned model id and this module's API contract (not the
    endpoint, not the client's version: they change where and how a call goes, not what comes back)."""
    options = options if options is not None else {}
    hosted.check_pinned(declared.get("model", ""), options)
    hosted.api_key(KEY_ENV, "the openai backend")  # before any work: a clear line at the backend line
    options["openai_endpoint"] = hosted.endpoint(declared, "openai")
    return {**{k: v for k, v in declared.items() if k != "endpoint"}, "api": API, "draft": draft.VERSION}


def lock_record(declared: dict, options: dict) -> dict:
    """What brief.lock pins: the model id (a hosted model has no files to hash)."""
    return {"id": declared["model"], "revision": "", "pipeline": "OpenAI Images API", "files": {},
            "versions": {}}


def _client(ctx: OpContext):
    from openai import OpenAI

    return OpenAI(api_key=hosted.api_key(KEY_ENV, "the openai backend"), base_url=ctx.options.get("openai_endpoint"),
                  max_retries=int(ctx.options.get("retries", 3)), timeout=float(ctx.options.get("timeout", 300)))


def _call(ctx: OpContext, what: str, **kwargs) -> np.ndarray:
    """One API call (counted, at most a few at a time), its image decoded; its request id kept."""
    import openai

    calls = ctx.options.setdefault("_openai_calls", hosted.Calls())
    calls.start(ctx.options)
    size = kwargs.pop("pixels")
    with calls.slots:
        try:
            api = _client(ctx).images
            answer = api.generate(**kwargs) if what == "generate" else api.edit(**kwargs)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = str(body.get("message") or getattr(exc, "message", "") or exc)
            raise OpError(f"OpenAI answered {exc.status_code}: {message[:300]}") from None
        except openai.APIConnectionError as exc:
            raise OpError(f"OpenAI could not be reached ({type(exc).__name__}); check the endpoint and the "
                          "network") from None
    data = answer.data[0].b64_json if answer.data else None
    if not data:
        raise OpError("OpenAI answered without an image")
    ctx.meta["request_id"] = getattr(answer, "_request_id", None) or ""
    ctx.meta["calls"] = ctx.meta.get("calls", 0) + 1
    return hosted.decoded(base64.b64decode(data), size)


def _size(w: int, h: int) -> tuple[tuple[int, int], str]:
    size = hosted.closest_size(w, h, CAPABILITIES.sizes)
    return size, f"{size[0]}x{size[1]}"


def _edit(ctx: OpContext, model: str, prompt: str, scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The crop `scene` painted by the service inside `mask` (float, crop-sized): sent at the accepted
    size nearest its aspect, with the mask in OpenAI's convention (transparent = paint), and the answer
    brought back to the crop's size. The caller keeps only what lies inside the mask."""
    ch, cw = mask.shape
    size, text = _size(cw, ch)
    image = hosted.resized(scene, size)
    hole = hosted.mask_image(hosted.resized(mask.astype(np.float32), size), CAPABILITIES.mask)
    rgba = np.dstack([image, hole[..., 3]])  # the image itself carries the hole too, as the API accepts
    answer = _call(ctx, "edit", model=model, prompt=prompt, size=text, n=1, pixels=size,
                   image=("crop.png", hosted.png(rgba), "image/png"), mask=("mask.png", hosted.png(hole), "image/png"))
    return hosted.resized(answer, (cw, ch))


def encode_prompt(ctx: OpContext, params: dict, inputs: list) -> dict:
    """The prompt, kept as the node's record (the service encodes it)."""
    return {"prompt": params["prompt"], "negative": params.get("negative", "")}


def _prompt(desc: dict) -> str:
    negative = desc.get("negative")
    return desc["prompt"] + (f". Avoid: {negative}" if negative else "")


def generate(ctx: OpContext, params: dict, inputs: list) -> Layer:
    if params.get("control") or params.get("loras"):
        raise OpError("the openai backend has no ControlNet and takes no LoRA; use backend diffusers for them")
    desc, rest = inputs[0], inputs[1:]
    ref = rest[0] if params.get("shape") == "around" and rest else None
    below = rest[1:] if ref is not None else rest
    box, model = tuple(params["box"]), ctx.node["lock"]["model"]
    w, h = box[2] - box[0], box[3] - box[1]
    regional = box != (0, 0, *ctx.canvas) and params.get("context") == "scene" and below
    if not regional:  # drawn whole, at the accepted size nearest its aspect, then fitted to the box
        size, text = _size(w, h)
        drawn = _call(ctx, "generate", model=model, prompt=_prompt(desc), size=text, n=1, pixels=size)
        rgba = np.dstack([hosted.resized(drawn, (w, h)), np.full((h, w), 255, np.uint8)])
    else:  # the padded crop over what lies below, painted inside the box
        crop = tuple(params["crop"])
        scene = imaging.composite_region(crop, below)
        mask = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), np.float32)
        sub = (slice(box[1] - crop[1], box[3] - crop[1]), slice(box[0] - crop[0], box[2] - crop[0]))
        mask[sub] = 1.0
        mask = cv2.GaussianBlur(mask, (0, 0), MASK_BLUR / 2)
        painted = _edit(ctx, model, _prompt(desc), scene, mask)
        rgba = np.dstack([painted[sub], np.rint(mask[sub] * 255).astype(np.uint8)])
    return draft._finish_layer(ctx, params, rgba, ref)


def _edit_region(ctx: OpContext, image: TiledImage, box: tuple, mask_box: np.ndarray, prompt: str) -> TiledImage:
    """`mask_box` (float, over `box`) of the image painted by the service, which sees EDIT_PAD px
    around it; only the masked pixels of the box change."""
    crop = imaging.grow(box, EDIT_PAD, image.size)
    pixels = image.read(crop)
    mask = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), np.float32)
    sub = (slice(box[1] - crop[1], box[3] - crop[1]), slice(box[0] - crop[0], box[2] - crop[0]))
    mask[sub] = mask_box
    mask = cv2.GaussianBlur(mask, (0, 0), MASK_BLUR / 2)
    painted = _edit(ctx, ctx.node["lock"]["model"], prompt, pixels, mask)
    return image.replaced(box, imaging.blend_masked(image.read(box), painted[sub], mask[sub]))


def inpaint(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    image, desc = inputs[0], inputs[1]
    ref = inputs[2] if len(inputs) > 2 else None
    mask = draft._edit_mask(ctx, params, ref)
    return _edit_region(ctx, image, tuple(params["box"]), mask, _prompt(desc))


def remove(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """Classical in-painting first (no trace left to copy), then the service repaints the region
    from its surroundings."""
    first = draft.remove(ctx, params, inputs)
    mask = draft._edit_mask(ctx, params, inputs[1] if len(inputs) > 1 else None)
    return _edit_region(ctx, first, tuple(params["box"]), mask,
                        "the same scene with nothing in the marked area: continue the background seamlessly")


def versions() -> dict[str, str]:
    return {"openai": version_of("openai", "openai")}


OPS = {**draft.OPS, "encode_prompt": encode_prompt, "generate": generate, "inpaint": inpaint, "remove": remove}
