"""Compile benchmark: generated briefs with 1, 100 and 1000 components.

Prints, for each size, the time of our whole compile (read + parse + check + graph), Lark's bare
parse of the same text (the same grammar and parser, building its parse tree only), the cost per
component, and the ratios the targets are about:

    1000 components compile in under 10x the time of 100, and in under 2 s;
    whole compile <= 3x the bare parse.

Run: .venv/bin/python bench/compile.py [--repeat N]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from brief.lang.check import check_program
from brief.lang.compile import compile_program
from brief.lang.load import load
from brief.lang.parser import lark_parser

SIZES = (1, 100, 1000)


def generate(n: int, seed: int = 7) -> str:
    """A brief laid out like a catalogue page: a backdrop, then n-1 regional prompts and placed
    product shots on a jittered grid of 192 x 128 px cells (the canvas grows with n, so each
    component overlaps a few neighbours whatever n is, as on a real page), and some logos."""
    rnd = random.Random(seed)
    side = max(1, math.ceil(math.sqrt(n - 1))) if n > 1 else 1
    cell = 100.0 / side
    width, height = max(1024, side * 192), max(768, side * 128)
    lines = ['use "brand.brief"', "", "brief bench {", f"  canvas {width} x {height}", "  seed 42", "  brand acme",
             "  matrix season {", '    summer "summer"', "  }", "",
             "  component c0 {", '    prompt "{season} backdrop, soft light"', "    region full", "  }"]
    for i in range(1, n):
        cx, cy = (i - 1) % side, (i - 1) // side
        x0 = round(max(0.0, cx * cell - rnd.uniform(0, cell * 0.3)), 2)
        y0 = round(max(0.0, cy * cell - rnd.uniform(0, cell * 0.3)), 2)
        x1 = round(min(100.0, (cx + 1) * cell + rnd.uniform(0, cell * 0.3)), 2)
        y1 = round(min(100.0, (cy + 1) * cell + rnd.uniform(0, cell * 0.3)), 2)
        kind = rnd.random()
        lines.append(f"  component c{i} {{")
        if kind < 0.7:
            lines += [f'    prompt "object {i}, {rnd.choice(["red", "green", "blue"])}, detailed"',
                      f"    region box {x0}% {y0}% {x1}% {y1}%",
                      f"    z {rnd.randint(1, 50)}"]
            if rnd.random() < 0.3:
                lines.append("    context none")
        elif kind < 0.9:
            lines += ['    asset "product.png"', f"    region box {x0}% {y0}% {x1}% {y1}%",
                      "    fit contain", f"    z {rnd.randint(1, 50)}", "    color red within 2"]
        else:
            lines += ['    asset "logo.png"', f"    region anchor {rnd.choice(['top-left', 'top-right', 'bottom-left'])}"
                      " 160px x 80px margin 48px", "    z 60"]
        lines.append("  }")
    lines += ["", "  edit tidy {", "    remove box 5% 80% 15% 95%", "  }", "  check palette within 3.5 coverage 80%",
              "  output square 1080 x 1080 outpaint", "}", ""]
    return "\n".join(lines)


def project(folder: Path) -> None:
    (folder / "brief.toml").write_text("")
    Image.new("RGBA", (64, 64), (200, 16, 46, 255)).save(folder / "product.png")
    Image.new("RGBA", (64, 32), (20, 20, 20, 255)).save(folder / "logo.png")
    (folder / "brand.brief").write_text("brand acme {\n  color red #C8102E\n  color ink #1A1A1A\n}\n")


def whole_compile(path: Path):
    program = load(path)
    check_program(program)
    return compile_program(program)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per measurement; the best is kept")
    args = ap.parse_args()
    parser = lark_parser()  # built once, like a long-running process would
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project(folder)
        print(f"{'components':>10} {'compile ms':>11} {'bare parse ms':>14} {'compile/parse':>14} "
              f"{'µs/component':>13} {'nodes':>7}")
        cases = {}
        for n in SIZES:
            path = folder / f"bench{n}.brief"
            path.write_text(generate(n))
            cases[n] = (path, path.read_text(), len(whole_compile(path).graph))  # warm up
        timings = {n: ([], []) for n in SIZES}
        for _ in range(args.repeat):  # interleaved, so a noisy moment hits every size alike
            for n, (path, text, _) in cases.items():
                timings[n][0].append(timed(lambda: whole_compile(path)))
                timings[n][1].append(timed(lambda: parser.parse(text)))
        for n, (path, text, nodes) in cases.items():
            t_compile, t_parse = min(timings[n][0]), min(timings[n][1])
            results[n] = (t_compile, t_parse)
            print(f"{n:>10} {t_compile * 1e3:>11.1f} {t_parse * 1e3:>14.1f} {t_compile / t_parse:>14.2f} "
                  f"{t_compile / n * 1e6:>13.0f} {nodes:>7}")
    scale = results[1000][0] / results[100][0]
    ratio = results[1000][0] / results[1000][1]
    print()
    lark_scale = results[1000][1] / results[100][1]
    print(f"1000 vs 100 components: {scale:.2f}x the time   (target < 10x)   {'ok' if scale < 10 else 'MISSED'}"
          f"   [Lark's bare parse alone: {lark_scale:.2f}x]")
    print(f"1000 components: {results[1000][0]:.2f} s            (target < 2 s)   "
          f"{'ok' if results[1000][0] < 2 else 'MISSED'}")
    print(f"whole compile / bare parse at 1000: {ratio:.2f}x (target <= 3x) {'ok' if ratio <= 3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
