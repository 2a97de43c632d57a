"""The Gemini backend: `backend gemini "gemini-2.5-flash-image" [endpoint "URL"]`, through the
official `google-genai` client, to the documented `models.generateContent` with image output.

Gemini's image models take no mask: an edit is guided by its prompt. brief sends the padded crop
(at the accepted aspect nearest it) with the instruction, and composites only the masked part of
the answer back, so every pixel outside the region stays bit-identical however much of the crop
the model redrew. A seed is sent and honoured as best effort; the cache makes a result reproducible.
Key: GEMINI_API_KEY, from the environment only. Endpoint: `endpoint`, else BRIEF_GEMINI_ENDPOINT.
"""

from __future__ import annotations

from ..context import OpContext, OpError
from . import hosted, hosted_call, lazy_module

np = lazy_module("numpy")

KEY_ENV = "GEMINI_API_KEY"
API = "gemini-generate-content-2"  # this module's contract with the API, part of every key (2: `around` edits)
ASPECTS = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
           "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672)}
CAPABILITIES = hosted.Capabilities(mask="none", seed="best-effort", sizes=tuple(ASPECTS.values()), polling=False)


def lock(declared: dict, options: dict | None = None) -> dict:
    return hosted.prepare(declared, options if options is not None else {}, "gemini", API, KEY_ENV)


def lock_record(declared: dict, options: dict) -> dict:
    return hosted.lock_record(declared, "Gemini generateContent")


def _call(ctx: OpContext, model: str, parts: list, size: tuple[int, int], seed) -> np.ndarray:
    from google import genai
    from google.genai import errors, types

    aspect = next(a for a, s in ASPECTS.items() if s == size)
    seconds = hosted_call.timeout(ctx)
    options = types.HttpOptions(base_url=hosted.endpoint_of(ctx), timeout=max(1, round(seconds * 1000)),
                                retry_options=types.HttpRetryOptions(attempts=hosted_call.retries(ctx) + 1))
    config = types.GenerateContentConfig(response_modalities=["IMAGE"],
                                         image_config=types.ImageConfig(aspect_ratio=aspect),
                                         **({"seed": int(seed) % 2**31} if seed is not None else {}))
    with hosted_call.call(ctx, "gemini"):
        try:
            client = genai.Client(api_key=hosted_call.api_key(KEY_ENV, "the gemini backend"), http_options=options)
            answer = client.models.generate_content(model=model, contents=parts, config=config)
        except errors.APIError as exc:
            raise OpError(f"Gemini answered {exc.code}: {hosted_call.said(exc.message or exc)}") from None
        except hosted_call.transport_errors() as exc:
            raise hosted_call.unreachable("Gemini", exc, seconds) from None
        except ValueError as exc:  # not JSON, or not generateContent's shape (pydantic's ValidationError is one)
            raise OpError(f"Gemini answered with something that is not generateContent's answer "
                          f"({type(exc).__name__})") from None
    data = next((p.inline_data.data for c in (answer.candidates or []) for p in ((c.content and c.content.parts) or [])
                 if p.inline_data is not None and p.inline_data.data), None)
    if not data:
        raise OpError("Gemini answered without an image (its safety filters may have refused the prompt)")
    hosted_call.record(ctx, answer.response_id)
    return hosted.decoded(data, size, "Gemini")


def _draw(ctx: OpContext, model: str, prompt: str, w: int, h: int, seed) -> np.ndarray:
    size = hosted.closest_size(w, h, CAPABILITIES.sizes)
    return hosted.resized(_call(ctx, model, [prompt], size, seed), (w, h))


def _paint(ctx: OpContext, model: str, prompt: str, scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A guided edit: the crop and the instruction (no mask: Gemini takes none); the caller keeps only
    the masked part of what comes back."""
    from google.genai import types

    ch, cw = mask.shape
    size = hosted.closest_size(cw, ch, CAPABILITIES.sizes)
    image = types.Part.from_bytes(data=hosted.png(hosted.resized(scene, size)), mime_type="image/png")
    instruction = (f"{prompt}. Change only the middle of this picture; keep its edges, light and perspective "
                   "exactly as they are.")
    return hosted.resized(_call(ctx, model, [instruction, image], size, ctx.params.get("seed")), (cw, ch))


def cannot(op: str, params: dict, lock: dict | None = None) -> str | None:
    return hosted.cannot("gemini", op, params)


def calls(op: str, params: dict) -> int:
    return hosted.calls(op, params)


OPS = hosted.make_ops("gemini", _draw, _paint)
