"""Farm benchmark: 24 variants (2 seasons × 3 SKUs × 4 times of day) at 1024 x 1024 with the draft
backend, rendered locally one after the other and on Ray with 2 workers, each into a fresh cache.

Prints each executor's throughput (variants per second; Ray's cluster and worker start-up are
shown apart, and also counted in a second figure), their ratio (target >= 1.6 on 2 cores), and
how many shared nodes rendered once instead of once per variant. Both executors compile each
brief once.

Run: .venv/bin/python bench/farm.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from brief.runtime import farm
from brief.runtime.build import Options

BRIEF = '''brief farm {
  canvas 1024 x 1024
  seed 4
  matrix season {
    summer "summer park"
    autumn "autumn park"
  }
  matrix sku {
    red "red"
    blue "blue"
    gold "gold"
  }
  matrix time {
    dawn "dawn light"
    noon "noon light"
    dusk "dusk light"
    night "night sky"
  }
  component backdrop {
    prompt "{season}, {time}"
  }
  component product {
    asset "product.png"
    region box 25% 40% 75% 95%
    z 2
  }
  component tag {
    prompt "a {sku} price tag"
    region box 5% 5% 35% 25%
    z 3
  }
  component badge {
    prompt "round sale badge"
    region box 70% 5% 95% 25%
    context none
    z 4
  }
  edit tone {
    recolor product to #C8102E
  }
  output square 800 x 800 crop
  output story 720 x 1280 outpaint
}
'''


def main() -> int:
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "brief.toml").write_text("")
        Image.new("RGBA", (480, 300), (30, 90, 200, 255)).save(folder / "product.png")
        path = str(folder / "farm.brief")
        Path(path).write_text(BRIEF)

        local = farm.render_local([path], Options(cache=folder / "c-local", out=folder / "o-local", checks=False))
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
        try:
            remote = farm.render_ray([path], Options(cache=folder / "c-ray", out=folder / "o-ray", checks=False),
                                     workers=2)
        finally:
            ray.shutdown()
        same = all((folder / "o-local" / o.variant / "square.png").read_bytes() ==
                   (folder / "o-ray" / o.variant / "square.png").read_bytes() for o in local.outcomes)
    n = len(local.outcomes)
    t_local, t_ray = n / local.seconds, n / remote.seconds
    ratio = t_ray / t_local
    print(f"{n} variants at 1024 x 1024, draft backend\n")
    print(f"  local, sequential: {local.seconds:6.1f} s  {t_local:5.2f} variants/s")
    print(f"  ray, 2 workers:    {remote.seconds:6.1f} s  {t_ray:5.2f} variants/s   (+ {ray_start:.1f} s to start "
          f"the cluster and {remote.startup:.1f} s to start its workers)")
    whole = n / (remote.seconds + remote.startup + ray_start)
    print(f"  ray, counting its start-up too: {whole:5.2f} variants/s ({whole / t_local:.2f}x)")
    print(f"\n  throughput ratio {ratio:.2f}x (target >= 1.6x)  {'ok' if ratio >= 1.6 else 'MISSED'}")
    print(f"  shared nodes: {local.shared}, each rendered once instead of up to {n} times "
          f"(local rendered {local.shared_rendered}, ray {remote.shared_rendered})")
    print(f"  outputs byte-identical between executors: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
