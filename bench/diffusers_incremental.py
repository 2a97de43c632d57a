"""diffusers incremental benchmark: what a regional change costs, per model family, under
`resolution native` (the default: a crop smaller than the model's native size is denoised at native
size) and `resolution exact` (denoised at its own size).

For each family (random weights with the family's real configuration, or its tiny version; weights do
not change the cost) and each mode, the brief is rendered fully, then again after changing the prompt
of a component covering about 10% of the canvas, and once with no change. Prints the denoiser's
FLOPs (torch.utils.flop_counter around every UNet or transformer call) and wall time, their ratio to
the full render, next to the share of the canvas the re-rendered crop covers and the share the model
actually processed (the processing size the backend records). The claim: cost ∝ processed area —
FLOP ratio ≤ processed share + 0.05 (wall time + 0.10); under `exact` the processed share is the crop
share; under `native` a small crop costs a native-size pass. A no-op runs no denoiser step and loads
no model.

Run: .venv/bin/python bench/diffusers_incremental.py [--family tiny --family tiny-flux] [--size 256]
     [--steps 4] [--device cpu|cuda] [--dtype float16|bfloat16]
(bench/gpu_check.sh runs it on a CUDA machine at 1024 x 1024 with SDXL- and FLUX-sized weights.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

BRIEF = '''brief bench {{
  canvas {size} x {size}
  seed 7
  backend diffusers "model"
  steps {steps}
  component backdrop {{
    prompt "park"
  }}
  component ten {{
    prompt "{ten}"
    region box 4% 4% 32% 32%
    z 1{resolution}
  }}
}}
'''
SIZES = {"sd15": "sd15", "sdxl": "sdxl", "sd3": "sd3", "flux": "flux", "tiny": "tiny", "tiny-xl": "tiny-xl",
         "tiny-sd3": "tiny-sd3", "tiny-flux": "tiny-flux"}


def _instrument(counter: dict, counting: dict):
    """Count the denoiser's FLOPs and calls in every pipeline the backend loads; count loads."""
    from torch.utils.flop_counter import FlopCounterMode

    import brief.runtime.backends.diffusers as backend
    from brief.runtime.backends import diffusers_model

    real_load = diffusers_model.load_pipeline.__wrapped__

    def counting_load(path, device, dtype, content=""):
        counter["loads"] += 1
        pipe = real_load(path, device, dtype, content)
        denoiser = getattr(pipe, "unet", None) or pipe.transformer
        forward = denoiser.forward

        def counted(*a, **k):
            counter["calls"] += 1
            if not counting["on"]:
                return forward(*a, **k)
            with FlopCounterMode(display=False) as fc:
                out = forward(*a, **k)
            counter["flops"] += fc.get_total_flops()
            return out

        denoiser.forward = counted
        return pipe

    diffusers_model.load_pipeline = lru_cache(maxsize=2)(counting_load)
    backend.load_pipeline = diffusers_model.load_pipeline
    for cached in (diffusers_model.inpaint_pipeline, diffusers_model.img2img_pipeline):
        cached.cache_clear()

    def reset():
        diffusers_model.load_pipeline.cache_clear()
        for cached in (diffusers_model.inpaint_pipeline, diffusers_model.img2img_pipeline):
            cached.cache_clear()

    return reset


def run_family(family: str, args, options: dict) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_tiny_pipeline

    from brief.runtime.build import Options, build_file

    counter, counting = {"flops": 0, "calls": 0, "loads": 0}, {"on": True}
    reset = _instrument(counter, counting)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "brief.toml").write_text("")
        print(f"writing a random {family} model…", file=sys.stderr)
        make_tiny_pipeline.build(folder / "model", unet_size=SIZES[family])
        brief = folder / "bench.brief"

        def render(ten: str, mode: str, cache: str, count: bool) -> dict:
            resolution = "\n    resolution exact" if mode == "exact" else ""
            brief.write_text(BRIEF.format(size=args.size, steps=args.steps, ten=ten, resolution=resolution))
            counting["on"] = count
            counter.update(flops=0, calls=0)
            loads = counter["loads"]
            started = time.perf_counter()
            built = build_file(brief, Options(cache=folder / cache, out=folder / f"out-{cache}",
                                              backend_options=dict(options)))
            seconds = time.perf_counter() - started
            b, area = built[0], args.size * args.size
            crop = processed = 0.0
            manifest = json.loads((folder / f"out-{cache}" / "bench" / "manifest.json").read_text())
            for key in b.run.ran:
                a = b.graph.nodes[key]
                if a["op"] == "generate":
                    x0, y0, x1, y1 = a["params"]["crop"] if a["params"]["context"] == "scene" else a["params"]["box"]
                    crop += (x1 - x0) * (y1 - y0) / area
                    done = manifest["nodes"].get(key, {}).get("processing", {})
                    w, h = done.get("size", [x1 - x0, y1 - y0])
                    bw, bh = done.get("base", [0, 0])
                    # the denoiser's work: pixels × the steps it ran on them, as a share of the canvas's
                    processed += (w * h * done.get("steps", args.steps) + bw * bh * done.get("base_steps", 0)) \
                        / (area * args.steps)
            return {"flops": counter["flops"], "calls": counter["calls"], "seconds": seconds,
                    "crop": crop, "processed": processed, "loaded": counter["loads"] - loads}

        for mode in ("native", "exact"):
            results = {}
            for count, cache in ((True, f"{mode}-flops"), (False, f"{mode}-wall")):  # FLOPs, time: separate runs
                results[("full", cache)] = render("a red kite", mode, cache, count)
                results[("ten", cache)] = render("a green kite", mode, cache, count)
                render("a red kite", mode, cache, count)  # back to the base
            reset()
            noop = render("a red kite", mode, f"{mode}-wall", False)
            full = results[("full", f"{mode}-flops")]["flops"], results[("full", f"{mode}-wall")]["seconds"]
            for name in ("full", "ten"):
                f, s = results[(name, f"{mode}-flops")], results[(name, f"{mode}-wall")]
                rows.append({"family": family, "mode": mode, "render": name, "gflop": f["flops"] / 1e9,
                             "flop_ratio": f["flops"] / full[0], "seconds": s["seconds"],
                             "time_ratio": s["seconds"] / full[1], "crop": 1.0 if name == "full" else f["crop"],
                             "processed": f["processed"]})
            rows.append({"family": family, "mode": mode, "render": "no-op", "calls": noop["calls"],
                         "loaded": noop["loaded"], "seconds": noop["seconds"]})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", action="append", choices=sorted(SIZES),
                    help="model family and size (repeatable; default: tiny and tiny-flux)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="float32 (CPU default), float16 or bfloat16")
    args = ap.parse_args()
    options = {"device": args.device} if args.device else {}
    if args.dtype:
        options["dtype"] = args.dtype
    rows = [row for family in (args.family or ["tiny", "tiny-flux"]) for row in run_family(family, args, options)]
    print(f"\n{args.size} x {args.size}, {args.steps} steps, device {args.device or 'auto'}, "
          f"dtype {args.dtype or 'auto'}; a ~10% component's prompt changed\n")
    print(f"{'family':<10} {'mode':<7} {'render':<6} {'GFLOP':>9} {'FLOP ratio':>10} {'seconds':>8} "
          f"{'time ratio':>10} {'crop':>6} {'work':>9}  verdict   (work: pixels × steps denoised / canvas × steps)")
    ok = True
    for r in rows:
        if r["render"] == "no-op":
            good = r["calls"] == 0 and r["loaded"] == 0
            print(f"{r['family']:<10} {r['mode']:<7} no-op  {r['calls']} denoiser calls, model loaded {r['loaded']} "
                  f"times, {r['seconds']:.2f} s  {'ok' if good else 'MISSED'}")
        else:
            full = next(x for x in rows if x["family"] == r["family"] and x["mode"] == r["mode"]
                        and x["render"] == "full")
            share = r["processed"] / full["processed"]  # the work redone, against the full render's
            good = r["render"] == "full" or (r["flop_ratio"] <= share + 0.05 and r["time_ratio"] <= share + 0.10)
            print(f"{r['family']:<10} {r['mode']:<7} {r['render']:<6} {r['gflop']:>9.2f} {r['flop_ratio']:>10.3f} "
                  f"{r['seconds']:>8.2f} {r['time_ratio']:>10.3f} {r['crop']:>6.3f} {r['processed']:>9.3f}  "
                  f"{'ok' if good else 'MISSED'}")
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
