"""A Ray cluster of several nodes on this machine, for the tests and bench/farm.py: `ray start --head`
and `ray start --address …`, each node with its own local cache folder (BRIEF_CACHE in its
environment, which its workers inherit) and a custom resource naming it (`brief_node_0`, …, so that
tasks can be pinned to it), all sharing what the environment gives (the remote cache tier's
BRIEF_REMOTE_CACHE and AWS variables). Loopback only, without token authentication (Ray reads its
auth mode when imported: a real cluster keeps tokens and gives every node and driver the token)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def ray_nodes(caches: list[Path], cpus: int = 1, env: dict | None = None):
    """Start one Ray node per cache folder (the first is the head); yield the head's address; stop
    them all afterwards (`ray stop`, which stops every Ray node of this machine)."""
    ray_bin = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "disabled"}
    port = _port()
    temp = tempfile.mkdtemp(prefix="bray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    common = ["--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--disable-usage-stats"]
    try:
        for i, cache in enumerate(caches):
            where = ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"] if i == 0 \
                else [f"--address=127.0.0.1:{port}"]
            subprocess.run([ray_bin, "start", *where, f'--resources={{"brief_node_{i}": 1}}', *common],
                           env={**env, "BRIEF_CACHE": str(cache)}, check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        subprocess.run([ray_bin, "stop", "--force", "--grace-period=0"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
