"""Incremental build benchmark (draft backend, 3072 x 2048, 9 components).

Measures a full build, a no-op rebuild, and rebuilds after changing one component's prompt where
that component covers about 5%, 25% and 100% of the canvas; prints each as a ratio to the full
build next to the share of pixels it touches. Targets: no-op <= 0.05 of the full build; a
component change <= its touched share + 0.10.

Run: .venv/bin/python bench/incremental.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from brief.runtime.build import Options, build_file

BRIEF = '''brief bench {{
  canvas 3072 x 2048
  seed 11
  component backdrop {{
    prompt "{backdrop}"
    region full
  }}
  component quarter {{
    prompt "{quarter}"
    region box 0% 0% 50% 50%
    z 1
  }}
  component small {{
    prompt "{small}"
    region box 70% 60% 92.4% 82.4%
    z 2
  }}
  component tile_a {{
    prompt "a blue tile"
    region box 55% 5% 65% 15%
    z 3
  }}
  component tile_b {{
    prompt "a gold tile"
    region box 70% 5% 80% 15%
    z 3
    context none
  }}
  component tile_c {{
    prompt "a green tile"
    region box 85% 5% 95% 15%
    z 3
  }}
  component product {{
    asset "product.png"
    region box 5% 60% 35% 95%
    z 4
  }}
  component logo {{
    asset "logo.png"
    region anchor top-right 240px x 120px margin 48px
    z 5
  }}
  component badge {{
    prompt "round sale badge"
    region box 40% 70% 50% 85%
    z 6
  }}
  edit tidy {{
    remove box 55% 90% 60% 95%
  }}
}}
'''
DEFAULT = {"backdrop": "sunlit summer park, lush grass", "quarter": "white clouds in a blue sky",
           "small": "a red kite"}
CHANGES = [("small", "about 5%"), ("quarter", "about 25%"), ("backdrop", "100%")]


def write(folder: Path, **prompts) -> Path:
    path = folder / "bench.brief"
    path.write_text(BRIEF.format(**{**DEFAULT, **prompts}))
    return path


def timed_build(path: Path, folder: Path):
    started = time.perf_counter()
    built = build_file(path, Options(cache=folder / "cache", out=folder / "out"))
    return time.perf_counter() - started, built[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each measurement is kept")
    args = ap.parse_args()
    best: dict[str, float] = {}
    shares: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:  # warm up: imports and the grammar, paid once per process
        warm = Path(tmp)
        (warm / "brief.toml").write_text("")
        (warm / "w.brief").write_text('brief w { canvas 64 x 64 component c { prompt "x" } }')
        build_file(warm / "w.brief", Options(cache=warm / "cache", out=warm / "out"))
    for round_ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "brief.toml").write_text("")
            Image.new("RGBA", (640, 400), (200, 16, 46, 255)).save(folder / "product.png")
            Image.new("RGBA", (480, 240), (26, 26, 26, 255)).save(folder / "logo.png")
            path = write(folder)
            t, _ = timed_build(path, folder)
            best["full"] = min(best.get("full", t), t)
            t, b = timed_build(path, folder)
            best["no-op"] = min(best.get("no-op", t), t)
            shares["no-op"] = b.plan.pixel_share
            for i, (name, _) in enumerate(CHANGES):
                path = write(folder, **{name: f"{DEFAULT[name]}, variation {round_}-{i}"})
                t, b = timed_build(path, folder)
                best[name] = min(best.get(name, t), t)
                shares[name] = b.plan.pixel_share
                path = write(folder)
                timed_build(path, folder)  # back to the base for the next change
    full = best["full"]
    print(f"full build: {full:.2f} s  (3072 x 2048, 9 components, draft backend)\n")
    print(f"{'rebuild':<28} {'seconds':>8} {'ratio to full':>14} {'pixels touched':>15} {'target':>10}  verdict")
    rows = [("no-op", "no-op", 0.05)] + [(f"change: {name} ({label})", name, None) for name, label in CHANGES]
    for title, key, fixed in rows:
        ratio = best[key] / full
        target = fixed if fixed is not None else shares[key] + 0.10
        print(f"{title:<28} {best[key]:>8.2f} {ratio:>14.3f} {shares[key] * 100:>14.1f}% {target:>10.3f}  "
              f"{'ok' if ratio <= target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
