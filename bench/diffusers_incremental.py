"""diffusers incremental benchmark: a randomly initialised model with the real Stable Diffusion
1.5 UNet configuration (weights do not change the cost), 512 x 512, 4 steps.

Renders the brief fully, then again after changing the prompt of a component covering about 10%
and then about 30% of the canvas, and once with no change. Prints UNet FLOPs (counted with
torch.utils.flop_counter.FlopCounterMode around every UNet call) and wall time for each, their
ratio to the full render next to the share of the canvas the re-rendered crop covers, and
whether the no-op rebuild ran a UNet step or loaded the model. Targets: incremental/full <=
crop share + 0.05 in FLOPs and + 0.10 in wall time; a no-op runs no UNet step, loads no model.

Run: .venv/bin/python bench/diffusers_incremental.py [--size 512] [--steps 4] [--device cpu|cuda]
(bench/gpu_check.sh runs it on a CUDA machine at 1024 x 1024 in fp16.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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
    z 1
  }}
  component thirty {{
    prompt "{thirty}"
    region box 42% 42% 97% 97%
    z 2
  }}
}}
'''


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default=None, help="float32 (CPU default) or float16 (CUDA default)")
    ap.add_argument("--unet", choices=("sd15", "sdxl"), default="sd15", help="UNet configuration (random weights)")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_tiny_pipeline
    from torch.utils.flop_counter import FlopCounterMode

    from brief.runtime.backends import diffusers_model
    from brief.runtime.build import Options, build_file

    unet_calls = {"flops": 0, "calls": 0}
    loads = {"n": 0}
    real_load = diffusers_model.load_pipeline.__wrapped__

    def counting_load(path, device, dtype):
        loads["n"] += 1
        pipe = real_load(path, device, dtype)
        forward = pipe.unet.forward

        def counted(*a, **k):
            unet_calls["calls"] += 1
            if not counting["on"]:
                return forward(*a, **k)
            with FlopCounterMode(display=False) as fc:
                out = forward(*a, **k)
            unet_calls["flops"] += fc.get_total_flops()
            return out

        pipe.unet.forward = counted
        return pipe

    counting = {"on": True}
    from functools import lru_cache
    diffusers_model.load_pipeline = lru_cache(maxsize=2)(counting_load)
    diffusers_model.inpaint_pipeline.cache_clear()
    import brief.runtime.backends.diffusers as backend
    backend.load_pipeline = diffusers_model.load_pipeline

    options = {"device": args.device} if args.device else {}
    if args.dtype:
        options["dtype"] = args.dtype
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "brief.toml").write_text("")
        print(f"writing a random model with the {args.unet} UNet configuration…", file=sys.stderr)
        make_tiny_pipeline.build(folder / "model", unet_size=args.unet)
        brief = folder / "bench.brief"
        results = {}

        def render(name: str, ten: str, thirty: str, cache: str, count: bool):
            brief.write_text(BRIEF.format(size=args.size, steps=args.steps, ten=ten, thirty=thirty))
            counting["on"] = count
            unet_calls.update(flops=0, calls=0)
            loads_before = loads["n"]
            started = time.perf_counter()
            built = build_file(brief, Options(cache=folder / cache, out=folder / f"out-{cache}",
                                              backend_options=dict(options)))
            seconds = time.perf_counter() - started
            b = built[0]
            W = H = args.size
            covered = np.zeros((H, W), bool)  # the union of the crops the re-rendered components saw
            for key in b.run.ran:
                a = b.graph.nodes[key]
                if a["op"] == "generate":
                    x0, y0, x1, y1 = a["params"]["crop"] if a["params"]["context"] == "scene" else a["params"]["box"]
                    covered[y0:y1, x0:x1] = True
            crop = float(covered.mean())
            return {"flops": unet_calls["flops"], "calls": unet_calls["calls"], "seconds": seconds,
                    "crop": crop, "loaded": loads["n"] - loads_before}

        base = ("a red kite", "a blue boat")
        for count, cache in ((True, "flops"), (False, "wall")):  # FLOPs and wall time in separate runs
            results[("full", cache)] = render("full", *base, cache=cache, count=count)
            results[("ten", cache)] = render("ten", "a green kite", base[1], cache=cache, count=count)
            results[("thirty", cache)] = render("thirty", "a green kite", "a yellow boat", cache=cache, count=count)
            render("back", *base, cache=cache, count=count)  # prime the base again
        diffusers_model.load_pipeline.cache_clear()
        backend.load_pipeline = diffusers_model.load_pipeline
        noop = render("noop", *base, cache="wall", count=False)

    full_f, full_s = results[("full", "flops")]["flops"], results[("full", "wall")]["seconds"]
    print(f"UNet {args.unet} configuration, {args.size} x {args.size}, {args.steps} steps, "
          f"device {args.device or 'auto'}, dtype {args.dtype or 'auto'}\n")
    print(f"{'render':<10} {'UNet GFLOP':>11} {'FLOP ratio':>11} {'seconds':>8} {'time ratio':>11} {'crop share':>11}  verdict")
    for name in ("full", "ten", "thirty"):
        f, s = results[(name, "flops")], results[(name, "wall")]
        fr, tr, crop = f["flops"] / full_f, s["seconds"] / full_s, f["crop"] if name != "full" else 1.0
        ok = name == "full" or (fr <= crop + 0.05 and tr <= crop + 0.10)
        print(f"{name:<10} {f['flops'] / 1e9:>11.1f} {fr:>11.3f} {s['seconds']:>8.2f} {tr:>11.3f} {crop:>11.3f}  "
              f"{'ok' if ok else 'MISSED'}")
    print(f"\nno-op rebuild: {noop['calls']} UNet calls, model loaded {noop['loaded']} times, {noop['seconds']:.2f} s  "
          f"{'ok' if noop['calls'] == 0 and noop['loaded'] == 0 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
