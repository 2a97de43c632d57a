"""Draws the example assets: a running-shoe product cut-out (RGBA, transparent background) and
the ACME logo, deterministically, with Pillow. The PNGs are committed; rerun this to remake them:

    .venv/bin/python examples/make_assets.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
SCALE = 4  # draw large, then downsample: smooth anti-aliased edges
RED, DARK_RED = (200, 16, 46), (150, 10, 34)  # the brand's red (#C8102E) and its shade
INK, CREAM, WHITE, GREY = (26, 26, 26), (245, 230, 204), (250, 250, 248), (205, 205, 200)


def _s(points):
    return [(x * SCALE, y * SCALE) for x, y in points]


def shoe(width: int = 640, height: int = 400) -> Image.Image:
    """Side view of a running shoe: red upper, white midsole, dark outsole, black laces."""
    img = Image.new("RGBA", (width * SCALE, height * SCALE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    upper = [(30, 285), (45, 235), (110, 200), (200, 170), (290, 135), (360, 95), (385, 70), (480, 72),
             (560, 95), (605, 140), (620, 210), (622, 290), (30, 300)]
    d.polygon(_s(upper), fill=RED)
    d.polygon(_s([(385, 70), (480, 72), (470, 98), (400, 96)]), fill=INK)  # collar opening
    d.polygon(_s([(480, 72), (560, 95), (605, 140), (560, 130), (500, 100)]), fill=DARK_RED)  # heel counter
    d.polygon(_s([(30, 275), (622, 262), (626, 318), (600, 338), (60, 338), (22, 318)]), fill=WHITE)  # midsole
    d.line(_s([(45, 300), (615, 295)]), fill=GREY, width=3 * SCALE)
    d.polygon(_s([(22, 328), (605, 336), (618, 362), (40, 362), (16, 348)]), fill=INK)  # outsole
    for i in range(6):  # tread
        x = 70 + i * 90
        d.rectangle(_s([(x, 352), (x + 40, 362)]), fill=(60, 60, 60))
    for i in range(5):  # laces, across the throat from toe box to collar
        x, y = 200 + i * 38, 175 - i * 20
        d.line(_s([(x - 12, y - 18), (x + 22, y + 14)]), fill=INK, width=8 * SCALE)
    d.polygon(_s([(130, 250), (300, 215), (460, 180), (560, 175), (470, 205), (300, 240)]), fill=WHITE)  # stripe
    d.ellipse(_s([(590, 120), (616, 150)]), fill=CREAM)  # heel pull tab
    return img.resize((width, height), Image.LANCZOS)


def logo(width: int = 480, height: int = 240) -> Image.Image:
    """The ACME wordmark: a red roundel with an ink chevron, and ink lettering; transparent."""
    img = Image.new("RGBA", (width * SCALE, height * SCALE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    r = 90
    cx, cy = 110, height // 2
    d.ellipse(_s([(cx - r, cy - r), (cx + r, cy + r)]), fill=RED)
    d.polygon(_s([(cx - 50, cy + 35), (cx, cy - 45), (cx + 50, cy + 35), (cx + 25, cy + 35), (cx, cy - 5),
                  (cx - 25, cy + 35)]), fill=CREAM)
    font = ImageFont.load_default(size=96 * SCALE)
    d.text(((cx + r + 20) * SCALE, cy * SCALE), "ACME", font=font, fill=INK, anchor="lm")
    return img.resize((width, height), Image.LANCZOS)


def main() -> None:
    (HERE / "assets").mkdir(exist_ok=True)
    (HERE / "brands" / "assets").mkdir(parents=True, exist_ok=True)
    shoe().save(HERE / "assets" / "runner.png", optimize=True)
    mark = logo()
    mark.save(HERE / "assets" / "acme-logo.png", optimize=True)
    mark.save(HERE / "brands" / "assets" / "acme-logo.png", optimize=True)  # the brand kit's own copy
    print("wrote examples/assets/runner.png, examples/assets/acme-logo.png, examples/brands/assets/acme-logo.png")


if __name__ == "__main__":
    main()
