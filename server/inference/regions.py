"""What an inference covers: the whole slide, its tissue, a drawn ROI or a bounding box.

A region is a level-0 rectangle plus, for tissue and ROIs, a mask saying which of its
pixels count. Tissue is found on a thumbnail (saturated or darker-than-glass pixels), so
finding it costs one small read however large the slide is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from server.errors import UserError
from server.inference.tiler import Grid, Tile
from server.slides.raster import RingEdges

TISSUE_THUMBNAIL = 1024  # longer side of the thumbnail tissue is detected on
KINDS = ("tissue", "whole")


class RegionError(UserError):
    """A region request that cannot be applied (the message says why)."""


class RegionMask(Protocol):
    """Which store pixels of a window belong to the region."""

    def window(self, grid: Grid, x: int, y: int, w: int, h: int) -> np.ndarray | None:
        """Bool (h, w) for the window at store (x, y); None when every pixel belongs."""


@dataclass
class RegionSpec:
    """A parsed region request."""

    kind: str  # "tissue", "whole", "bbox" or "roi"
    bbox: tuple[float, float, float, float] | None = None
    roi_id: Any = None

    def as_json(self) -> Any:
        """The form the API accepts and echoes."""
        if self.kind == "bbox":
            return {"bbox": list(self.bbox or ())}
        if self.kind == "roi":
            return {"roi_id": self.roi_id}
        return self.kind


def parse_region(value: Any) -> RegionSpec:
    """Parse "tissue" | "whole" | {"bbox": [x, y, w, h]} | {"roi_id": id}; RegionError if bad."""
    if value is None:
        return RegionSpec("tissue")
    if isinstance(value, str):
        if value in KINDS:
            return RegionSpec(value)
        raise RegionError(f"Unknown region {value!r}: use tissue, whole, a bbox or an roi_id")
    if isinstance(value, dict) and "bbox" in value:
        box = value["bbox"]
        if not (isinstance(box, list | tuple) and len(box) == 4):
            raise RegionError("bbox must be [x, y, width, height] in level-0 pixels")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            raise RegionError("bbox must hold four numbers")
        try:
            x, y, w, h = (float(v) for v in box)
        except OverflowError as exc:  # an integer beyond what a float holds
            raise RegionError("bbox numbers must be finite") from exc
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            raise RegionError("bbox numbers must be finite")
        if w <= 0 or h <= 0:
            raise RegionError("bbox width and height must be positive numbers")
        return RegionSpec("bbox", bbox=(x, y, w, h))
    if isinstance(value, dict) and "roi_id" in value:
        if value["roi_id"] in (None, ""):
            raise RegionError("roi_id is empty")
        return RegionSpec("roi", roi_id=value["roi_id"])
    raise RegionError("region must be tissue, whole, {bbox: [x, y, w, h]} or {roi_id: id}")


@dataclass
class Region:
    """A level-0 rectangle (x, y, w, h) and an optional mask of the pixels that count."""

    x: float
    y: float
    w: float
    h: float
    mask: RegionMask | None = None
    warnings: list[str] = field(default_factory=list)


def clip_bbox(spec: RegionSpec, width: int, height: int) -> RegionSpec:
    """A bbox region clipped to the slide (0, 0, width, height); other kinds as they are.

    RegionError (with the slide's size) when the box does not overlap the slide by at
    least one pixel each way, so such a request is refused when it is made.
    """
    if spec.kind != "bbox" or spec.bbox is None:
        return spec
    try:
        rect = clip_rect(spec.bbox, (0.0, 0.0, float(width), float(height)))
    except RegionError as exc:
        x, y, w, h = (f"{v:g}" for v in spec.bbox)
        raise RegionError(
            f"The box [{x}, {y}, {w}, {h}] lies outside the slide ({width} × {height} px)"
        ) from exc
    return RegionSpec("bbox", bbox=rect)


def clip_rect(
    rect: tuple[float, float, float, float], bounds: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """The intersection of two (x, y, w, h) rectangles; RegionError when empty."""
    x0 = max(rect[0], bounds[0])
    y0 = max(rect[1], bounds[1])
    x1 = min(rect[0] + rect[2], bounds[0] + bounds[2])
    y1 = min(rect[1] + rect[3], bounds[1] + bounds[3])
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise RegionError("The region lies outside the slide")
    return x0, y0, x1 - x0, y1 - y0


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mean0 = m0 / np.maximum(w0, 1)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(centers[int(np.argmax(between))])


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def detect_tissue(rgb: np.ndarray) -> np.ndarray:
    """Bool mask of tissue on an RGB thumbnail: stained (saturated) or darker than glass.

    Glass is bright and grey; near-black is scanner fill, not tissue. The saturation cut is
    Otsu's, kept within [0.04, 0.15] so a slide that is all tissue is not split in two.
    """
    rgb = rgb[..., :3].astype(np.int16)
    brightest = rgb.max(axis=-1)
    saturation = (brightest - rgb.min(axis=-1)) / np.maximum(brightest, 1)
    cut = min(max(otsu(saturation), 0.04), 0.15)
    tissue = ((saturation > cut) | (brightest < 200)) & (brightest > 25)
    return _dilate(tissue, 2)


@dataclass
class TissueMask:
    """A thumbnail tissue mask; `scale` is level-0 pixels per mask pixel (x, y)."""

    mask: np.ndarray
    scale: tuple[float, float]

    def window(self, grid: Grid, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Nearest-neighbour lookup of each store pixel's centre in the thumbnail mask."""
        cols = ((grid.x0 + (np.arange(x, x + w) + 0.5) * grid.scale) / self.scale[0]).astype(int)
        rows = ((grid.y0 + (np.arange(y, y + h) + 0.5) * grid.scale) / self.scale[1]).astype(int)
        mh, mw = self.mask.shape
        inside_c = (cols >= 0) & (cols < mw)
        inside_r = (rows >= 0) & (rows < mh)
        out = self.mask[np.clip(rows, 0, mh - 1)][:, np.clip(cols, 0, mw - 1)]
        return out & inside_r[:, None] & inside_c[None, :]

    def bbox(self) -> tuple[float, float, float, float] | None:
        """Level-0 bounding box of the tissue, or None when there is none."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        if rows.size == 0:
            return None
        sx, sy = self.scale
        return (
            cols[0] * sx,
            rows[0] * sy,
            (cols[-1] + 1 - cols[0]) * sx,
            (rows[-1] + 1 - rows[0]) * sy,
        )


@dataclass
class PolygonMask:
    """A (multi)polygon in level-0 pixels, rasterised per window at pixel centres."""

    geometry: Any  # shapely geometry
    _edges: tuple[Grid, RingEdges] | None = field(default=None, repr=False, compare=False)

    def window(self, grid: Grid, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Bool (h, w): store pixels whose centre lies inside the polygon (the same pixels
        `raster.polygon_mask` marks on the whole grid, whatever the window)."""
        if self._edges is None or self._edges[0] != grid:
            self._edges = (grid, RingEdges.of(self.geometry, (grid.x0, grid.y0), grid.scale))
        return self._edges[1].fill((h, w), top=y, left=x)


def tile_in_region(mask: RegionMask | None, grid: Grid, tile: Tile) -> bool:
    """Whether any pixel of the tile's core belongs to the region."""
    if mask is None:
        return True
    window = mask.window(grid, tile.x, tile.y, tile.w, tile.h)
    return window is None or bool(window.any())


def tissue_mask(thumbnail: Image.Image, level0_size: tuple[int, int]) -> TissueMask:
    """The TissueMask of a slide from its thumbnail."""
    rgb = np.asarray(thumbnail.convert("RGB"))
    mask = detect_tissue(rgb)
    scale = (level0_size[0] / mask.shape[1], level0_size[1] / mask.shape[0])
    return TissueMask(mask, scale)
