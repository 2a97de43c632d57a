"""Incremental build benchmark (draft backend): what a one-component change costs against a full
build, every output format and brand check included, stage by stage.

Two scenes: the README's example (examples/campaign/runner.brief, its summer variant: 1024 x 768,
two out-painted formats, four brand rules) and a 3072 x 2048 catalogue page (9 components, an
edit, crop/fit/outpaint formats and three rules). Each is built in full, rebuilt with no change,
and rebuilt after one prompt changes; the rebuild's time is printed as a ratio to the full build
beside the share of the canvas it touches, with each stage's seconds (compile, plan, render by
kind of node, export). Measured in process (imports and the grammar warmed up first) and, with
`--process`, as `brief build` processes too.

Targets (issue 11): a change of about 5% costs at most 0.15 of a full build, outputs and checks
included; no-op ≤ 0.05; a change costs at most its touched share + 0.10.

Run: .venv/bin/python bench/incremental.py [--repeat N] [--process]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from brief.runtime.build import Options, build_file

REPO = Path(__file__).resolve().parent.parent
BIG = '''brand shop {{
  color red   #C8102E
  color ink   #1A1A1A
  color cream #F5E6CC
  safezone 2%
}}
brief bench {{
  canvas 3072 x 2048
  seed 11
  brand shop
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
    region box 60% 45% 82.4% 67.4%
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
    color red within 2
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
  check palette within 5 coverage 10%
  check color product
  check safezone
  output square 1080 x 1080 crop
  output wide 1920 x 1080 fit
  output story 1080 x 1920 outpaint
}}
'''
DEFAULT = {"backdrop": "sunlit summer park, lush grass", "quarter": "white clouds in a blue sky",
           "small": "a red kite"}
BIG_CHANGES = [("small", "about 5%"), ("quarter", "about 25%"), ("backdrop", "100%")]
STAGES = ("compile", "plan", "layers", "composite", "edits", "formats", "checks", "export")
GROUPS = {"encode_prompt": "layers", "generate": "layers", "load_asset": "layers", "composite": "composite",
          "inpaint": "edits", "remove": "edits", "recolor": "edits", "harmonize": "edits",
          "reframe": "formats", "outpaint": "formats", "check": "checks"}


class Scene:
    """A brief in a temporary project, and how to change one of its prompts."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name
        if name == "example":
            shutil.copytree(REPO / "examples", folder / "examples")
            self.path = folder / "examples" / "campaign" / "runner.brief"
            self.base = self.path.read_text()
            self.variants = ["season=summer"]
            self.changes = [("kite (about 5%)", "about 5%",
                             self.base.replace('"a red kite in the sky"', '"a blue kite, {n}"'))]
        else:
            (folder / "brief.toml").write_text("")
            Image.new("RGBA", (640, 400), (200, 16, 46, 255)).save(folder / "product.png")
            Image.new("RGBA", (480, 240), (26, 26, 26, 255)).save(folder / "logo.png")
            self.path = folder / "bench.brief"
            self.base = BIG.format(**DEFAULT)
            self.variants = []
            self.changes = [(f"{n} ({label})", label, BIG.format(**{**DEFAULT, n: DEFAULT[n] + ", {n}"}))
                            for n, label in BIG_CHANGES]
        self.path.write_text(self.base)
        self.options = Options(cache=folder / "cache", out=folder / "out", variants=self.variants, checks=True)

    def build(self, text: str | None = None) -> tuple[float, object]:
        if text is not None:
            self.path.write_text(text)
        started = time.perf_counter()
        (built, *_) = build_file(self.path, self.options)
        return time.perf_counter() - started, built

    def process(self, text: str | None = None) -> float:
        if text is not None:
            self.path.write_text(text)
        cmd = [os.path.join(os.path.dirname(sys.executable), "brief"), "build", str(self.path), "-q",
               "--cache", str(self.options.cache), "--out", str(self.folder / "out-process")]
        for v in self.variants:
            cmd += ["--variant", v]
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        return time.perf_counter() - started


def stages(built) -> dict[str, float]:
    out = {s: 0.0 for s in STAGES}
    out.update(compile=built.seconds["compile"], plan=built.seconds["plan"], export=built.seconds["export"])
    for op, seconds in built.by_op().items():
        out[GROUPS.get(op, "layers")] += seconds
    return out


def measure(name: str, repeat: int, process: bool) -> None:
    best: dict[str, tuple[float, dict, float]] = {}
    proc: dict[str, float] = {}

    def keep(key: str, seconds: float, built) -> None:
        if key not in best or seconds < best[key][0]:
            best[key] = (seconds, stages(built), built.plan.pixel_share)

    for round_ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            scene = Scene(Path(tmp), name)
            keep("full", *scene.build())
            keep("no-op", *scene.build())
            for change, _, text in scene.changes:
                keep(change, *scene.build(text.replace("{n}", f"variation {round_}")))
                scene.build(scene.base)  # back to the base for the next change
            if process:
                shutil.rmtree(scene.options.cache)
                full = scene.process(scene.base)
                proc["full"] = min(proc.get("full", full), full)
                noop = scene.process()
                proc["no-op"] = min(proc.get("no-op", noop), noop)
                for change, _, text in scene.changes:
                    t = scene.process(text.replace("{n}", f"process {round_}"))
                    proc[change] = min(proc.get(change, t), t)
                    scene.process(scene.base)
    full = best["full"][0]
    title = {"example": "examples/campaign/runner.brief, summer (1024 x 768, 2 out-painted formats, 4 rules)",
             "big": "3072 x 2048 catalogue page (9 components, 3 formats, 3 rules)"}[name]
    print(f"\n{title}: full build {full:.2f} s in process" + (f", {proc['full']:.2f} s as a process" if process else ""))
    print(f"{'rebuild':<24} {'seconds':>8} {'ratio':>6} {'touched':>8} {'target':>7}  verdict   " +
          " ".join(f"{s:>9}" for s in STAGES) + ("   process ratio" if process else ""))
    rows = [("full", "full")] + [("no-op", "no-op")] + [(c, c) for c in best if c not in ("full", "no-op")]
    for title_, key in rows:
        seconds, by_stage, share = best[key]
        ratio = seconds / full
        if key == "full":
            target = None
        elif key == "no-op":
            target = 0.05
        else:
            target = 0.15 if share <= 0.08 else share + 0.10
        verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
        line = (f"{title_:<24} {seconds:>8.2f} {ratio:>6.3f} {share * 100:>7.1f}% "
                f"{'' if target is None else f'{target:.3f}':>7}  {verdict:<8}  " +
                " ".join(f"{by_stage[s]:>9.3f}" for s in STAGES))
        if process and key in proc:
            line += f"   {proc[key] / proc['full']:.3f} ({proc[key]:.2f} s)"
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each measurement is kept")
    ap.add_argument("--process", action="store_true", help="also time `brief build` as a process")
    ap.add_argument("--scene", choices=("example", "big", "both"), default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # warm up: imports and the grammar, paid once per process
        warm = Path(tmp)
        (warm / "brief.toml").write_text("")
        (warm / "w.brief").write_text('brief w { canvas 64 x 64 component c { prompt "x" } output o 32 x 32 outpaint }')
        build_file(warm / "w.brief", Options(cache=warm / "cache", out=warm / "out"))
    for name in (("example", "big") if args.scene == "both" else (args.scene,)):
        measure(name, args.repeat, args.process)
    print("\nstages in seconds; render split by kind of node (layers: prompts, generation and placing; edits: "
          "in-paint, remove, recolour, harmonize; formats: outputs and the checks' thumbnail)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
