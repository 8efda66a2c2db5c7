"""Memory a training run or an inference job needs, estimated before it starts.

A training step holds the model's weights, gradients and optimizer state (16 bytes per
parameter with Adam: weights, gradient and two moments), and the activations the
backward pass needs: `train_bpp` bytes per input pixel for each architecture and
encoder, plus BYTES_PER_CLASS_PIXEL per pixel and class (logits, softmax and their
gradients). Inference keeps no activations for a backward pass: `infer_bpp`.

The per-pixel figures were measured on a CPU (`measure_training_step`): the peak RSS
of the first step of a real Trainer (augmentation included) at batch 2 with patches of
192² and 384², the slope between the two, rounded up; inference the same way on one
tile of 512² and 1024². Estimates are multiplied by SAFETY, so they err towards
refusing: a run refused here would have risked the out-of-memory killer (CPU) or an
out-of-memory error mid-run (GPU).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30
SAFETY = 1.5
BYTES_PER_CLASS_PIXEL = 24
OPTIMIZER_BYTES_PER_PARAM = 16  # weights, gradient, Adam's two moments (float32)
OVERHEAD = 256 << 20  # allocator slack, worker threads, TensorBoard writer
ASSUMED_CLASSES = 8  # when the classes are not known yet (settings alone)
VALIDATION_BATCHES = 4  # as server.training.trainer: uint8 crops held for validation


@dataclass(frozen=True)
class Profile:
    """Measured memory figures of one architecture and encoder."""

    params: float  # parameters, in millions (2 classes)
    train_bpp: int  # bytes per input pixel held by a training step
    infer_bpp: int  # bytes per input pixel held by a forward pass


PROFILES: dict[tuple[str, str], Profile] = {
    ("unet", "resnet18"): Profile(14.3, 1400, 550),
    ("unet", "resnet34"): Profile(24.4, 1400, 550),
    ("unet", "resnet50"): Profile(32.5, 3000, 550),
    ("unet", "efficientnet-b0"): Profile(6.3, 3200, 650),
    ("unet", "mobilenet_v2"): Profile(6.6, 2800, 550),
    ("unet", "vgg16"): Profile(23.7, 2300, 1000),
    ("deeplabv3plus", "resnet18"): Profile(12.3, 900, 550),
    ("deeplabv3plus", "resnet34"): Profile(22.4, 900, 550),
    ("deeplabv3plus", "resnet50"): Profile(26.7, 2300, 800),
    ("deeplabv3plus", "efficientnet-b0"): Profile(4.9, 3000, 700),
    ("deeplabv3plus", "mobilenet_v2"): Profile(4.4, 2900, 700),
    ("fcn8s", "vgg16"): Profile(20.5, 1900, 1000),
    ("fcn8s", "vgg16_bn"): Profile(20.5, 2900, 1000),
}
UNKNOWN = Profile(35.0, 3200, 1000)  # at least as much as any measured one


def profile(architecture: str, encoder: str) -> Profile:
    """The measured figures of a model (the largest ones for a model not measured)."""
    return PROFILES.get((architecture, encoder), UNKNOWN)


@dataclass(frozen=True)
class Estimate:
    """Bytes a run needs: `device` on the training device, `host` in RAM besides it."""

    device: int
    host: int
    fixed: int  # the part of `device` that does not grow with the batch
    per_item: int  # what one more batch item adds to `device`


def training_estimate(
    settings: dict,
    num_classes: int = ASSUMED_CLASSES,
    cache_bytes: int = 0,
    device_type: str = "cpu",
) -> Estimate:
    """The memory of a run with validated `settings` (see the module doc).

    `cache_bytes`: the sampler's cache of the labelled regions, when known.
    """
    spec = profile(settings["architecture"], settings["encoder"])
    patch, batch = settings["patch_size"], settings["batch_size"]
    crop = crop_side(patch, settings["augmentation"]["scale_jitter"])
    pixel = spec.train_bpp + BYTES_PER_CLASS_PIXEL * num_classes
    per_item = math.ceil(SAFETY * pixel * patch * patch)
    fixed = int(spec.params * 1e6 * OPTIMIZER_BYTES_PER_PARAM) + OVERHEAD
    # uint8 crops (RGB + label) of the batch being drawn and the next, and of validation.
    crops = crop * crop * 4 * (2 + (VALIDATION_BATCHES if _validates(settings) else 0))
    if device_type == "cuda":
        return Estimate(fixed + per_item * batch, cache_bytes + crops * batch, fixed, per_item)
    per_item += crops
    return Estimate(fixed + cache_bytes + per_item * batch, 0, fixed + cache_bytes, per_item)


def cache_bytes(level0_px: float, slide_mpp: float, mpp: float, validation: bool) -> int:
    """The sampler's cache of `level0_px` labelled level-0 pixels (with their context) of a
    slide at `slide_mpp`, held at the training `mpp`: RGB + label (+ a held-out label)."""
    downsample = mpp / slide_mpp
    return math.ceil(level0_px / (downsample * downsample) * (5 if validation else 4))


def _validates(settings: dict) -> bool:
    return settings.get("validation_fraction", 0) > 0


def crop_side(patch: int, scale_jitter: float) -> int:
    """The sampler's crop side (as server.training.augment.crop_size)."""
    return patch if scale_jitter <= 0 else int(math.ceil(patch * (1 + scale_jitter)))


def inference_estimate(
    architecture: str, encoder: str, num_classes: int, batch: int, tile: int
) -> int:
    """Bytes a forward pass of `batch` tiles of `tile`² needs on its device."""
    spec = profile(architecture, encoder)
    pixel = spec.infer_bpp + BYTES_PER_CLASS_PIXEL * num_classes
    weights = int(spec.params * 1e6 * 4)
    return weights + OVERHEAD + math.ceil(SAFETY * pixel * batch * tile * tile)


def available(device_type: str) -> int | None:
    """Bytes this server may still use on the device; None when it cannot be known.

    CUDA: free memory plus what this process's allocator holds (its own jobs run one at
    a time). CPU: the kernel's MemAvailable, or the container's limit when lower.
    """
    if device_type == "cuda":
        import torch

        if not torch.cuda.is_available():
            return None
        free, _ = torch.cuda.mem_get_info()
        return int(free + torch.cuda.memory_reserved())
    return host_available()


def host_available() -> int | None:
    """Available RAM in bytes (MemAvailable, capped by a cgroup v2 limit); None if unknown."""
    found = _meminfo_available()
    limit = _cgroup_room()
    if found is None:
        return limit
    return found if limit is None else min(found, limit)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """The container's memory limit minus what it uses, when there is a limit."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        used = int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def check_training(
    settings: dict,
    device_type: str,
    num_classes: int = ASSUMED_CLASSES,
    cache_bytes: int = 0,
    room: tuple[int | None, int | None] | None = None,
) -> dict[str, str]:
    """{field: message} when the run cannot fit in memory, else {}.

    `room`: (device, host) bytes available, measured now when not given.
    """
    estimate = training_estimate(settings, num_classes, cache_bytes, device_type)
    if room is None:
        room = (available(device_type), host_available() if device_type == "cuda" else None)
    device_room, host_room = room
    where = "GPU memory" if device_type == "cuda" else "memory"
    errors: dict[str, str] = {}
    if device_room is not None and estimate.device > device_room:
        largest = (device_room - estimate.fixed) // estimate.per_item
        advice = (
            f"at most {largest} at patch size {settings['patch_size']}"
            if largest >= 1
            else "1 with a smaller patch size"
        )
        errors["batch_size"] = (
            f"this run needs about {gib(estimate.device)} of {where} and "
            f"{gib(device_room)} is available: use a batch size of {advice}"
        )
        errors["patch_size"] = f"together with the batch size needs more {where} than is available"
    if host_room is not None and estimate.host > host_room:
        errors["mpp"] = (
            f"the labelled regions and batches need about {gib(estimate.host)} of memory and "
            f"{gib(host_room)} is available: train at a coarser resolution or label less area"
        )
    return errors


def gib(n: float) -> str:
    """Bytes as GiB with one decimal, e.g. '3.2 GiB'."""
    return f"{n / GiB:,.1f} GiB"


def measure_training_step(
    architecture: str, encoder: str, patch: int, batch: int, classes: int = 2
) -> dict:
    """Peak RSS growth (bytes) of the first step of a real Trainer, in a fresh process.

    How PROFILES was calibrated (Linux only: it resets the peak through clear_refs).
    Returns {"params", "delta"}.
    """
    code = _MEASURE.format(architecture, encoder, patch, batch, classes)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=900
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


_MEASURE = """
import json
import numpy as np, torch
from server.training import settings as ts
from server.training.sampler import LabelCache, Region
from server.training.trainer import Trainer
arch, enc, patch, batch, classes = {0!r}, {1!r}, {2}, {3}, {4}
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
rng = np.random.default_rng(0)
side = 2 * patch + 64
image = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
label = rng.integers(0, classes, (side, side), dtype=np.uint8)
counts = np.bincount(label.ravel(), minlength=classes).astype(np.int64)
cache = LabelCache([Region(0, (0, 0), image, label)], classes, counts, np.zeros_like(counts))
s = ts.defaults("cpu") | {{"architecture": arch, "encoder": enc, "patch_size": patch,
                           "batch_size": batch}}
names = [{{"id": i + 1, "name": f"c{{i}}", "color": "#808080"}} for i in range(classes)]
trainer = Trainer(s, names, cache, torch.device("cpu"), None)
params = sum(p.numel() for p in trainer.model.parameters())
before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
trainer.step()
print(json.dumps({{"params": params, "delta": status("VmHWM") - before}}))
"""
