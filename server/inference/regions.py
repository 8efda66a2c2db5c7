"""What an inference covers: the whole slide, its tissue, a drawn ROI or a bounding box.

A region is a level-0 rectangle plus, for tissue and ROIs, a mask saying which of its
pixels count. Tissue is found on a thumbnail (saturated or darker-than-glass pixels), so
finding it costs one small read however large the slide is; a sensitivity (0–1, 0.5 the
default) moves both cuts, so faint or thin tissue can be taken in or left out.
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
DEFAULT_SENSITIVITY = 0.5  # the tissue detection's default: its cuts as they always were
TISSUE_RGBA = (0, 229, 255, 120)  # the tissue overlay's colour: cyan, unlike any stain


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
    sensitivity: float = DEFAULT_SENSITIVITY  # tissue only

    def as_json(self) -> Any:
        """The form the API accepts and echoes."""
        if self.kind == "bbox":
            return {"bbox": list(self.bbox or ())}
        if self.kind == "roi":
            return {"roi_id": self.roi_id}
        if self.kind == "tissue" and self.sensitivity != DEFAULT_SENSITIVITY:
            return {"tissue": {"sensitivity": self.sensitivity}}
        return self.kind


def parse_sensitivity(value: Any) -> float:
    """A tissue sensitivity: a number from 0 (only clear tissue) to 1 (faint strands too)."""
    if value is None:
        return DEFAULT_SENSITIVITY
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError as exc:
            raise RegionError("sensitivity must be a number from 0 to 1") from exc
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RegionError("sensitivity must be a number from 0 to 1")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise RegionError(
            "sensitivity must be from 0 to 1",
            hint="0.5 is the default; higher takes in fainter tissue",
        )
    return float(value)


def parse_region(value: Any) -> RegionSpec:
    """Parse "tissue" | "whole" | {"tissue": {"sensitivity": s}} | {"bbox": [x, y, w, h]} |
    {"roi_id": id}; RegionError if bad."""
    if value is None:
        return RegionSpec("tissue")
    if isinstance(value, dict) and "tissue" in value:
        options = value["tissue"]
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise RegionError('tissue options must be an object, e.g. {"sensitivity": 0.7}')
        unknown = set(options) - {"sensitivity"}
        if unknown:
            raise RegionError(f"Unknown tissue option {sorted(unknown)[0]!r}: use sensitivity")
        return RegionSpec("tissue", sensitivity=parse_sensitivity(options.get("sensitivity")))
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
    raise RegionError(
        "region must be tissue, whole, {tissue: {sensitivity}}, {bbox: [x, y, w, h]} or "
        "{roi_id: id}"
    )


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


def _neighbours(mask: np.ndarray) -> np.ndarray:
    """How many of each pixel's 3 × 3 neighbourhood (itself included) are set."""
    padded = np.pad(mask.astype(np.int8), 1)
    h, w = mask.shape
    count = np.zeros((h, w), dtype=np.int8)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            count += padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
    return count


def tissue_cuts(rgb: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> tuple[float, float]:
    """The (saturation, brightness) cuts of `detect_tissue` for a thumbnail and sensitivity.

    At 0.5 the saturation cut is Otsu's, kept within [0.04, 0.15], and the brightness cut
    200. Higher sensitivity divides the saturation cut by up to 5 and raises the brightness
    cut towards the glass's own brightness (its 2nd percentile, less 2), so pale strands
    just darker than glass count; lower multiplies it by up to 5 and lowers the brightness
    cut to 120.
    """
    rgb = rgb[..., :3].astype(np.int16)
    brightest = rgb.max(axis=-1)
    saturation = (brightest - rgb.min(axis=-1)) / np.maximum(brightest, 1)
    base = min(max(otsu(saturation), 0.04), 0.15)
    if sensitivity == DEFAULT_SENSITIVITY:
        return base, 200.0
    cut = min(max(base * 5 ** ((DEFAULT_SENSITIVITY - sensitivity) * 2), 0.01), 0.9)
    if sensitivity < DEFAULT_SENSITIVITY:
        return cut, 200.0 - (DEFAULT_SENSITIVITY - sensitivity) * 2 * 80
    glassy = (saturation < 0.03) & (brightest > 180)
    glass = float(np.percentile(brightest[glassy], 2)) if glassy.sum() > 100 else 230.0
    top = max(glass - 2, 200.0)
    return cut, 200.0 + (sensitivity - DEFAULT_SENSITIVITY) * 2 * (top - 200.0)


def detect_tissue(rgb: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
    """Bool mask of tissue on an RGB thumbnail: stained (saturated) or darker than glass.

    Glass is bright and grey; near-black is scanner fill, not tissue. `sensitivity` (0–1)
    moves both cuts (see `tissue_cuts`); above the default, lone pixels (glass noise) with
    fewer than two set neighbours are dropped before the mask is grown by 2 pixels.
    """
    cut, bright = tissue_cuts(rgb, sensitivity)
    rgb = rgb[..., :3].astype(np.int16)
    brightest = rgb.max(axis=-1)
    saturation = (brightest - rgb.min(axis=-1)) / np.maximum(brightest, 1)
    tissue = ((saturation > cut) | (brightest < bright)) & (brightest > 25)
    if sensitivity > DEFAULT_SENSITIVITY:
        tissue &= _neighbours(tissue) >= 3
    return _dilate(tissue, 2)


def tissue_overlay(
    thumbnail: Image.Image, sensitivity: float = DEFAULT_SENSITIVITY
) -> tuple[Image.Image, float]:
    """The tissue found on a thumbnail as an RGBA image of its size (tissue in TISSUE_RGBA,
    the rest transparent), and the fraction of the thumbnail that is tissue."""
    mask = detect_tissue(np.asarray(thumbnail.convert("RGB")), sensitivity)
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[mask] = TISSUE_RGBA
    return Image.fromarray(rgba, "RGBA"), float(mask.mean())


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


def tissue_mask(
    thumbnail: Image.Image,
    level0_size: tuple[int, int],
    sensitivity: float = DEFAULT_SENSITIVITY,
) -> TissueMask:
    """The TissueMask of a slide from its thumbnail, at a detection sensitivity (0–1)."""
    rgb = np.asarray(thumbnail.convert("RGB"))
    mask = detect_tissue(rgb, sensitivity)
    scale = (level0_size[0] / mask.shape[1], level0_size[1] / mask.shape[0])
    return TissueMask(mask, scale)
