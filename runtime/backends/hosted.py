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
