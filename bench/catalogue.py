"""Catalogue benchmark (draft backend): the example catalogue, examples/campaign/launch.brief
(2 SKUs × 2 seasons × 2 languages = 8 variants, 3 formats each: 24 delivered files, 21 brand rules
per variant), built from an empty cache, rebuilt with no change, and rebuilt after one field of one
matrix value changes: one SKU's colour, and one language's headline. For each it prints the time,
its ratio to the full build, how many of the 24 outputs were made again (their node changed) and
how many nodes ran. In process (imports warmed up first) and, with `--process`, as `brief build`.

Run: .venv/bin/python bench/catalogue.py [--repeat N] [--process]
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

from brief.runtime.build import Options, build_file

REPO = Path(__file__).resolve().parent.parent
VOLT = 'volt "neon volt runner" {\n      asset "../assets/sku-volt.png"\n      color '
CHANGES = [
    ("one SKU's colour (volt → chalk)", VOLT + "volt", VOLT + "chalk"),
    ("one language's headline (de)", 'headline "Lauf weiter"', 'headline "Lauf weiter, immer weiter"'),
]


class Catalogue:
    def __init__(self, folder: Path):
        shutil.copytree(REPO / "examples", folder / "examples")
        self.folder = folder
        self.path = folder / "examples" / "campaign" / "launch.brief"
        self.base = self.path.read_text()
        for _, old, _ in CHANGES:
            assert old in self.base, f"the example changed: {old!r} is not in launch.brief"
        self.options = Options(cache=folder / "cache", out=folder / "out", checks=True)

    def build(self, text: str | None = None) -> tuple[float, list]:
        if text is not None:
            self.path.write_text(text)
        started = time.perf_counter()
        built = build_file(self.path, self.options)
        return time.perf_counter() - started, built

    def process(self, text: str | None = None) -> float:
        if text is not None:
            self.path.write_text(text)
        cmd = [os.path.join(os.path.dirname(sys.executable), "brief"), "build", str(self.path), "-q",
               "--cache", str(self.options.cache), "--out", str(self.folder / "out-process")]
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        return time.perf_counter() - started


def outputs_made(built) -> tuple[int, int]:
    """(outputs whose node ran now, all outputs) over every variant."""
    made = total = 0
    for b in built:
        for key in b.variant.outputs.values():
            total += 1
            made += key in b.run.ran
    return made, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="rounds; the best time of each measurement is kept")
    ap.add_argument("--process", action="store_true", help="also time `brief build` as a process")
    args = ap.parse_args()
    rows: dict[str, tuple[float, int, int, int]] = {}
    proc: dict[str, float] = {}

    def keep(name: str, seconds: float, built) -> None:
        made, total = outputs_made(built)
        ran = sum(len(b.run.ran) for b in built)
        if name not in rows or seconds < rows[name][0]:
            rows[name] = (seconds, made, total, ran)

    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cat = Catalogue(Path(tmp))
            keep("full build (empty cache)", *cat.build())
            keep("no change", *cat.build())
            for name, old, new in CHANGES:
                keep(name, *cat.build(cat.base.replace(old, new)))
                cat.build(cat.base)
            if args.process:
                shutil.rmtree(cat.options.cache)
                proc["full build (empty cache)"] = min(proc.get("full build (empty cache)", 1e9), cat.process(cat.base))
                proc["no change"] = min(proc.get("no change", 1e9), cat.process())
                for name, old, new in CHANGES:
                    proc[name] = min(proc.get(name, 1e9), cat.process(cat.base.replace(old, new)))
                    cat.process(cat.base)
    full = rows["full build (empty cache)"][0]
    print("\nexamples/campaign/launch.brief: 8 variants x 3 formats (24 files), 21 rules per variant, draft backend")
    print(f"{'build':<36} {'seconds':>8} {'ratio':>6} {'outputs made':>13} {'nodes run':>10}"
          + ("   as a process" if args.process else ""))
    for name, (seconds, made, total, ran) in rows.items():
        line = f"{name:<36} {seconds:>8.2f} {seconds / full:>6.3f} {f'{made}/{total}':>13} {ran:>10}"
        if args.process:
            line += f"   {proc[name]:.2f} s"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
