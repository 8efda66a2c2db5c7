"""Areas per class at a threshold, from the store's histogram of winning probabilities.

Area = pixel count × (µm per store pixel)²: a store pixel is `grid.scale` level-0 pixels
wide, so it measures scale × slide µm/px. Without a slide µm/px only pixel counts exist.
"""

from __future__ import annotations

import numpy as np

from server.inference.thresholds import threshold_level


def pixel_area_um2(scale: float, slide_mpp: float | None) -> float | None:
    """Area of one store pixel in µm², None when the slide has no µm/px."""
    return (scale * slide_mpp) ** 2 if slide_mpp else None


def counts_at(histogram: np.ndarray, threshold: float) -> tuple[int, list[int]]:
    """(region pixels, classified pixels per class) at a threshold."""
    level = threshold_level(threshold)
    region = int(histogram[:, 1:].sum())
    per_class = [int(v) for v in histogram[:, level:].sum(axis=1)]
    return region, per_class


def _mm2(pixels: int, area_um2: float | None) -> float | None:
    return None if area_um2 is None else pixels * area_um2 / 1e6


def area_stats(
    histogram: np.ndarray, threshold: float, classes: list[dict], area_um2: float | None
) -> dict:
    """The stats payload: region and unclassified area, and area and fraction per class."""
    region, per_class = counts_at(histogram, threshold)
    return counted_stats(region, per_class, threshold, classes, area_um2)


def counted_stats(
    region: int, per_class: list[int], threshold: float, classes: list[dict], area_um2: float | None
) -> dict:
    """The stats payload from pixel counts: the region's and each class's."""
    unclassified = region - sum(per_class)
    rows = []
    for cls, pixels in zip(classes, per_class, strict=True):
        rows.append(
            {
                "id": cls.get("id"),
                "index": cls["index"],
                "name": cls["name"],
                "color": cls["color"],
                "pixels": pixels,
                "area_mm2": _mm2(pixels, area_um2),
                "fraction": pixels / region if region else 0.0,
            }
        )
    return {
        "threshold": threshold,
        "pixel_area_um2": area_um2,
        "region_pixels": region,
        "region_area_mm2": _mm2(region, area_um2),
        "unclassified_pixels": unclassified,
        "unclassified_area_mm2": _mm2(unclassified, area_um2),
        "unclassified_fraction": unclassified / region if region else 0.0,
        "classes": rows,
    }
