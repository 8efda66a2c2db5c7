"""Losses on labelled pixels only (IGNORE elsewhere), and class weights.

Cross-entropy is torch's; Dice and focal come from segmentation-models-pytorch. Class
weights apply to cross-entropy (the term that takes per-class weights).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

from server.training.sampler import IGNORE

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_loss(name: str, weights: torch.Tensor | None = None) -> LossFn:
    """The loss for a settings name: cross_entropy, dice, focal or cross_entropy_dice."""
    dice = smp.losses.DiceLoss("multiclass", from_logits=True, ignore_index=IGNORE)
    focal = smp.losses.FocalLoss("multiclass", ignore_index=IGNORE)

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # The mean over labelled pixels, written out so that a batch without any is 0, not NaN.
        w = weights.to(logits.device) if weights is not None else None
        logits = logits.float()
        total = F.cross_entropy(logits, target, weight=w, ignore_index=IGNORE, reduction="sum")
        labelled = target != IGNORE
        per_pixel = labelled.float() if w is None else w[target.clamp(max=len(w) - 1)] * labelled
        count = per_pixel.sum()
        return total / count.clamp(min=1e-6)

    losses: dict[str, LossFn] = {
        "cross_entropy": cross_entropy,
        "dice": lambda logits, target: dice(logits.float(), target),
        "focal": lambda logits, target: focal(logits.float(), target),
        "cross_entropy_dice": lambda logits, target: (
            cross_entropy(logits, target) + dice(logits.float(), target)
        ),
    }
    return losses[name]


def class_weights(
    mode: str, pixels: np.ndarray, manual: list[float] | None = None
) -> torch.Tensor | None:
    """Per-class weights: None, inverse pixel frequency (mean 1), or the manual ones."""
    if mode == "auto":
        counts = np.maximum(pixels.astype(np.float64), 1.0)
        inverse = np.where(pixels > 0, 1.0 / counts, 0.0)
        present = inverse[pixels > 0]
        return torch.tensor(inverse / present.mean(), dtype=torch.float32)
    if mode == "manual" and manual is not None:
        return torch.tensor(manual, dtype=torch.float32)
    return None


def error_rate(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(wrong, labelled) pixel counts as tensors (no device sync here)."""
    labelled = target != IGNORE
    wrong = (logits.argmax(1) != target) & labelled
    return wrong.sum(), labelled.sum()
