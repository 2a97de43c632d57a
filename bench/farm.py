"""Farm benchmark: a 24-variant batch (2 seasons × 3 SKUs × 4 times of day, draft backend, 2048 x 2048
by default) rendered by the local executor and on Ray clusters started on this machine: 1 node, 2
nodes, and 2 nodes with 2 workers each. Every node keeps its own local cache, fresh for each
configuration; the nodes share only a SeaweedFS bucket (the cache's remote tier, started here).

For each configuration it prints the wall time of the batch, Ray's start-up (starting the nodes,
joining them) apart, the remote tier's hit rate (of the cached results the tasks found, the share
fetched from the bucket), the share of the shared results each node read (rendered by another
node) that it fetched from the bucket, and the time spent uploading and downloading, summed over the tasks,
against the render time summed over the tasks (target: transfer <= 10% of render time at 2048²).
It checks that every configuration's outputs are byte-identical to the local executor's.

Run: .venv/bin/python bench/farm.py [--size 2048] [--configs 1x1,2x1,2x2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from brief.runtime import farm  # noqa: E402
from brief.runtime.build import Options  # noqa: E402
from cluster import ray_nodes  # noqa: E402
from seaweed import start_seaweed  # noqa: E402

BRIEF = '''brief farm {{
  canvas {size} x {size}
  seed 4
  matrix season {{
    summer "summer park"
    autumn "autumn park"
  }}
  matrix sku {{
    red "red"
    blue "blue"
    gold "gold"
  }}
  matrix time {{
    dawn "dawn light"
    noon "noon light"
    dusk "dusk light"
    night "night sky"
  }}
  component backdrop {{
    prompt "{{season}}, studio floor"
  }}
  component product {{
    asset "product.png"
    region box 25% 40% 75% 95%
    z 2
  }}
  component tag {{
    prompt "a {{sku}} price tag"
    region box 5% 5% 35% 25%
    z 3
  }}
  component sky {{
    prompt "{{time}}"
    region box 40% 0% 100% 30%
    z 1
  }}
  edit tone {{
    recolor product to #C8102E
  }}
  output square 1080 x 1080 crop
  output story 1080 x 1920 outpaint
}}
'''


def pixels(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--configs", default="1x1,2x1,2x2", help="NODESxWORKERS, comma-separated")
    args = parser.parse_args()
    import s3fs

    server = start_seaweed()
    keys = {"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(keys)
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": server.endpoint}).mkdir("bench")
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "brief.toml").write_text("")
            Image.new("RGBA", (480, 300), (30, 90, 200, 255)).save(folder / "product.png")
            path = str(folder / "farm.brief")
            Path(path).write_text(BRIEF.format(size=args.size))
            started = time.perf_counter()
            local = farm.render_local([path], Options(cache=folder / "local-cache", out=folder / "local", checks=False))
            reference, local_s = pixels(folder / "local"), time.perf_counter() - started
            n = len(local.outcomes)
            for config in args.configs.split(","):
                nodes, workers = (int(v) for v in config.split("x"))
                caches = [folder / f"{config}-node{i}" for i in range(nodes)]
                started = time.perf_counter()
                with ray_nodes(caches, cpus=workers, env={"BRIEF_REMOTE_CACHE": f"s3://bench/{config}"}) as address:
                    nodes_up = time.perf_counter() - started
                    batch = farm.render_ray([path], Options(out=folder / config, checks=False), address=address)
                same = pixels(folder / config) == reference
                t = batch.transfer
                found = t.get("remote", 0) + t.get("local", 0)
                render = batch.task_seconds
                rows.append((config, batch, nodes_up, same, t, found, render))
                if os.environ.get("BENCH_VERBOSE"):
                    print(config, {k: round(v, 2) if isinstance(v, float) else v for k, v in t.items()}, flush=True)
    finally:
        server.stop()

    print(f"{n} variants at {args.size} x {args.size}, draft backend, 2 outputs each; "
          f"{local.shared} shared nodes\n")
    print(f"  local executor, one process: {local_s:6.1f} s")
    print(f"  {'nodes x workers':<16} {'batch':>7} {'start-up':>9} {'remote hits':>12} {'shared fetched':>15} "
          f"{'up':>7} {'down':>7} {'render':>8} {'transfer/render':>16}  same bytes")
    for config, batch, nodes_up, same, t, found, render in rows:
        share = t.get("remote", 0) / found if found else 0.0
        moved = t.get("up_s", 0) + t.get("down_s", 0)
        shares = [got / read for read, got in batch.shared_inputs().values() if read]
        fetched = f"{min(shares):.0%}" if shares else "-"
        print(f"  {config:<16} {batch.seconds:6.1f}s {nodes_up + batch.startup:8.1f}s {share:11.0%} {fetched:>15} "
              f"{t.get('up_s', 0):6.1f}s {t.get('down_s', 0):6.1f}s {render:7.1f}s {moved / render:15.1%}  {same}")
    print("\n  batch: from the first task to the last; start-up: starting the nodes and joining them;")
    print("  remote hits: of the cached results the tasks found, the share fetched from the bucket;")
    print("  shared fetched: of the shared results a node read that another node rendered, the share it fetched")
    print("  from the bucket (the node with the lowest share; '-' with one node);")
    print("  up/down: seconds moving objects to and from the bucket, summed over tasks (each task sends its uploads")
    print("  in batches as it ends);")
    print("  render: every task's seconds (shared nodes and variants), summed, transfers included")
    print("  (target: transfer <= 10% of render)")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
