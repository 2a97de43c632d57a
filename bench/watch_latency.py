"""Watch-mode latency: from saving a one-component change to the rebuilt output, through the
watcher, next to the same incremental `brief build` run directly as a command. Target: the watcher
adds at most the debounce + 100 ms to its build, and beats the direct build (nothing is
re-imported or re-loaded).

Run: .venv/bin/python bench/watch_latency.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from brief.runtime.build import Options
from brief.runtime.live.watch import DEBOUNCE_S, Watcher

REPO = Path(__file__).resolve().parent.parent
BRIEF_BIN = os.path.join(os.path.dirname(sys.executable), "brief")
COLOURS = ["green", "blue", "gold", "pink", "black", "white", "grey", "teal", "brown", "violet", "orange", "purple"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "examples"
        shutil.copytree(REPO / "examples", folder)
        brief = folder / "campaign" / "runner.brief"
        base = brief.read_text()
        options = ["--variant", "season=summer", "--no-checks", "-q"]
        subprocess.run([BRIEF_BIN, "build", str(brief), *options], check=True, capture_output=True)

        direct = []
        for i in range(args.rounds):
            brief.write_text(base.replace("a red kite", f"a {COLOURS[i]} kite"))
            started = time.perf_counter()
            subprocess.run([BRIEF_BIN, "build", str(brief), *options], check=True, capture_output=True)
            direct.append(time.perf_counter() - started)

        done = threading.Event()
        finished = {}
        watcher = Watcher(brief, Options(variants=["season=summer"], checks=False),
                          report=lambda r: (finished.update(at=time.perf_counter(), build=r.seconds), done.set()))
        watcher.start()
        threading.Thread(target=watcher.run, daemon=True).start()
        done.wait(120)
        time.sleep(0.5)
        latencies, builds = [], []
        for i in range(args.rounds):
            done.clear()
            brief.write_text(base.replace("a red kite", f"a {COLOURS[args.rounds + i]} kite"))
            saved = time.perf_counter()
            done.wait(60)
            latencies.append(finished["at"] - saved)
            builds.append(finished["build"])
            time.sleep(0.3)
        watcher.close()
    lat, build, cmd = statistics.median(latencies), statistics.median(builds), statistics.median(direct)
    overhead = lat - build
    print(f"one-component change, examples/campaign/runner.brief (draft, summer variant), median of {args.rounds}\n")
    print(f"  watcher: save → output        {lat * 1000:7.0f} ms   (its build {build * 1000:.0f} ms, "
          f"waiting and detection {overhead * 1000:.0f} ms)")
    print(f"  direct:  brief build command  {cmd * 1000:7.0f} ms")
    print(f"\n  watcher overhead {overhead * 1000:.0f} ms vs target ≤ debounce {DEBOUNCE_S * 1000:.0f} + 100 ms: "
          f"{'ok' if overhead <= DEBOUNCE_S + 0.1 else 'MISSED'}")
    print(f"  watcher vs direct: {lat / cmd:.2f}x  {'ok (faster)' if lat < cmd else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
