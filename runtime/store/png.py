"""PNG bytes of 8-bit pixels and back, through OpenCV (faster than Pillow at both): what the cache
stores pixels as, what layers are delivered as, and what the hosted backends send a provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

PNG_LEVEL = 1  # fast zlib: cache objects are written often and read locally


def png_bytes(array: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """Encode 8-bit grey, RGB or RGBA pixels as PNG: OpenCV's libpng with zlib's run-length strategy,
    which on rendered pixels is both faster and smaller than the default at level 1."""
    import cv2

    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, level,
                                             cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE])
    if not ok:
        raise OSError("PNG encoding failed")
    return data.tobytes()


def png_array(data: bytes) -> np.ndarray:
    """Decode a PNG this cache wrote (8-bit grey, RGB or RGBA) — with OpenCV, the faster decoder."""
    import cv2
    import numpy as np

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise OSError("not a readable PNG")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return array
