"""Batched forward pass: uint8 RGB tiles in, uint8 class probabilities of the cores out.

Normalisation, softmax, the margin crop, quantisation to uint8, the region mask, the
histogram of winning probabilities and the downsampled pyramid levels all happen on the
device, so the host threads only compress and write, and only uint8 crosses back. On
CUDA the batch goes in channels_last under autocast (see server.device).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from server.device import autocast, prepare_model, to_device
from server.inference.reader import ContextLayout
from server.models import context_scale


class Predictor:
    """Wraps a segmentation model for inference on one device."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        mean: Sequence[float],
        std: Sequence[float],
        amp: bool = True,
        context: tuple[int, int] | None = None,
    ) -> None:
        """`context`: (factor, patch) of an app with a context view (see ContextLayout)."""
        self.device = device
        self.model = prepare_model(model, device).eval()
        self.amp = amp
        self.context = context
        views = 2 if context else 1  # the patch's RGB, then its context view's
        self.mean = torch.tensor(mean, device=device).repeat(views).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).repeat(views).view(1, -1, 1, 1) * 255

    @classmethod
    def for_app(
        cls, model: torch.nn.Module, config: dict, device: torch.device, amp: bool = True
    ) -> Predictor:
        """A predictor using the app's normalisation."""
        norm = config.get("normalization") or {}
        mean = norm.get("mean", (0.485, 0.456, 0.406))
        std = norm.get("std", (0.229, 0.224, 0.225))
        factor = context_scale(config)
        context = (factor, int(config["patch_size"])) if factor else None
        return cls(model, device, mean, std, amp, context)

    def layout(self, core: int) -> ContextLayout | None:
        """How a tile of `core` pixels is read for this app (None: one window per tile)."""
        if self.context is None:
            return None
        return ContextLayout(self.context[0], self.context[1], core)

    def logits(self, batch: np.ndarray) -> torch.Tensor:
        """Float32 logits (N, C, S, S) of an (N, S, S, 3) uint8 batch ((N, S, S, 6) with
        a context view)."""
        pixels = torch.from_numpy(batch if batch.flags.writeable else batch.copy())
        if self.device.type == "cuda":
            pixels = pixels.pin_memory()
        x = to_device(pixels.permute(0, 3, 1, 2), self.device).float()
        x = (x - self.mean) / self.std
        with torch.inference_mode(), autocast(self.device, self.amp):
            return self.model(x).float()

    def __call__(self, batch: np.ndarray, margin: int) -> np.ndarray:
        """uint8 probabilities (N, C, core, core), round(p × 255), of the tiles' cores."""
        with torch.inference_mode():
            probs = torch.softmax(self.logits(batch), dim=1)
            size = probs.shape[-1]
            core = probs[:, :, margin : size - margin, margin : size - margin]
            return (core * 255).round_().to(torch.uint8).cpu().numpy()

    def submit_levels(
        self,
        batch: np.ndarray,
        offsets: np.ndarray,
        core: int,
        valid: np.ndarray | None,
        levels: int,
    ) -> Pending:
        """Start predicting a batch and return at once; `result()` gives, per level k, uint8
        probabilities (N, C, core / 2**k, same) of the cores — the `core`-sided squares at
        `offsets` (N, 2: x, y) in each window, zero past the window and where `valid`
        (N, core, core) is False — and the (C, 256) histogram of (class, probability) of
        the winners over valid pixels. Levels halve like probstore.downsample does. On CUDA
        the device works while the caller prepares the next batch; `result()` waits for the
        copies."""
        with torch.inference_mode():
            if batch.ndim == 5:  # windows with context views (ContextLayout)
                probs = self._assemble(batch, core)
            else:
                probs = crop_cores(torch.softmax(self.logits(batch), dim=1), offsets, core)
            quantised = (probs * 255).round_().to(torch.uint8)
            if valid is not None:
                mask = torch.from_numpy(valid).to(self.device, non_blocking=True)
                quantised *= mask[:, None]
            best = quantised.argmax(dim=1)
            conf = quantised.amax(dim=1).long()
            classes = quantised.shape[1]
            # scatter_add, unlike bincount, needs no device-to-host sync to size its output.
            bins = (best * 256 + conf).flatten()
            histogram = torch.zeros(classes * 256, dtype=torch.int64, device=self.device)
            histogram.scatter_add_(0, bins, torch.ones_like(bins))
            out = [quantised]
            for _ in range(1, levels):
                out.append(_halve(out[-1]))
            return Pending(out, histogram.view(classes, 256), self.device)

    def _assemble(self, batch: np.ndarray, core: int) -> torch.Tensor:
        """(N, C, core, core) probabilities of tiles read as windows with context views
        (N, windows, P, P, 6): each window's kept square put in its place."""
        layout = self.layout(core)
        assert layout is not None
        n, windows = batch.shape[:2]
        probs = torch.softmax(self.logits(batch.reshape(n * windows, *batch.shape[2:])), dim=1)
        probs = probs.view(n, windows, *probs.shape[1:])
        out = probs.new_zeros((n, probs.shape[2], core, core))
        m, kept, starts = layout.margin, layout.kept, layout.starts
        for i, (sy, sx) in enumerate((sy, sx) for sy in starts for sx in starts):
            h, w = min(kept, core - sy), min(kept, core - sx)
            out[:, :, sy : sy + h, sx : sx + w] = probs[:, i, :, m : m + h, m : m + w]
        return out


def crop_cores(probs: torch.Tensor, offsets: np.ndarray, core: int) -> torch.Tensor:
    """(N, C, core, core) squares of (N, C, S, S) at per-window (x, y) offsets, zero-filled
    where a square reaches past its window (a short tile at the end of the region)."""
    size = probs.shape[-1]
    if (offsets == offsets[0]).all() and offsets[0].max() + core <= size:
        x, y = (int(v) for v in offsets[0])
        return probs[:, :, y : y + core, x : x + core]
    out = probs.new_zeros((*probs.shape[:2], core, core))
    for i, (x, y) in enumerate(offsets.tolist()):
        part = probs[i, :, y : y + core, x : x + core]
        out[i, :, : part.shape[1], : part.shape[2]] = part
    return out


class Pending:
    """Device results on their way to the host (non-blocking copies into pinned memory)."""

    def __init__(self, levels: list[torch.Tensor], histogram: torch.Tensor, device) -> None:
        cuda = device.type == "cuda"
        self._levels = [t.to("cpu", non_blocking=cuda) for t in levels]
        self._histogram = histogram.to("cpu", non_blocking=cuda)
        self._event = None
        if cuda:
            self._event = torch.cuda.Event()
            self._event.record()

    def result(self) -> tuple[list[np.ndarray], np.ndarray]:
        """(levels, histogram) as numpy, once the copies have landed."""
        if self._event is not None:
            self._event.synchronize()
        return [t.numpy() for t in self._levels], self._histogram.numpy()


def _halve(probs: torch.Tensor) -> torch.Tensor:
    """Mean over the predicted pixels of each 2×2 block, rounded half up (exact integers)."""
    values = probs.float()
    valid = (probs.amax(dim=1, keepdim=True) > 0).float()
    sums = F.avg_pool2d(values, 2) * 4
    counts = F.avg_pool2d(valid, 2) * 4
    halved = torch.div(
        sums + torch.div(counts, 2, rounding_mode="floor"),
        counts.clamp(min=1),
        rounding_mode="floor",
    )
    return halved.to(torch.uint8)
