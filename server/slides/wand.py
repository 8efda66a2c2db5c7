"""The magic wand: the connected area of similar colour around a click, as one polygon.

The slide is read around the click on the grid of the viewer's zoom (`downsample` level-0
pixels per screen pixel) within a window of at most WINDOW × WINDOW grid pixels, converted
to CIE Lab and lightly smoothed (3 × 3 box, so JPEG noise does not cut a region into
specks). Pixels whose Lab distance (ΔE*76) to the click's colour is at most `tolerance`
form a mask; the 4-connected part of it that holds the click is traced along pixel edges
(rasterio/GDAL), its holes are filled, and its outline is simplified to about one grid
pixel (one screen pixel at that zoom) and returned in level-0 pixels.

Blocking: run `magic_wand` inside `compute` (OpenSlide, NumPy and GDAL do the work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import openslide
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Point, Polygon

from server.errors import UserError
from server.slides.raster import read_box

WINDOW = 1024  # grid pixels a side, at most
DEFAULT_TOLERANCE = 20.0
MAX_TOLERANCE = 100.0
MIN_DOWNSAMPLE = 0.25  # finer than 4 grid pixels per level-0 pixel adds nothing
MAX_DOWNSAMPLE = 4096.0
SIMPLIFY_PX = 1.0  # outline simplification, in grid (screen) pixels

# sRGB (D65) to XYZ, and the D65 white point.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])

# The last window's smoothed Lab pixels: moving the tolerance re-uses them (one entry).
_last_window: tuple[tuple, np.ndarray] | None = None


@dataclass(frozen=True)
class WandResult:
    """The outline (one ring, level-0 pixels, not repeated at the end) and its area."""

    polygon: list[list[float]]
    area_px: float

    def as_dict(self) -> dict:
        """The JSON answer: `{polygon, area_px}`."""
        return {"polygon": self.polygon, "area_px": self.area_px}


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of uint8 sRGB pixels (..., 3), as float32 (..., 3)."""
    c = rgb.astype(np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T.astype(np.float32) / _WHITE.astype(np.float32)
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def box_blur3(image: np.ndarray) -> np.ndarray:
    """The 3 × 3 mean of each pixel of an (h, w, c) image, edges repeated."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    total = np.zeros(image.shape, np.float32)
    for dy in range(3):
        for dx in range(3):
            total += padded[dy : dy + h, dx : dx + w]
    return total / 9


def check_params(
    x: float, y: float, downsample: float, tolerance: float, size: tuple[int, int]
) -> None:
    """Refuse a click outside the slide, a zoom or a tolerance out of range (UserError)."""
    values = {"x": x, "y": y, "downsample": downsample, "tolerance": tolerance}
    for name, value in values.items():
        if not math.isfinite(value):
            raise UserError(f"{name} must be a finite number", field=name)
    if not (0 <= x < size[0] and 0 <= y < size[1]):
        raise UserError(
            "The click is outside the slide",
            hint=f"x and y lie within the slide's {size[0]} × {size[1]} pixels",
            field="x",
        )
    if not 0 < downsample <= MAX_DOWNSAMPLE:
        raise UserError(
            f"downsample must be > 0 and at most {MAX_DOWNSAMPLE:g}", field="downsample"
        )
    if not 0 <= tolerance <= MAX_TOLERANCE:
        raise UserError(f"tolerance must be between 0 and {MAX_TOLERANCE:g}", field="tolerance")


def window_origin(click: float, extent: float, scale: float) -> tuple[float, int]:
    """(level-0 start, grid pixels) of the window along one axis: WINDOW grid pixels centred
    on the click, moved inside the slide's `extent` and no larger than it."""
    count = max(1, min(WINDOW, math.ceil(extent / scale)))
    span = count * scale
    start = min(max(click - span / 2, 0.0), max(extent - span, 0.0))
    return start, count


def region_mask(lab: np.ndarray, row: int, col: int, tolerance: float) -> np.ndarray:
    """The pixels whose Lab distance to pixel (row, col) is at most `tolerance`."""
    seed = lab[row, col]
    distance = np.sqrt(((lab - seed) ** 2).sum(axis=-1))
    return distance <= tolerance + 1e-4


def connected_outline(mask: np.ndarray, row: int, col: int) -> Polygon:
    """The outer ring (holes filled) of the 4-connected part of `mask` holding (row, col),
    in grid pixels (pixel edges)."""
    target = (col + 0.5, row + 0.5)
    shapes = features.shapes(
        mask.astype(np.uint8), mask=mask, connectivity=4, transform=Affine.identity()
    )
    probe = Point(target)
    for geojson, _value in shapes:
        ring = np.asarray(geojson["coordinates"][0])
        lo, hi = ring.min(axis=0), ring.max(axis=0)
        if not (lo[0] < target[0] < hi[0] and lo[1] < target[1] < hi[1]):
            continue  # most parts are specks far from the click: skip them cheaply
        outline = Polygon(ring)
        if outline.contains(probe):
            return outline
    # The seed's own pixel is always in the mask; this is only reached through rounding.
    c, r = col, row
    return Polygon([(c, r), (c + 1, r), (c + 1, r + 1), (c, r + 1)])


def _window_lab(
    slide: openslide.OpenSlide, x0: float, y0: float, scale: float, cols: int, rows: int
) -> np.ndarray:
    global _last_window
    key = (id(slide), slide.dimensions, x0, y0, scale, cols, rows)
    last = _last_window
    if last is not None and last[0] == key:
        return last[1]
    lab = box_blur3(rgb_to_lab(read_box(slide, x0, y0, scale, cols, rows)))
    _last_window = (key, lab)
    return lab


def magic_wand(
    slide: openslide.OpenSlide,
    x: float,
    y: float,
    downsample: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> WandResult:
    """The area of similar colour around level-0 (x, y) seen at `downsample` (module doc)."""
    width, height = slide.dimensions
    check_params(x, y, downsample, tolerance, (width, height))
    scale = max(downsample, MIN_DOWNSAMPLE)
    x0, cols = window_origin(x, width, scale)
    y0, rows = window_origin(y, height, scale)
    lab = _window_lab(slide, x0, y0, scale, cols, rows)
    col = min(cols - 1, max(0, int((x - x0) / scale)))
    row = min(rows - 1, max(0, int((y - y0) / scale)))
    outline = connected_outline(region_mask(lab, row, col, tolerance), row, col)
    simple = outline.simplify(SIMPLIFY_PX, preserve_topology=True)
    if not isinstance(simple, Polygon) or simple.area < outline.area * 0.9:
        simple = outline  # a few pixels: simplifying would change the shape itself
    ring = np.asarray(simple.exterior.coords)[:-1]
    level0 = np.column_stack([x0 + ring[:, 0] * scale, y0 + ring[:, 1] * scale])
    level0[:, 0] = np.clip(level0[:, 0], 0, width)
    level0[:, 1] = np.clip(level0[:, 1], 0, height)
    points = [[round(float(px), 2), round(float(py), 2)] for px, py in level0]
    area = abs(Polygon(points).area)
    return WandResult(points, round(float(area), 2))
