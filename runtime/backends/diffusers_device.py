"""Where the diffusers backend renders: the device class and precision that go into every node's
key (`cuda` in float16 when torch can use a GPU, else `cpu` in float32; `--device` overrides), found
without importing torch, which takes seconds, so that a build with nothing to render stays fast.

The default follows `torch.cuda.is_available()`, predicted from what torch would look at:
- torch built without CUDA or ROCm (its `version.py`, read as text): `cpu`, certainly;
- no GPU for a driver (Linux: no entry under /proc/driver/nvidia/gpus, no /dev/kfd or /dev/dxg): `cpu`;
- otherwise torch's own answer, remembered in the user's cache under a fingerprint of everything
  it depends on (torch's version and build, the driver's version, the GPUs present, the variables
  that hide devices); a new fingerprint asks torch once. Elsewhere than Linux, torch is asked.

Keys stay honest whatever the prediction: the ops render on the device the key names, and when
they run (torch is imported by then) `check_device` compares it with torch's answer. A key naming
CUDA that torch cannot use is refused (and the memo forgotten); a key naming the CPU where torch
finds a GPU renders on the CPU, as keyed, with a warning. So a result stored under `cuda`/`float16`
was rendered so, and a CPU render is never stored under a CUDA key.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from ..context import OpError
from ..store.memo import forget_memo, memo_path, read_memo, save_memo

DEVICE_MEMO = memo_path("cuda-available.json")  # fingerprint → torch's answer; None: nothing remembered
MEMO_ENTRIES = 64
HIDING = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER",
          "PYTORCH_NVML_BASED_CUDA_CHECK", "LD_LIBRARY_PATH")
_decided: dict[str, bool] = {}  # fingerprint → CUDA usable, for this process
_warned: list[str] = []


def device_and_dtype(options: dict) -> tuple[str, str]:
    """(device, dtype) of a render: `--device` (and a dtype option) when given, else CUDA in half
    precision when torch can use a GPU, else CPU in float32 (bf16 for SDXL-sized models is the
    caller's choice via a dtype option)."""
    device = options.get("device") or ("cuda" if cuda_usable() else "cpu")
    dtype = options.get("dtype") or ("float16" if device.startswith("cuda") else "float32")
    return device, dtype


def check_device(options: dict, device: str) -> None:
    """Before rendering on `device` (what the key names): refuse CUDA that torch cannot use; warn,
    once, when the default was the CPU but torch finds a GPU (the render stays on the CPU, as keyed)."""
    import torch

    usable = torch.cuda.is_available()
    if device.startswith("cuda") and not usable:
        _forget()
        again = "build with --device cpu" if options.get("device") else "build again (or with --device cpu)"
        raise OpError(f"torch cannot use CUDA on this machine ({_why_not(torch)}); {again}")
    if usable and not options.get("device") and not device.startswith("cuda") and not _warned:
        _warned.append(device)
        _forget()
        print("warning: brief found no GPU but torch can use CUDA; this build renders on the CPU "
              "(pass --device cuda to use the GPU)", file=sys.stderr)


def cuda_usable() -> bool:
    """Whether `torch.cuda.is_available()` would say True, without importing torch where it can."""
    if importlib.util.find_spec("torch") is None:
        return False  # not installed: the lock says so (diffusers._versions)
    build = torch_build()
    if build is not None and not (build.get("cuda") or build.get("hip")):
        return False  # a CPU-only torch never uses a GPU
    if sys.platform.startswith("linux") and build is not None:
        if not _gpus_present():
            return False
        fingerprint = _fingerprint(build)
        if fingerprint in _decided:
            return _decided[fingerprint]
        remembered = read_memo(DEVICE_MEMO).get(fingerprint)
        if isinstance(remembered, bool):
            _decided[fingerprint] = remembered
            return remembered
        _decided[fingerprint] = answer = _ask_torch()
        save_memo(DEVICE_MEMO, {fingerprint: answer}, MEMO_ENTRIES)
        return answer
    return _ask_torch()


def torch_build() -> dict | None:
    """torch's version and the GPU toolkits it was built for (`cuda`, `hip`: a version, or None),
    read from its `version.py` as text; None when torch is not installed or the file is not as expected."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(list(spec.submodule_search_locations)[0]) / "version.py").read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        return None
    found = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else \
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
            found[target.id] = node.value.value
    if not {"__version__", "cuda", "hip"} <= found.keys():
        return None
    return {k: found[k] for k in ("__version__", "cuda", "hip")}


def _gpus_present() -> bool:
    try:
        nvidia = bool(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        nvidia = False
    return nvidia or os.path.exists("/dev/kfd") or os.path.exists("/dev/dxg")  # ROCm; WSL 2


def _fingerprint(build: dict) -> str:
    """Everything torch's answer depends on that can change without torch changing its mind on its
    own: torch's build, the driver and its GPUs, and the variables that select or hide devices."""
    try:
        driver = Path("/proc/driver/nvidia/version").read_text(errors="replace")
    except OSError:
        driver = ""
    try:
        gpus = sorted(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        gpus = []
    spec = [build, driver, gpus, os.path.exists("/dev/kfd"), os.path.exists("/dev/dxg"),
            [os.environ.get(v) for v in HIDING], sys.executable]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _ask_torch() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _why_not(torch) -> str:
    return "torch was built without CUDA" if not (torch.version.cuda or getattr(torch.version, "hip", None)) \
        else "no CUDA device is visible to it"


def _forget() -> None:
    """Drop what this process and the memo believe (the prediction was wrong): ask torch next time."""
    _decided.clear()
    forget_memo(DEVICE_MEMO)
