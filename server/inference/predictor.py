"""Batched forward pass: uint8 RGB tiles in, uint8 class probabilities of the cores out.

Normalisation, softmax, the margin crop and quantisation to uint8 all happen on the
device, so only a quarter of the float output crosses back to the host. On CUDA the
batch goes in channels_last under autocast (see server.device).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from server.device import autocast, prepare_model, to_device


class Predictor:
    """Wraps a segmentation model for inference on one device."""

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        mean: Sequence[float],
        std: Sequence[float],
        amp: bool = True,
    ) -> None:
        self.device = device
        self.model = prepare_model(model, device).eval()
        self.amp = amp
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255

    @classmethod
    def for_app(
        cls, model: torch.nn.Module, config: dict, device: torch.device, amp: bool = True
    ) -> Predictor:
        """A predictor using the app's normalisation."""
        norm = config.get("normalization") or {}
        mean = norm.get("mean", (0.485, 0.456, 0.406))
        std = norm.get("std", (0.229, 0.224, 0.225))
        return cls(model, device, mean, std, amp)

    def logits(self, batch: np.ndarray) -> torch.Tensor:
        """Float32 logits (N, C, S, S) of an (N, S, S, 3) uint8 batch."""
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
