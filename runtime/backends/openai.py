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

from ..context import OpContext, OpError
from . import hosted, hosted_call, lazy_module

np = lazy_module("numpy")
cv2 = lazy_module("cv2")

KEY_ENV = "OPENAI_API_KEY"
API = "openai-images-2"  # this module's contract with the API, part of every key (2: `around` edits)
CAPABILITIES = hosted.Capabilities(mask="alpha0", seed="none",
                                   sizes=((1024, 1024), (1536, 1024), (1024, 1536)), polling=False)


def lock(declared: dict, options: dict | None = None) -> dict:
    """What a result depends on: the pinned model id and this module's API contract (not the
    endpoint, not the client's version: they change where and how a call goes, not what comes back)."""
    return hosted.prepare(declared, options if options is not None else {}, "openai", API, KEY_ENV)


def lock_record(declared: dict, options: dict) -> dict:
    return hosted.lock_record(declared, "OpenAI Images API")


def _client(ctx: OpContext):
    from openai import OpenAI

    return OpenAI(api_key=hosted_call.api_key(KEY_ENV, "the openai backend"), base_url=hosted.endpoint_of(ctx),
                  max_retries=hosted_call.retries(ctx), timeout=hosted_call.timeout(ctx))


def _call(ctx: OpContext, what: str, **kwargs) -> np.ndarray:
    """One API call (counted, in one of the provider's slots), its image decoded; its request id kept.
    The raw response (the client's documented `with_raw_response`) is read as JSON here, so that an
    answer that is not the API's (a proxy's page, a malformed body) is one line."""
    import openai

    size = kwargs.pop("pixels")
    with hosted_call.call(ctx, "openai"):
        try:
            api = _client(ctx).images.with_raw_response
            raw = api.generate(**kwargs) if what == "generate" else api.edit(**kwargs)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else body
            message = error.get("message") or exc.response.text or exc.message  # a proxy's page: its text
            raise OpError(f"OpenAI answered {exc.status_code}: {hosted_call.said(message)}") from None
        except openai.APIConnectionError as exc:
            raise hosted_call.unreachable("OpenAI", exc, hosted_call.timeout(ctx)) from None
    answer = hosted_call.json_of(raw.http_response, "OpenAI")
    items = answer.get("data") if isinstance(answer, dict) else None
    item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    if not item.get("b64_json"):
        raise OpError("OpenAI answered without an image" + (
            " (a URL instead: brief asks for the gpt-image models, which send the picture itself)"
            if item.get("url") else ""))
    hosted_call.record(ctx, raw.request_id or raw.headers.get("x-request-id"))
    return hosted.decoded_b64(item["b64_json"], size, "OpenAI")


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


def _draw(ctx: OpContext, model: str, prompt: str, w: int, h: int, seed) -> np.ndarray:
    """A whole picture at the accepted size nearest w:h (the API has no seed), fitted to w × h."""
    size, text = _size(w, h)
    drawn = _call(ctx, "generate", model=model, prompt=prompt, size=text, n=1, pixels=size)
    return hosted.resized(drawn, (w, h))


def cannot(op: str, params: dict, lock: dict | None = None) -> str | None:
    return hosted.cannot("openai", op, params)


def calls(op: str, params: dict) -> int:
    return hosted.calls(op, params)


OPS = hosted.make_ops("openai", _draw, _edit)
