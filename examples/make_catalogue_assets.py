"""Draws the catalogue example's assets (issue 12): the `stride` running shoe in two SKU colours
(volt #D4FF3A, navy #1F2A44) as RGBA product cut-outs, and the STRIDE logo, with numpy and Pillow
only, deterministically (two runs write the same bytes). The PNGs are committed; rerun this to
remake them:

    .venv/bin/python examples/make_catalogue_assets.py

The shoe is one shape for every SKU: masks drawn 4x large and box-averaged down (anti-aliased
edges), each material coloured in CIELAB and converted to sRGB. The upper's main panels stay within
about 1.6 L* of the SKU colour (CIEDE2000 about 1 or less), so the brief's `check color product
... within 2` (the dominant colour cluster's p95) measures the real colour, resized or not; the
depth comes from what is not the main colour: overlays in a tone about 28 ΔE*ab away (their own
cluster), a shaded foam midsole, laces, stitching and a contact shadow (alpha below 128: never
"visible" to the checks). Thin light details on the main panels (a sheen, a shadow line along the
sole) are left out on purpose: once resampled they smear into the main colour and lift the p95.
The logo's wordmark is set in the committed brand font (brands/fonts/), never a system font.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
DISPLAY_FONT = HERE / "brands" / "fonts" / "LiberationSans-Bold.ttf"
SS = 4                          # supersampling factor of the masks
W, H = 900, 600                 # the product shot
INK, CHALK = "#14161A", "#F4F1EA"
GRAPHITE = "#5A5C61"             # outsole rubber and lining: well away from both SKU colours
SKUS = {                        # name: (upper colour, the side mark's colour)
    "volt": ("#D4FF3A", INK),
    "navy": ("#1F2A44", CHALK),
}
LIGHT = np.array([-0.45, -0.89])  # towards the key light (x, y): above, a little in front of the toe


# ── colour: sRGB (D65) ↔ CIELAB ──────────────────────────────────────────────────────────────────

_M = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
               [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def hex_rgb(text: str) -> np.ndarray:
    return np.array([int(text[i:i + 2], 16) for i in (1, 3, 5)], np.float64)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0..255 (… x 3) → CIELAB."""
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB (… x 3) → sRGB 0..255 float, clipped to the gamut."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    lin = np.clip(xyz @ np.linalg.inv(_M).T, 0.0, 1.0)
    c = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return c * 255.0


# ── geometry: smooth outlines drawn large, box-averaged to coverage ────────────────────────────

def spline(points, steps: int = 16) -> list[tuple[float, float]]:
    """An open Catmull-Rom curve through `points` (its ends clamped: no overshoot there)."""
    p = np.array(points, np.float64)
    n = len(p)
    out = []
    for i in range(n - 1):
        p0, p1, p2, p3 = (p[min(max(i + k, 0), n - 1)] for k in (-1, 0, 1, 2))
        for t in np.linspace(0, 1, steps, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(tuple(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                                    + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)))
    out.append(tuple(p[-1]))
    return out


def coverage(draw) -> np.ndarray:
    """Run `draw(ImageDraw, scale)` on a large canvas; the anti-aliased coverage (H x W, 0..1)."""
    big = Image.new("L", (W * SS, H * SS), 0)
    draw(ImageDraw.Draw(big), SS)
    return np.asarray(big.reduce(SS), np.float64) / 255.0


def poly(*runs) -> np.ndarray:
    """A closed outline of smooth runs (each a list of points), joined at corners."""
    pts = [q for run in runs for q in spline(run)]
    return coverage(lambda d, s: d.polygon([(x * s, y * s) for x, y in pts], fill=255))


def stroke(points, width: float) -> np.ndarray:
    """A round-capped stroke of `width` px along the curve through `points`: discs every 0.25 px
    (a wide polyline's joints would leave hairline gaps)."""
    pts = np.array(spline(points))
    steps = np.maximum(np.ceil(np.linalg.norm(np.diff(pts, axis=0), axis=1) / 0.25), 1).astype(int)
    dense = np.vstack([np.linspace(p, q, n, endpoint=False) for p, q, n in zip(pts[:-1], pts[1:], steps)]
                      + [pts[-1:]])

    def draw(d: ImageDraw.ImageDraw, s: int) -> None:
        r = width / 2 * s
        for x, y in dense * s:
            d.ellipse([(x - r, y - r), (x + r, y + r)], fill=255)
    return coverage(draw)


def blur(a: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray(np.rint(a * 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), np.float64) / 255.0


def relief(mask: np.ndarray, radius: float) -> np.ndarray:
    """A pillowed surface lit by LIGHT: positive towards the light, negative away, about -1..1."""
    height = blur(mask, radius) ** 0.7
    gy, gx = np.gradient(height)
    lit = -(gx * LIGHT[0] + gy * LIGHT[1]) * radius * 2.2
    return np.clip(lit, -1.0, 1.0)


# ── the shoe ────────────────────────────────────────────────────────────────────────────────
# Side view, toe to the left, in the 900 x 600 frame. A point given twice is a corner.

BITE = [(40, 452), (90, 461), (180, 462), (300, 455), (450, 440), (600, 419), (740, 401), (858, 394)]
SOLE_EDGE = [(858, 394), (868, 414), (872, 444), (866, 474), (848, 500), (818, 513), (760, 519), (520, 521),
             (200, 518), (120, 511), (72, 496), (46, 478), (36, 464), (38, 454)]   # heel, ground, toe wrap
THROAT = [(336, 300), (388, 271), (438, 243), (480, 219), (508, 204)]
COLLAR = [(508, 204), (538, 203), (578, 216), (622, 228), (672, 224), (722, 208), (764, 188), (794, 170)]
HEEL_BACK = [(794, 170), (810, 164), (824, 170), (833, 190), (835, 218), (832, 248), (836, 286), (846, 326),
             (855, 362), (858, 396)]                       # the Achilles flare, then the heel cup's bulge


def _offset(points, dx: float, dy: float):
    return [(x + dx, y + dy) for x, y in points]


class Shape:
    """The masks of one shoe (H x W coverage arrays); every SKU is painted over the same masks."""

    def __init__(self) -> None:
        self.yy, self.xx = np.mgrid[0:H, 0:W].astype(np.float64)
        toe = [(44, 462), (40, 444), (46, 424), (64, 403), (100, 385), (160, 367), (235, 345), (296, 320)]
        self.upper = poly(toe + THROAT[:-1] + COLLAR[:-1] + HEEL_BACK, _offset(BITE[::-1], 0, 10))
        self.sole = poly(BITE, SOLE_EDGE[1:])
        tread_line = _offset(SOLE_EDGE[4:11], 0, -15)         # the outsole's top edge: 15 px above the ground
        self.outsole = self.sole * poly([(900, 440)], tread_line, [(30, 458), (30, 600), (900, 600)])
        lugs = coverage(lambda d, s: [d.rectangle([(x * s, 516 * s), ((x + 18) * s, 524 * s)], fill=255)
                                      for x in range(150, 790, 32)])
        self.outsole *= 1 - lugs                              # notches between the tread lugs
        self.midsole = self.sole * poly([(900, 300), (900, 440)], tread_line, [(30, 458), (30, 300)])
        self.groove = self.midsole * stroke([(60, 474), (160, 488), (400, 486), (640, 472), (868, 450)], 2.4)
        far_collar = [(508, 204), (532, 190), (580, 198), (632, 210), (690, 205), (745, 186), (790, 164), (812, 160)]
        self.lining = poly(far_collar, COLLAR[::-1])
        self.tongue = poly([(470, 228), (476, 200), (490, 176), (512, 160), (536, 156), (552, 166), (556, 192),
                            (552, 222)])
        self.tongue_label = poly([(502, 181)], [(522, 173)], [(527, 185)], [(507, 193)])
        self.pull_tab = stroke([(792, 176), (800, 144), (818, 140), (828, 178)], 7)
        self.collar_pad = self.upper * stroke(COLLAR + HEEL_BACK[:2], 26)
        self.toe_cap = self.upper * poly([(20, 480), (34, 430), (58, 404), (96, 393), (150, 404), (205, 430),
                                          (250, 450), (262, 480)])
        self.heel = self.upper * poly([(672, 440), (664, 382), (686, 326), (738, 292), (804, 276), (880, 270),
                                       (880, 440)])
        self.eyestay = self.upper * poly([(326, 300)] + THROAT + [(520, 214)],
                                         _offset(THROAT[::-1], 12, 28) + [(334, 334)])
        self.throat = self.upper * stroke(_offset(THROAT, 0, 3), 7)
        self.mark = self.upper * coverage(self._mark)
        self.vamp_seam = self.upper * stroke([(246, 352), (262, 386), (270, 424), (268, 462)], 1.6)
        self.stitches = self.upper * coverage(self._stitches)
        self.laces, self.lace_shadow, self.eyelets = self._laces()
        self.perforation = self.upper * coverage(self._perforation)
        self.shadow = blur(coverage(lambda d, s: d.ellipse([(60 * s, 502 * s), (884 * s, 536 * s)], fill=255)), 12)

    @staticmethod
    def _mark(d: ImageDraw.ImageDraw, s: int) -> None:
        """The brand's three speed bars, trailing towards the heel, leaning with the shoe's line."""
        tilt, lean = -0.11, 5                         # rising towards the heel; the tops lean forward
        for i, length in enumerate((190, 158, 126)):
            x0, y0 = 430 + i * 6, 318 + i * 24
            pts = [(x0 + lean, y0), (x0 + length + lean, y0 + tilt * length),
                   (x0 + length, y0 + tilt * length + 14), (x0, y0 + 14)]
            d.polygon([(x * s, y * s) for x, y in pts], fill=255)

    @staticmethod
    def _stitches(d: ImageDraw.ImageDraw, s: int) -> None:
        """Dashed stitching just inside the overlays' edges."""
        paths = [[(36, 442), (62, 412), (96, 401), (148, 412), (204, 438), (248, 458)],
                 [(680, 440), (672, 384), (694, 334), (742, 302), (806, 286), (860, 282)],
                 [(328, 308)] + _offset(THROAT, 9, 20) + [(524, 222)]]
        for path in paths:
            pts = spline(path, steps=24)
            for i in range(0, len(pts) - 3, 6):
                d.line([(x * s, y * s) for x, y in pts[i:i + 4]], fill=255, width=round(1.6 * s))

    @staticmethod
    def _perforation(d: ImageDraw.ImageDraw, s: int) -> None:
        """Vent holes over the toe box."""
        for row in range(5):
            for col in range(8):
                x, y, r = 112 + col * 17 + (row % 2) * 8.5, 396 + row * 11 - col * 3.4, 2.0 * s
                d.ellipse([(x * s - r, y * s - r), (x * s + r, y * s + r)], fill=255)

    def _laces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Six lace crossings over the throat, their soft shadow on the upper, and the eyelets."""
        pts = np.array(spline(THROAT, steps=40))
        seg = np.cumsum(np.r_[0, np.linalg.norm(np.diff(pts, axis=0), axis=1)])
        bars, holes = [], []
        for t in np.linspace(0.05, 0.9, 6):
            i = int(np.searchsorted(seg, t * seg[-1]))
            (x, y), (x2, y2) = pts[i], pts[min(i + 1, len(pts) - 1)]
            n = np.hypot(x2 - x, y2 - y)
            tx, ty = (x2 - x) / n, (y2 - y) / n
            nx, ny = ty, -tx                      # the normal pointing up, out of the throat
            top = (x + nx * 8 - tx * 7, y + ny * 8 - ty * 7)
            hole = (x - nx * 24 + tx * 6, y - ny * 24 + ty * 6)
            bars.append((top, hole))
            holes.append(hole)

        def draw_bars(dx: float, dy: float):
            def draw(d: ImageDraw.ImageDraw, s: int) -> None:
                for (ax, ay), (bx, by) in bars:
                    d.line([((ax + dx) * s, (ay + dy) * s), ((bx + dx) * s, (by + dy) * s)], fill=255,
                           width=round(10 * s))
                    for cx, cy in ((ax, ay), (bx, by)):
                        r = 5 * s
                        d.ellipse([((cx + dx) * s - r, (cy + dy) * s - r), ((cx + dx) * s + r, (cy + dy) * s + r)],
                                  fill=255)
            return draw

        def rings(d: ImageDraw.ImageDraw, s: int) -> None:
            for cx, cy in holes:
                r = 7.5 * s
                d.ellipse([(cx * s - r, cy * s - r), (cx * s + r, cy * s + r)], fill=255)

        return coverage(draw_bars(0, 0)), blur(coverage(draw_bars(3, 4)), 2.5), coverage(rings)


def paint(shape: Shape, sku: str, accent: str) -> Image.Image:
    """The shoe in one SKU colour: RGBA, straight alpha, transparent background."""
    s = shape
    premul = np.zeros((H, W, 3))
    alpha = np.zeros((H, W))

    def layer(cover: np.ndarray, colour: str, d_lightness: np.ndarray | float) -> None:
        """`colour` with its L* moved by `d_lightness` (a number or an H x W field), laid over what
        is there (Porter-Duff over, premultiplied) with `cover`; computed where cover > 0 only."""
        where = cover > 0
        lab = np.tile(rgb_to_lab(hex_rgb(colour)), (int(where.sum()), 1))
        lab[:, 0] += d_lightness[where] if isinstance(d_lightness, np.ndarray) else d_lightness
        c = cover[where][:, None]
        premul[where] = premul[where] * (1 - c) + lab_to_rgb(lab) * c
        alpha[where] = alpha[where] * (1 - c[:, 0]) + c[:, 0]

    light_sku = rgb_to_lab(hex_rgb(sku))[0] > 60
    # the overlays: a deeper (volt) or lighter (navy) tone of the SKU colour, far enough from it
    # (about 28 ΔE*ab) to count as a colour of their own in the brand check's clustering
    deep = -28.0 if light_sku else 28.0
    down = np.clip((s.yy - 170) / 290, 0, 1)      # 0 at the collar, 1 at the sole

    # the main panels: a soft top-to-bottom falloff and the rounded volume, within about ±1.6 L*
    # (volt sits at the gamut's edge: it can only go darker)
    body = np.clip(1.0 - 2.4 * down + 1.4 * relief(s.upper, 10), -1.6, 1.6) - (0.3 if light_sku else 0.0)
    body -= 0.9 * s.perforation                   # vent holes: a hint, not a colour of their own

    layer(s.shadow * 0.34, INK, 0)
    layer(s.pull_tab, GRAPHITE, 8 * relief(s.pull_tab, 3))
    layer(s.lining, GRAPHITE, 6 * relief(s.lining, 3) - 10 * np.clip((s.yy - 165) / 50, 0, 1))
    layer(s.tongue, sku, deep + 5 * relief(s.tongue, 6))
    layer(s.tongue_label, CHALK, 0)
    layer(s.upper, sku, body)
    for overlay in (s.toe_cap, s.heel, s.eyestay, s.collar_pad):
        layer(overlay, sku, deep + 8 * relief(overlay, 6) - 4 * down)
    layer(s.throat, sku, deep * 1.4)
    layer(s.mark, accent, 3 * relief(s.mark, 3))
    layer(s.vamp_seam * 0.7, sku, deep)
    layer(s.stitches * 0.8, sku, deep * (1.3 if light_sku else 1.8))
    layer(s.eyelets, GRAPHITE, 8 * relief(s.eyelets, 2))
    layer(s.lace_shadow * 0.5 * s.upper, sku, -14 if light_sku else -9)
    layer(s.laces, CHALK, -4 + 7 * relief(s.laces, 3))
    # the foam midsole: lit from above, a sculpted groove, its lower edge in shade
    foam = 4 * relief(s.midsole, 8) - 12 * np.clip((s.yy - 458) / 50, 0, 1) ** 2
    layer(s.midsole, CHALK, foam - 14 * s.groove)
    layer(s.outsole, GRAPHITE, 8 * relief(s.outsole, 3))

    a8 = np.rint(alpha * 255).astype(np.uint8)
    rgb8 = np.rint(np.clip(premul / np.maximum(alpha, 1e-6)[..., None], 0, 255)).astype(np.uint8)
    rgb8[a8 == 0] = 0
    return Image.fromarray(np.dstack([rgb8, a8]), "RGBA")


# ── the logo ────────────────────────────────────────────────────────────────────────────────

def logo(width: int = 360, height: int = 180) -> Image.Image:
    """STRIDE, stacked: the mark (three speed bars, shorter as they trail) over the wordmark in the
    display font, sheared forward together; ink on transparent."""
    s, margin, shear, tracking = SS, 16, 0.2, 2.0  # shear: x moves by 0.2 px per px of height

    def sized(px: int) -> tuple[ImageFont.FreeTypeFont, float, float]:
        """The font at `px`, the word's width and its cap height (frame px)."""
        font = ImageFont.truetype(str(DISPLAY_FONT), px * s)
        word_w = sum(font.getlength(ch) for ch in "STRIDE") / s + tracking * 5
        return font, word_w, -font.getbbox("S", anchor="ls")[1] / s

    px = 120
    font, word_w, cap_h = sized(px)
    while word_w + shear * 2.4 * cap_h > width - 2 * margin or 2.4 * cap_h > height - 2 * margin:  # fit
        px -= 1
        font, word_w, cap_h = sized(px)
    bar_h, mark_w = cap_h / 5, 1.6 * cap_h
    block_h = cap_h + 0.4 * cap_h + 5 * bar_h     # mark, gap, word: 2.4 cap heights
    top = (height - block_h) / 2
    big = Image.new("L", (width * s, height * s), 0)
    d = ImageDraw.Draw(big)
    mark_right = (width + mark_w) / 2
    for i, length in enumerate((mark_w, mark_w * 0.78, mark_w * 0.56)):
        y = top + i * 2 * bar_h
        d.rounded_rectangle([((mark_right - length) * s, y * s), (mark_right * s, (y + bar_h) * s)],
                            radius=bar_h / 2 * s, fill=255)
    x, baseline = (width - word_w) / 2, top + block_h
    for ch in "STRIDE":
        d.text((x * s, baseline * s), ch, font=font, fill=255, anchor="ls")
        x += font.getlength(ch) / s + tracking
    # each output pixel (x, y) samples the source at x + shear * (y - centre): above the block's
    # middle things move right, below it left (italic); then the artwork is centred in the frame
    centre = (top + block_h / 2) * s
    big = big.transform(big.size, Image.AFFINE, (1, shear, -shear * centre, 0, 1, 0), resample=Image.BICUBIC)
    x0, y0, x1, y1 = big.getbbox()
    centred = Image.new("L", big.size, 0)
    centred.paste(big.crop((x0, y0, x1, y1)), ((big.width - (x1 - x0)) // 2, (big.height - (y1 - y0)) // 2))
    big = centred
    out = Image.new("RGBA", (width, height), tuple(int(c) for c in hex_rgb(INK)) + (0,))
    out.putalpha(big.reduce(s))
    return out


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    shape = Shape()
    written = []
    for name, (colour, accent) in SKUS.items():
        path = ASSETS / f"sku-{name}.png"
        paint(shape, colour, accent).save(path, optimize=True)
        written.append(path)
    mark = logo()
    for path in (ASSETS / "stride-logo.png", HERE / "brands" / "assets" / "stride-logo.png"):  # the kit's copy
        path.parent.mkdir(parents=True, exist_ok=True)
        mark.save(path, optimize=True)
        written.append(path)
    print("wrote " + ", ".join(str(p.relative_to(HERE.parent)) for p in written))


if __name__ == "__main__":
    main()
