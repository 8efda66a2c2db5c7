"""Uncertainty of a prediction: the normalised entropy of its class probabilities.

u = H(p) / log(C), 0 (one class certain) .. 1 (all classes equally likely), computed from
the stored uint8 probabilities (renormalised, since rounding leaves their sum near 255)
and kept as round(u × 255). A pixel outside the region (all probabilities 0) gets 0.
The colour map runs from transparent through yellow to red, so certain pixels and the
outside both leave the slide visible. Pure numpy: runs in the store's writer threads.
"""

from __future__ import annotations

import functools

import numpy as np

# (r, g, b, alpha) stops from u = 0 to u = 1, evenly spaced (a YlOrRd ramp, fading in).
ANCHORS = np.array(
    [
        [255, 255, 178, 0],
        [254, 204, 92, 110],
        [253, 141, 60, 175],
        [240, 59, 32, 215],
        [189, 0, 38, 240],
    ],
    dtype=np.float64,
)
HIGH = 128  # stored value of u = 0.5: "high" uncertainty is u ≥ 0.5

_Q = np.arange(256, dtype=np.float64)
_QLOGQ = (_Q * np.log(np.maximum(_Q, 1))).astype(np.float32)  # q log q, 0 for q = 0


@functools.cache
def _sum_luts(classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sum S of a pixel's stored probabilities (0 .. 255·C): 255·log(S)/log(C) and
    255/(S·log(C)), so that u × 255 = first[S] − Σ q log q × second[S] (0 where S = 0)."""
    total = np.arange(255 * classes + 1, dtype=np.float64)
    scale = 255 / np.log(classes)
    safe = np.maximum(total, 1)
    first = np.where(total > 0, np.log(safe) * scale, 0.0)
    second = np.where(total > 0, scale / safe, 0.0)
    return first.astype(np.float32), second.astype(np.float32)


def entropy_u8(probs: np.ndarray) -> np.ndarray:
    """uint8 (h, w) normalised entropy of (C, h, w) uint8 probabilities; 0 where all are 0.

    With S = Σ q: H = −Σ (q/S) log(q/S) = log S − Σ q log q / S; lookup tables make it a
    few gathers per pixel (it runs for every tile written).
    """
    c = probs.shape[0]
    if c < 2:
        return np.zeros(probs.shape[1:], dtype=np.uint8)
    total = probs.sum(axis=0, dtype=np.uint16)
    weighted = _QLOGQ[probs[0]]
    for plane in probs[1:]:
        weighted += _QLOGQ[plane]
    first, second = _sum_luts(c)
    u = first[total] - weighted * second[total]
    np.clip(u, 0, 255, out=u)
    u += 0.5
    return u.astype(np.uint8)


def histogram(u: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(256,) counts of the uncertainty values of the `valid` pixels."""
    return np.bincount(u[valid].ravel(), minlength=256).astype(np.int64)


def summary(counts: np.ndarray) -> dict[str, float]:
    """{mean, p90, high_fraction} (u in 0..1) of a (256,) histogram of region pixels."""
    total = int(counts.sum())
    if total == 0:
        return {"mean": 0.0, "p90": 0.0, "high_fraction": 0.0}
    values = np.arange(256)
    cumulative = np.cumsum(counts)
    p90 = int(np.searchsorted(cumulative, 0.9 * total))
    return {
        "mean": float((counts * values).sum() / total / 255),
        "p90": p90 / 255,
        "high_fraction": float(counts[HIGH:].sum() / total),
    }


def colour_lut() -> np.ndarray:
    """(256, 4) RGBA colour map of stored uncertainty values (alpha 0 is all zeros)."""
    stops = np.linspace(0, 255, len(ANCHORS))
    x = np.arange(256)
    rgba = np.stack([np.interp(x, stops, ANCHORS[:, i]) for i in range(4)], axis=1)
    lut = np.rint(rgba).astype(np.uint8)
    lut[lut[:, 3] == 0] = 0
    return lut


def colour_stops() -> list[str]:
    """The colour map's stops from u = 0 to 1 as "#rrggbb" (for the UI's colour bar)."""
    return ["#{:02x}{:02x}{:02x}".format(*(int(v) for v in row[:3])) for row in ANCHORS]


LUT = colour_lut()
