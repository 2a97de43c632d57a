"""Models for the diffusers backend: finding them, refusing unsafe ones, fingerprinting them by
content, and loading each once per process.

A model's identity is the sha256 of every file in its folder that can change the output (weights,
every component's config, the tokenizer files, the scheduler config, `model_index.json`, any LoRA:
`MODEL_FILES`). Hashing gigabytes on every build would be slow, so hashes are memoised under
`~/.cache/brief/` keyed by what `touch -r` cannot forge: device, inode, size, mtime_ns and ctime_ns
(any write moves ctime, and ctime cannot be set back). `verify=True` (`brief build --verify`)
ignores the memo, hashes everything again and repairs it.

A model is a local folder (relative to the brief, or absolute) or a hub id with a pinned
revision, fetched only when the hub is reachable. Safetensors only: a model whose weights exist
only as `.bin` or `.ckpt` is refused, and so is any pipeline or component that would run code
from outside diffusers and transformers (custom pipelines, remote code).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import stat
from functools import lru_cache
from pathlib import Path

from ..conditions import MALFORMED
from ..context import OpError
from ..store.memo import memo_path, read_memo, save_memo, stat_identity

ALLOWED_PIPELINES = {
    "StableDiffusionPipeline", "StableDiffusionInpaintPipeline", "StableDiffusionImg2ImgPipeline",
    "StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline", "StableDiffusionXLImg2ImgPipeline",
    "StableDiffusion3Pipeline", "StableDiffusion3InpaintPipeline", "StableDiffusion3Img2ImgPipeline",
    "FluxPipeline", "FluxInpaintPipeline", "FluxImg2ImgPipeline", "FluxFillPipeline",
}
ALLOWED_LIBRARIES = {"diffusers", "transformers"}
WEIGHTED = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3")
HASH_MEMO = memo_path("model-file-hashes.json")  # None: no home, nothing remembered
MEMO_ENTRIES = 20_000  # the memo forgets its oldest entries beyond this
# The files of a model folder that can change what it renders; also what is fetched from the hub.
MODEL_FILES = ("*.json", "*.txt", "*.safetensors", "*.model", "*.tiktoken", "tokenizer*/*")


def quiet_libraries() -> None:
    """Keep diffusers' and transformers' progress bars and advice out of brief's output."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def resolve_model(model: str, revision: str | None, base_dir: Path) -> Path:
    """The folder holding the model: a local one, or a hub snapshot (cached, else downloaded)."""
    local = Path(model) if os.path.isabs(model) else base_dir / model
    if local.is_dir():
        return local.resolve()
    if not revision or model.startswith((".", "/")):
        raise OpError(f"model folder {local} does not exist (a hub model id needs a pinned revision: "
                      f'backend diffusers "{model}" revision "<commit sha>")')
    from huggingface_hub import snapshot_download

    allow = list(MODEL_FILES)
    try:
        return Path(snapshot_download(model, revision=revision, local_files_only=True, allow_patterns=allow))
    except Exception:  # not in the local hub cache: try the hub itself
        pass
    try:
        return Path(snapshot_download(model, revision=revision, allow_patterns=allow))
    except Exception as exc:
        raise OpError(f"model `{model}` is not a local folder, not in the hub cache, and could not be fetched "
                      f"from the hub (offline?): {type(exc).__name__}. Download it once with network, or "
                      "point the brief at a local folder.") from None


def inspect_model(path: Path) -> dict:
    """model_index.json, checked: a known pipeline class, library components only, safetensors
    weights. (`file_hashes` checks every config and weight header as it hashes them.)"""
    index_path = path / "model_index.json"
    if not index_path.is_file():
        raise OpError(f"{path} has no model_index.json; it is not a diffusers model folder")
    index = _json_object(index_path)
    cls = index.get("_class_name")
    if not isinstance(cls, str) or cls not in ALLOWED_PIPELINES:
        raise OpError(f"pipeline class `{cls}` is not supported (custom pipelines and remote code are refused); "
                      f"supported: {', '.join(sorted(ALLOWED_PIPELINES))}")
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or not spec or spec[0] is None:
            continue
        if not isinstance(spec[0], str) or spec[0] not in ALLOWED_LIBRARIES:
            raise OpError(f"component `{name}` comes from `{spec[0]}`, outside diffusers and transformers; "
                          "code from a model folder is never run")
        if name in WEIGHTED:
            folder = path / name
            if not list(folder.glob("*.safetensors")):
                unsafe = [p.name for p in folder.glob("*") if p.suffix in (".bin", ".ckpt", ".pt", ".pth")]
                what = f"only {', '.join(unsafe)}" if unsafe else "no weights"
                raise OpError(f"`{name}` of {path.name} has {what}; brief loads safetensors weights only")
    return index


def _json_object(file: Path) -> dict:
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, *MALFORMED) as exc:
        raise OpError(f"{file} is not readable JSON: {exc}") from None
    if not isinstance(value, dict):
        raise OpError(f"{file} is not a JSON object (found {type(value).__name__})")
    return value


def _check_file(file: Path) -> None:
    """A model file is sound before its hash is remembered: configs are JSON objects, weight files
    have a safetensors header that fits the file. A damaged or hostile model is refused at the
    `backend` line, before anything runs."""
    if not stat.S_ISREG(file.stat().st_mode):
        raise OpError(f"{file} is not a regular file")
    if file.suffix == ".json":
        _json_object(file)
    elif file.suffix == ".safetensors":
        _check_safetensors_header(file)


SAFETENSORS_MAX_HEADER = 100_000_000  # the limit the safetensors library itself applies


def _check_safetensors_header(file: Path) -> None:
    """The header of a .safetensors file: a sane length, then a JSON object of tensors whose data
    lie inside the file. The library checks the same on loading; here it is a clear refusal."""
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            head = fh.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 2 <= n <= min(SAFETENSORS_MAX_HEADER, size - 8):
                raise OpError(f"{file} is not a safetensors file (its header length is {n} in a file of {size} bytes)")
            header = json.loads(fh.read(n).decode("utf-8"))
    except (OSError, *MALFORMED) as exc:
        raise OpError(f"{file} has an unreadable safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise OpError(f"{file} has an unreadable safetensors header (not a JSON object)")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= size - 8 - n):
            raise OpError(f"{file}: tensor `{name}` points outside the file; the weights are damaged or hostile")


_hashed_here: dict[str, str] = {}  # stat identity → sha256, hashed by this process


def forget_hashes() -> None:
    """Forget what this process hashed (as a new process would)."""
    _hashed_here.clear()


def _sha256_file(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def model_files(path: Path) -> list[Path]:
    """Every file of the model folder that can change the output (`MODEL_FILES`), sorted."""
    found, seen = [], set()
    for folder, dirs, files in os.walk(path, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop: each folder once
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            rel = Path(folder, name).relative_to(path).as_posix()
            if not name.startswith(".") and any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p)
                                                for p in MODEL_FILES):
                found.append(Path(folder, name))
    return sorted(found, key=lambda f: f.relative_to(path).as_posix())


def file_hashes(path: Path, verify: bool = False) -> dict[str, str]:
    """sha256 of every model file, by its path inside the model, each checked sound when first
    hashed. Memoised by stat identity; `verify` hashes (and checks) every file again whatever the
    memo says, and repairs the memo."""
    memo = {} if verify else read_memo(HASH_MEMO)
    out, fresh = {}, {}
    for file in model_files(path):
        tag = stat_identity(file.stat())
        digest = _hashed_here.get(tag) or memo.get(tag)
        if not (isinstance(digest, str) and len(digest) == 64):  # unknown, or a damaged memo entry
            _check_file(file)
            digest = fresh[tag] = _hashed_here[tag] = _sha256_file(file)
        out[file.relative_to(path).as_posix()] = digest
    save_memo(HASH_MEMO, fresh, MEMO_ENTRIES)
    return out


@lru_cache(maxsize=2)
def load_pipeline(path: str, device: str, dtype: str, content: str = ""):
    """The model's pipeline, loaded once per process and content (`file_hashes`, hashed: a long-lived
    process whose model changed on disk loads it again). The class comes from model_index.json."""
    quiet_libraries()
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as dlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    try:
        pipe = DiffusionPipeline.from_pretrained(path, use_safetensors=True, local_files_only=True,
                                                 dtype=getattr(torch, dtype))
    except Exception as exc:  # the model folder is the user's input: whatever it holds, one clear line
        first = (str(exc).splitlines() or [""])[0][:300]
        raise OpError(f"the model in {path} could not be loaded ({type(exc).__name__}: {first})") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@lru_cache(maxsize=2)
def inpaint_pipeline(path: str, device: str, dtype: str, content: str = ""):
    """An inpainting pipeline sharing the model's parts: a real inpainting UNet (9 channels) if the
    model has one, else masked latent blending with the base UNet."""
    from diffusers import AutoPipelineForInpainting

    base = load_pipeline(path, device, dtype, content)
    if type(base).__name__ == "FluxFillPipeline":  # an in-painting model: itself
        return base
    pipe = AutoPipelineForInpainting.from_pipe(base)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@lru_cache(maxsize=2)
def img2img_pipeline(path: str, device: str, dtype: str, content: str = ""):
    """An image-to-image pipeline sharing the model's parts (the refine pass of `resolution native`)."""
    from diffusers import AutoPipelineForImage2Image

    base = load_pipeline(path, device, dtype, content)
    if type(base).__name__ == "FluxFillPipeline":  # refines under a full mask (diffusers_family)
        return base
    pipe = AutoPipelineForImage2Image.from_pipe(base)
    pipe.set_progress_bar_config(disable=True)
    return pipe


_scheduled: dict[tuple[int, str], object] = {}


def with_scheduler(pipe, name: str | None):
    """`pipe` with the scheduler class `name` (one of lang's allow-list), built from the model's
    own scheduler config; the same pipeline when `name` is None. Kept per pipeline and name."""
    if not name:
        return pipe
    from brief.lang.check_controls import SCHEDULERS

    if name not in SCHEDULERS:
        raise OpError(f"scheduler `{name}` is not one brief can use; choose one of: {', '.join(SCHEDULERS)}")
    flow = type(pipe).__name__.startswith(("StableDiffusion3", "Flux"))
    if flow != name.startswith("FlowMatch"):
        raise OpError(f"scheduler `{name}` does not fit {type(pipe).__name__}: "
                      + ("a flow-matching model (SD3, FLUX) takes a FlowMatch… scheduler" if flow else
                         "a Stable Diffusion 1.x/SDXL model takes a discrete one (Euler, DPM-Solver, UniPC, DDIM, …)"))
    key = (id(pipe), name)
    if key not in _scheduled:
        import diffusers

        scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)
        copy = type(pipe).from_pipe(pipe, scheduler=scheduler)
        copy.set_progress_bar_config(disable=True)
        _scheduled[key] = (pipe, copy)  # the original kept alive with its copy: its id stays its own
    return _scheduled[key][1]


@contextlib.contextmanager
def loras_applied(pipe, loras: list[tuple[Path, str, float]]):
    """`pipe` with LoRA weights loaded (peft adapters, each at its weight) for the duration, then
    unloaded, so the model is as it was for the next node. Each file is checked first: its bytes must
    be those the node was keyed on (sha256), and a sound safetensors file."""
    if not loras:
        yield pipe
        return
    names, weights = [], []
    try:  # whatever happens (a LoRA that fits the UNet but not a text encoder fails half-loaded), unload
        for path, sha, weight in loras:
            if not path.is_file():
                raise OpError(f"LoRA {path} is gone")
            if _sha256_file(path) != sha:
                raise OpError(f"LoRA {path} changed since the brief was compiled; build again")
            _check_safetensors_header(path)
            name = f"lora_{sha[:16]}"
            if name not in names:
                try:
                    pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
                except (ValueError, KeyError, RuntimeError) as exc:
                    first = (str(exc).splitlines() or [""])[0][:200]
                    raise OpError(f"LoRA {path.name} does not fit this model ({type(exc).__name__}: {first})") from None
                names.append(name)
                weights.append(float(weight))
            else:
                weights[names.index(name)] += float(weight)
        pipe.set_adapters(names, adapter_weights=weights)
        yield pipe
    finally:
        pipe.unload_lora_weights()
