#!/usr/bin/env bash
# GPU check for the diffusers backend: on a CUDA machine, the incremental benchmark at 1024 x 1024
# with SDXL-sized (fp16) and FLUX.1-sized (bf16) random weights: per family and per resolution mode
# (native, exact), a full render vs one ~10% component vs a no-op, with the denoiser's FLOPs, wall
# times and their ratios to the work done (cost ∝ processed area × steps). Budget: under 8 minutes on
# one H100/H200 (SDXL about 2, FLUX about 5 with its 24 GB random model written and read once).
#
# The device machines have PyTorch but no network, so the few packages they lack travel as wheels:
#   here (with network):  bash bench/gpu_check.sh --fetch-wheels     # fills .whl/ (git-ignored)
#   there:                bash bench/gpu_check.sh                    # carry .whl with the run
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
WHEELS="diffusers lark interegular tomli-w pydot"
if [ "${1:-}" = "--fetch-wheels" ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform any -d .whl $WHEELS
  ls .whl
  exit 0
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0), torch.__version__)"
if [ ! -x .venv-gpu/bin/python ]; then
  python3 -m venv --system-site-packages .venv-gpu   # sees the image's torch, transformers, opencv, …
  .venv-gpu/bin/pip install -q --no-index --no-deps .whl/*.whl
  .venv-gpu/bin/pip install -q --no-index --no-deps --no-build-isolation -e .
fi
timeout 180 .venv-gpu/bin/python bench/diffusers_incremental.py --size 1024 --steps 4 --device cuda --dtype float16 --family sdxl
timeout 300 .venv-gpu/bin/python bench/diffusers_incremental.py --size 1024 --steps 2 --device cuda --dtype bfloat16 --family flux
