"""Scale benchmark (draft backend): big canvases and many components.

1. Peak memory per canvas pixel of a full build at 2048², 4096² and 8192² (a backdrop, a quarter
   component, a product, a logo, an edit and an out-painted format), each build a process of its own
   (peak resident set size, `ru_maxrss` of the child). Target: ≤ 25 bytes per canvas pixel at 8192².
2. Many small components against few large ones of the same painted area: 500 components of
   96 x 96 px against 10 of 680 x 680 px on a 4096² canvas. Target: the 500 within 1.5× of the 10.
3. Where a full build's time goes at 4096² (stages), and the cache's growth per edit.

Run: .venv/bin/python bench/scale.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

BIG = '''brief big {{
  canvas {side} x {side}
  seed 2
  component backdrop {{
    prompt "sunlit park"
    region full
  }}
  component quarter {{
    prompt "clouds"
    region box 0% 0% 50% 50%
    z 1
  }}
  component product {{
    asset "product.png"
    region box 10% 55% 40% 90%
    z 2
  }}
  component logo {{
    asset "logo.png"
    region anchor top-right 10% x 5% margin 2%
    z 3
  }}
  edit tidy {{
    remove box 60% 80% 70% 90%
  }}
  output story 1080 x 1920 outpaint
}}
'''
CHILD = '''
import json, resource, sys, time
from brief.runtime.build import Options, build_file
started = time.perf_counter()
(b, *_) = build_file(sys.argv[1], Options(cache=sys.argv[2], out=sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - started, "stages": b.seconds, "by_op": b.by_op(),
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def project(folder: Path) -> None:
    (folder / "brief.toml").write_text("")
    Image.new("RGBA", (640, 400), (200, 16, 46, 255)).save(folder / "product.png")
    Image.new("RGBA", (480, 240), (26, 26, 26, 255)).save(folder / "logo.png")


def child_build(path: Path, folder: Path) -> dict:
    """A full build in a process of its own: its time, stages and peak memory."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(folder / "cache"), str(folder / "out")],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_kb() -> int:
    """The peak memory of a process that imports what a build imports and renders a tiny brief."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project(folder)
        path = folder / "tiny.brief"
        path.write_text('brief tiny { canvas 64 x 64 component c { prompt "x" } output o 32 x 32 outpaint }')
        return child_build(path, folder)["maxrss_kb"]


def memory(sides: list[int]) -> None:
    base = baseline_kb()
    print(f"1. peak memory of a full build (a process each; {base / 1024:.0f} MiB for imports and a tiny brief)")
    print(f"{'canvas':>12} {'seconds':>8} {'peak MiB':>9} {'bytes/px':>9} {'target':>7}")
    for side in sides:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            project(folder)
            path = folder / "big.brief"
            path.write_text(BIG.format(side=side))
            got = child_build(path, folder)
        per_px = (got["maxrss_kb"] - base) * 1024 / side ** 2
        target = "≤ 25" if side == 8192 else ""
        verdict = ("ok" if per_px <= 25 else "MISSED") if target else ""
        print(f"{side:>5} x {side:<5} {got['seconds']:>8.2f} {got['maxrss_kb'] / 1024:>9.0f} {per_px:>9.1f} "
              f"{target:>7} {verdict}")


def components_brief(n: int, size: int, side: int = 4096) -> str:
    per_row = max(1, (side - 64) // (size + 16))
    lines = ["brief many {", f"  canvas {side} x {side}", "  seed 3",
             '  component backdrop {\n    prompt "plain backdrop"\n    region full\n  }']
    for i in range(n):
        x, y = 32 + (i % per_row) * (size + 16), 32 + (i // per_row) * (size + 16)
        kind = f'prompt "tile {i}"' if i % 2 else 'asset "product.png"'
        lines.append(f"  component c{i} {{\n    {kind}\n    region box {x}px {y}px {x + size}px {y + size}px\n"
                     f"    z 1\n  }}")
    return "\n".join(lines) + "\n}\n"


def many(quick: bool) -> None:
    print("\n2. many small components against few large ones, same painted area, 4096² canvas (a process each)")
    rows = [(500, 96), (10, 680)] if not quick else [(100, 96), (2, 680)]
    results = {}
    for n, size in rows:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            project(folder)
            path = folder / "many.brief"
            path.write_text(components_brief(n, size))
            got = child_build(path, folder)
            results[n] = got
            stages = " ".join(f"{k} {v:.2f}" for k, v in got["stages"].items())
            print(f"  {n:>4} components of {size} x {size} px: {got['seconds']:.2f} s   ({stages})")
    small, large = results[rows[0][0]]["seconds"], results[rows[1][0]]["seconds"]
    print(f"  ratio {small / large:.2f} (target ≤ 1.5): {'ok' if small / large <= 1.5 else 'MISSED'}")


def growth() -> None:
    print("\n3. cache growth per edit (4096², 5 edits of the quarter component's prompt)")
    from brief.runtime.build import Options, build_file
    from brief.runtime.store.cache import Cache

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project(folder)
        path = folder / "big.brief"
        text = BIG.format(side=4096)
        path.write_text(text)
        options = Options(cache=folder / "cache", out=folder / "out")
        build_file(path, options)
        sizes = [Cache(folder / "cache").stats().bytes]
        for i in range(5):
            path.write_text(text.replace('"clouds"', f'"clouds {i}"'))
            build_file(path, options)
            sizes.append(Cache(folder / "cache").stats().bytes)
        grow = [(b - a) / 2 ** 20 for a, b in zip(sizes, sizes[1:])]
        print(f"  full build {sizes[0] / 2**20:.1f} MiB; per edit " + ", ".join(f"{g:.1f}" for g in grow) + " MiB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = ap.parse_args()
    memory([1024, 2048] if args.quick else [2048, 4096, 8192])
    many(args.quick)
    growth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
