"""The Black Forest Labs backend: `backend bfl "flux-pro-1.0-fill" [endpoint "URL"]`, through plain
httpx (BFL has no official Python client) to the documented BFL API: `POST /v1/{model}` with a JSON
body and the key in `x-key`; the answer names a job (`id`, `polling_url`), polled with GET until its
`status` is `Ready`; its `result.sample` is a signed URL the picture is downloaded from (the key is
not sent there).

What a model can do follows its family, and the plan refuses the rest before any call:
- FLUX.1 Fill (`flux-pro-1.0-fill`, …): an exact mask, white = paint. A regional layer or an edit
  sends the padded crop and its mask; a whole picture is a blank picture filled all over.
- FLUX.1 Kontext (`flux-kontext-pro`, `flux-kontext-max`): a guided edit (the crop and an
  instruction, no mask; only the masked part of the answer is kept), and text to image.
- the text-to-image models (`flux-pro-1.1`, `flux-pro-1.1-ultra`, `flux-dev`, …): whole pictures
  only; a region painted over the scene, in-paint, removal and out-paint are refused.
Sizes: multiples of 32, 256–1440 px a side, about one megapixel (Kontext and Ultra take an aspect
ratio). Seeds are sent and honoured as best effort; the cache makes a result reproducible. Key:
BFL_API_KEY, from the environment only. Endpoint: `endpoint`, else BRIEF_BFL_ENDPOINT, else BFL's.
"""

from __future__ import annotations

import re
import time

from ..context import OpContext, OpError
from . import hosted, hosted_call, lazy_module

np = lazy_module("numpy")

KEY_ENV = "BFL_API_KEY"
API = "bfl-v1"  # this module's contract with the API: part of every key
HOST = "https://api.bfl.ai"
SIZES = "multiples of 32, 256–1440 px a side, about 1 MP"
ASPECTS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")
CAPABILITIES = {
    "fill": hosted.Capabilities(mask="white", seed="best-effort", sizes=SIZES, polling=True),
    "kontext": hosted.Capabilities(mask="none", seed="best-effort", sizes="aspect ratios 21:9 … 9:21, about 1 MP",
                                   polling=True),
    "text-to-image": hosted.Capabilities(mask="", seed="best-effort", sizes=SIZES, polling=True),
}
MODEL = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")  # a path segment of the API: /v1/{model}


def family(model: str) -> str:
    return "fill" if "fill" in model else "kontext" if model.startswith("flux-kontext") else "text-to-image"


def lock(declared: dict, options: dict | None = None) -> dict:
    model = declared.get("model", "")
    if not MODEL.match(model):
        raise OpError(f"`{model}` is not a BFL model id: it names an endpoint of the API, such as "
                      "flux-pro-1.0-fill, flux-kontext-pro or flux-pro-1.1")
    return hosted.prepare(declared, options if options is not None else {}, "bfl", API, KEY_ENV)


def lock_record(declared: dict, options: dict) -> dict:
    return hosted.lock_record(declared, "BFL API")


def _explain(response) -> str:
    return hosted_call.explained(response, "detail", "message")


def _url(value, missing: str, named: str) -> str:
    """A URL the service named (where to poll, where the picture is), or one line saying it named none:
    `BFL answered {missing}`, or `BFL answered {named} `…`, not an http(s) URL`."""
    if not isinstance(value, str) or not value:
        raise OpError(f"BFL answered {missing}")
    if not re.match(r"https?://", value):
        raise OpError(f"BFL answered {named} `{hosted_call.said(value, 80)}`, not an http(s) URL")
    return value


def _job(ctx: OpContext, model: str, body: dict, size: tuple[int, int]) -> np.ndarray:
    """Submit one job (counted, in one of the provider's slots), poll it until it is ready, download its
    picture. An answer not in the API's shape (no job named, a status that is not one, no picture) is
    one line at once: nothing is polled that was never named."""
    host = (hosted.endpoint_of(ctx) or HOST).rstrip("/")
    headers = {"x-key": hosted_call.api_key(KEY_ENV, "the bfl backend"), "accept": "application/json"}
    if body.get("seed") is not None:
        body["seed"] = int(body["seed"]) % 2**31
    with hosted_call.call(ctx, "bfl"):
        job = hosted_call.json_of(hosted_call.http(ctx, "BFL", "POST", f"{host}/v1/{model}", _explain, json=body,
                                                   headers=headers), "BFL")
        name = job.get("id") if isinstance(job, dict) else None
        if not isinstance(name, str) or not name:
            raise OpError(f"BFL answered without naming its job: {hosted_call.said(job, 120)}")
        polling = _url(job.get("polling_url") or f"{host}/v1/get_result?id={name}", "no job to poll",
                       "a job to poll at")
        wait = float(ctx.options.get("poll_timeout", 600))
        interval, deadline = float(ctx.options.get("poll_interval", 0.5)), time.monotonic() + wait
        while True:
            answer = hosted_call.json_of(hosted_call.http(ctx, "BFL", "GET", polling, _explain, headers=headers),
                                         "BFL")
            status = answer.get("status") if isinstance(answer, dict) else None
            if not isinstance(status, str):
                raise OpError(f"BFL answered its job's status with something else: {hosted_call.said(answer, 120)}")
            if status == "Ready":
                break
            if status in ("Request Moderated", "Content Moderated"):
                raise OpError(f"BFL refused the job ({status}): its moderation would not "
                              f"{'take the request' if status.startswith('Request') else 'return the picture'}; "
                              "change the prompt")
            if status in ("Error", "Failed", "Task not found"):
                details = hosted_call.said(answer.get("details") or "")
                raise OpError(f"BFL's job {name} ended with {status}" + (f": {details}" if details else ""))
            if time.monotonic() > deadline:
                raise OpError(f"BFL's job {name} was not ready in {wait:g} s")
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 5.0)
        result = answer.get("result")
        sample = _url(result.get("sample") if isinstance(result, dict) else None, "Ready without a picture",
                      "Ready with a picture at")
        data = hosted_call.http(ctx, "BFL", "GET", sample, _explain).content  # a signed URL: no key sent there
    hosted_call.record(ctx, name)
    return hosted.decoded(data, size, "BFL")


def _draw(ctx: OpContext, model: str, prompt: str, w: int, h: int, seed) -> np.ndarray:
    base = {"prompt": prompt, "seed": seed, "output_format": "png"}
    size = hosted.megapixel(w, h, 32, 256, 1440)
    kind = family(model)
    if kind == "fill":  # a blank picture filled all over
        grey = np.full((size[1], size[0], 3), 128, np.uint8)
        body = {**base, "image": hosted.b64png(grey), "mask": hosted.b64png(np.full(grey.shape[:2], 255, np.uint8))}
    elif kind == "kontext" or "ultra" in model:
        body = {**base, "aspect_ratio": hosted.nearest_aspect(w, h, ASPECTS)}
    else:
        body = {**base, "width": size[0], "height": size[1]}
    return hosted.resized(_job(ctx, model, body, size), (w, h))


def _paint(ctx: OpContext, model: str, prompt: str, scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill: the crop and its mask (white = paint) at an accepted size; Kontext: the crop and an
    instruction. The caller keeps only the masked part of what comes back."""
    ch, cw = mask.shape
    size = hosted.megapixel(cw, ch, 32, 256, 1440)
    image = hosted.b64png(hosted.resized(scene, size))
    kind, seed = family(model), ctx.params.get("seed")
    if kind == "fill":
        hole = hosted.mask_image(hosted.resized(mask.astype(np.float32), size), "white")
        body = {"prompt": prompt, "image": image, "mask": hosted.b64png(hole), "seed": seed, "output_format": "png"}
    elif kind == "kontext":
        body = {"prompt": f"{prompt}. Change only the middle of this picture; keep its edges, light and perspective "
                          "exactly as they are.", "input_image": image,
                "aspect_ratio": hosted.nearest_aspect(cw, ch, ASPECTS), "seed": seed, "output_format": "png"}
    else:
        raise OpError(f"the bfl model `{model}` only draws whole pictures")  # refused before any call (cannot)
    return hosted.resized(_job(ctx, model, body, size), (cw, ch))


def cannot(op: str, params: dict, lock: dict | None = None) -> str | None:
    model = (lock or {}).get("model", "")
    return hosted.cannot("bfl", op, params, CAPABILITIES[family(model)], model)


def calls(op: str, params: dict) -> int:
    return hosted.calls(op, params)


OPS = hosted.make_ops("bfl", _draw, _paint)
