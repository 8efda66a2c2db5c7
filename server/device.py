"""Where models run: device choice, mixed precision on CUDA, memory layout.

Training and inference both go through these helpers so that the GPU path (AMP,
channels_last) is the same code that the CPU tests exercise, only with switches on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)


def select_device(pref: str = "auto") -> torch.device:
    """The torch device for a preference: "auto" (CUDA when present), "cpu", "cuda", "cuda:N".

    A CUDA preference on a machine without CUDA falls back to the CPU with a warning,
    so a config written on a GPU workstation still starts on a laptop.
    """
    pref = (pref or "auto").strip().lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(pref)  # raises RuntimeError for nonsense such as "gpu"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            log.warning("device %s requested but CUDA is not available; using the CPU", pref)
            return torch.device("cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{pref}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif device.type != "cpu":
        raise ValueError(f"unsupported device {pref!r}: use auto, cpu, cuda or cuda:N")
    return device


@functools.cache
def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype on this device: bfloat16 (or float16 on older GPUs) on CUDA, else None."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Mixed precision for the forward pass on CUDA; a no-op on the CPU or when disabled."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        yield
        return
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """A loss scaler, active only for float16 autocast (bfloat16 needs none)."""
    active = enabled and amp_dtype(device) == torch.float16
    return torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=active)


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (tensor cores like NHWC), the default layout elsewhere."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def prepare_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a model to `device` in that device's preferred layout; mode (train/eval) untouched."""
    return model.to(device).to(memory_format=memory_format(device))


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move an NCHW batch to `device` in the layout `prepare_model` chose."""
    batch = batch.to(device, non_blocking=True)
    return batch.contiguous(memory_format=memory_format(device)) if batch.dim() == 4 else batch


def describe(device: torch.device) -> str:
    """A human name for the device, e.g. "cpu" or "cuda:0 (NVIDIA H100)"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"
