"""The Stability AI backend: `backend stability "sd3.5-large" [endpoint "URL"]`, through plain httpx
(Stability's REST API has no official Python client) to the documented v2beta Stable Image API:
multipart form requests with `authorization: Bearer KEY` and `accept: image/*`, answered with the
picture's bytes and its `finish-reason` and `seed` headers.

- A layer drawn whole: `generate/sd3` (with `model`) for the SD 3.5 models, `generate/core` or
  `generate/ultra` for `stable-image-core` and `stable-image-ultra`, at the aspect ratio nearest it.
- A regional layer and an `inpaint` edit: `edit/inpaint`, the padded crop and a mask (white =
  paint) at about one megapixel (the answer has the size it was sent), `grow_mask` 0 (brief feathers
  the mask itself); only the masked part of the answer is kept.
- A `remove` edit: `edit/erase`, Stability's own eraser, with the same crop and mask.
Seeds are sent and honoured as best effort; the cache makes a result reproducible. Key:
STABILITY_API_KEY, from the environment only. Endpoint: `endpoint`, else BRIEF_STABILITY_ENDPOINT.
"""

from __future__ import annotations

from ..context import OpContext, OpError
from . import hosted, hosted_call, lazy_module

np = lazy_module("numpy")

KEY_ENV = "STABILITY_API_KEY"
API = "stability-v2beta"  # this module's contract with the API: part of every key
HOST = "https://api.stability.ai"
SD3 = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash")
SERVICES = {"stable-image-core": "core", "stable-image-ultra": "ultra"}
MODELS = SD3 + tuple(SERVICES)
ASPECTS = {"1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "2:3": (832, 1216), "3:2": (1216, 832),
           "4:5": (896, 1088), "5:4": (1088, 896), "9:16": (768, 1344), "9:21": (640, 1536)}
CAPABILITIES = hosted.Capabilities(mask="white", seed="best-effort", sizes=tuple(ASPECTS.values()), polling=False)


def lock(declared: dict, options: dict | None = None) -> dict:
    model = declared.get("model", "")
    if model not in MODELS:
        from brief.lang.diagnostics import did_you_mean

        raise OpError(f"`{model}` is not a model of Stability's Stable Image API.{did_you_mean(model, MODELS)} "
                      f"Models: {', '.join(MODELS)}")
    return hosted.prepare(declared, options if options is not None else {}, "stability", API, KEY_ENV, pinned=False)


def lock_record(declared: dict, options: dict) -> dict:
    return hosted.lock_record(declared, "Stability Stable Image API v2beta")


def _explain(response) -> str:
    return hosted_call.explained(response, "errors", "message", "name")


def _post(ctx: OpContext, path: str, size: tuple[int, int], fields: dict, files: dict | None = None) -> np.ndarray:
    """One call (counted, in one of the provider's slots): a multipart form, the picture's bytes back."""
    host = (hosted.endpoint_of(ctx) or HOST).rstrip("/")
    headers = {"authorization": f"Bearer {hosted_call.api_key(KEY_ENV, 'the stability backend')}",
               "accept": "image/*"}
    data = {k: str(v) for k, v in fields.items() if v is not None}
    if fields.get("seed") is not None:
        data["seed"] = str(int(fields["seed"]) % 4294967295)
    with hosted_call.call(ctx, "stability"):
        response = hosted_call.http(ctx, "Stability", "POST", f"{host}/v2beta/stable-image/{path}", _explain,
                                    headers=headers, data=data, files=files or {"none": ("", b"")})
    kind = response.headers.get("content-type", "").split(";")[0]
    if not kind.startswith("image/"):  # asked for `image/*`: anything else is not the picture
        raise OpError(f"Stability answered {kind or 'without a content type'}, not a picture: "
                      f"{hosted_call.said(response.text, 120)}")
    finish = response.headers.get("finish-reason", "SUCCESS")
    if finish != "SUCCESS":
        raise OpError(f"Stability returned no usable picture (finish-reason {hosted_call.said(finish, 40)}): its "
                      "content filter refused it; change the prompt")
    # the API documents no request id for a picture it returns; a proxy's or a later API's is kept
    hosted_call.record(ctx, response.headers.get("x-request-id") or response.headers.get("request-id"))
    return hosted.decoded(response.content, size, "Stability")


def _draw(ctx: OpContext, model: str, prompt: str, w: int, h: int, seed) -> np.ndarray:
    aspect = hosted.nearest_aspect(w, h, ASPECTS)
    fields = {"prompt": prompt, "aspect_ratio": aspect, "seed": seed, "output_format": "png"}
    path = f"generate/{SERVICES[model]}" if model in SERVICES else "generate/sd3"
    if model in SD3:
        fields["model"] = model
    return hosted.resized(_post(ctx, path, ASPECTS[aspect], fields), (w, h))


def _crop_and_mask(scene: np.ndarray, mask: np.ndarray) -> tuple[tuple[int, int], dict]:
    ch, cw = mask.shape
    size = hosted.megapixel(cw, ch, 64, 64, 3072)
    hole = hosted.mask_image(hosted.resized(mask.astype(np.float32), size), "white")
    return size, {"image": ("crop.png", hosted.png(hosted.resized(scene, size)), "image/png"),
                  "mask": ("mask.png", hosted.png(hole), "image/png")}


def _paint(ctx: OpContext, model: str, prompt: str, scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    size, files = _crop_and_mask(scene, mask)
    fields = {"prompt": prompt, "seed": ctx.params.get("seed"), "output_format": "png", "grow_mask": 0}
    return hosted.resized(_post(ctx, "edit/inpaint", size, fields, files), (mask.shape[1], mask.shape[0]))


def _erase(ctx: OpContext, model: str, scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    size, files = _crop_and_mask(scene, mask)
    fields = {"seed": ctx.params.get("seed"), "output_format": "png", "grow_mask": 0}
    return hosted.resized(_post(ctx, "edit/erase", size, fields, files), (mask.shape[1], mask.shape[0]))


def cannot(op: str, params: dict, lock: dict | None = None) -> str | None:
    return hosted.cannot("stability", op, params)


def calls(op: str, params: dict) -> int:
    return hosted.calls(op, params)


OPS = hosted.make_ops("stability", _draw, _paint, _erase)
