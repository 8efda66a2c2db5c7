"""The probability threshold: what the slider means, on uint8 probabilities.

A pixel gets the class with the highest probability only if that probability is at least
the threshold; otherwise it is unclassified. Probabilities are stored as round(p × 255),
so the threshold is compared at the same 1/255 precision: T becomes the smallest stored
value q with q / 255 ≥ T. A stored 0 means "outside the region", never a prediction, so
even T = 0 never classifies it. Ties go to the lower class index.
"""

from __future__ import annotations

import math

import numpy as np


def parse_threshold(value: str | float | None) -> float:
    """A threshold in [0, 1] from a query value (default 0); ValueError with a message."""
    if value is None or value == "":
        return 0.0
    try:
        threshold = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"threshold must be a number between 0 and 1, not {value!r}") from exc
    if not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (got {value})")
    return threshold


def threshold_level(threshold: float) -> int:
    """The smallest stored probability (0..255) that reaches `threshold`, at least 1."""
    return max(1, min(255, math.ceil(threshold * 255 - 1e-6)))


def classify(best: np.ndarray, conf: np.ndarray, threshold: float) -> np.ndarray:
    """Labels: 0 unclassified/outside, i + 1 for class i, from argmax and max probability."""
    level = threshold_level(threshold)
    return np.where(conf >= level, best.astype(np.uint8) + 1, 0).astype(np.uint8)


def labels_of(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Labels of (C, h, w) uint8 probabilities at a threshold."""
    best = probs.argmax(axis=0)
    conf = probs.max(axis=0)
    return classify(best, conf, threshold)
