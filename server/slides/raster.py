"""Slide pixels and label polygons as arrays at a resolution: the one place both are made.

Training (the sampler's labelled regions), inference (model windows), label masks and
inference regions all use these functions, so the same box at the same resolution gives
the same pixels everywhere.

A grid at a resolution: pixel (i, j) of a grid with origin (x0, y0) and `scale` level-0
pixels per pixel covers level-0 [x0 + j·scale, x0 + (j+1)·scale) × [y0 + i·scale, …).

- `read_box` reads such pixels as RGB: from the coarsest pyramid level not coarser than
  the grid (`best_level`), resampled bilinearly with the exact fractional source box, so
  any two boxes on one grid agree where they overlap. Transparent pixels inside the slide
  (unscanned areas) become white, like glass; pixels not wholly inside the slide are
  mirrored from those that are, so nothing made-up (a white band) appears at an edge.
- `polygon_mask` says which pixels a geometry covers: those whose centre lies inside it
  (nonzero winding, so holes, islands in holes and overlapping parts come out right).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import openslide
import shapely
from PIL import Image
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

SAME_RESOLUTION = 0.01  # resolutions this close (relative) are read without resampling
READ_CHUNK = 2048  # target pixels a side per OpenSlide read, to bound temporary memory
WHITE = (255, 255, 255)
_EPS = 1e-6


def downsample(target_mpp: float, slide_mpp: float) -> float:
    """Level-0 pixels per pixel of a grid at `target_mpp` on a slide of `slide_mpp` µm/px;
    within SAME_RESOLUTION of 1 it is exactly 1 (level 0 read as it is)."""
    scale = target_mpp / slide_mpp
    return 1.0 if abs(scale - 1) < SAME_RESOLUTION else scale


def grid_size(width: float, height: float, scale: float) -> tuple[int, int]:
    """(columns, rows) of the grid at `scale` covering a width × height level-0 extent."""
    cols = max(1, math.ceil(width / scale - _EPS))
    rows = max(1, math.ceil(height / scale - _EPS))
    return cols, rows


def best_level(slide: openslide.OpenSlide, scale: float) -> int:
    """The coarsest pyramid level whose downsample does not exceed `scale`."""
    level = 0
    for index, ds in enumerate(slide.level_downsamples):
        if ds <= scale * (1 + 1e-3):
            level = index
    return level


def read_box(
    slide: openslide.OpenSlide,
    x0: float,
    y0: float,
    scale: float,
    width: int,
    height: int,
    level: int | None = None,
) -> np.ndarray:
    """(height, width, 3) uint8 RGB of the grid pixels from level-0 (x0, y0) at `scale`.

    See the module doc for the level, the resampling and the slide's edges. Blocking: call
    it inside `compute` or a worker thread (OpenSlide and Pillow let go of the GIL).
    """
    level = best_level(slide, scale) if level is None else level
    out = np.empty((height, width, 3), np.uint8)
    for cy in range(0, height, READ_CHUNK):
        for cx in range(0, width, READ_CHUNK):
            cw, ch = min(READ_CHUNK, width - cx), min(READ_CHUNK, height - cy)
            part = _read(slide, level, x0 + cx * scale, y0 + cy * scale, scale, cw, ch)
            out[cy : cy + ch, cx : cx + cw] = part
    return _mirror_outside(out, slide.dimensions, x0, y0, scale)


def context_origin(col: int, row: int, size: int, factor: int) -> tuple[int, int]:
    """(col, row) on the context grid (the same origin, `factor` times the scale) of the
    context view of the size × size window at (col, row): `factor` times its field of view,
    centred on it, `size` pixels a side. Exact when the window's centre lies on a multiple
    of `factor` (training and inference place their windows so); else the nearest."""
    half = size / 2
    return round((col + half) / factor - half), round((row + half) / factor - half)


def _read(
    slide: openslide.OpenSlide, level: int, gx: float, gy: float, scale: float, w: int, h: int
) -> np.ndarray:
    ds = float(slide.level_downsamples[level])
    ratio = scale / ds  # level pixels per grid pixel
    lx, ly = gx / ds, gy / ds
    if abs(ratio - 1) < _EPS and abs(lx - round(lx)) < _EPS and abs(ly - round(ly)) < _EPS:
        return _on_white(slide.read_region((round(gx), round(gy)), level, (w, h)))
    # A border wider than the filter's reach: every output pixel is weighted from source
    # pixels that were read, so a box gives the same values whatever box it is part of.
    border = math.ceil(ratio) + 1
    ix, iy = math.floor(lx) - border, math.floor(ly) - border
    iw = math.ceil(lx + w * ratio) + border - ix
    ih = math.ceil(ly + h * ratio) + border - iy
    # OpenSlide misplaces reads at negative fractional level positions (by a pixel): read
    # from the slide's edge and put the white that lies before it back in front.
    sx, sy = max(ix, 0), max(iy, 0)
    location = (round(sx * ds), round(sy * ds))
    rgb = _white_rgb(slide.read_region(location, level, (iw - sx + ix, ih - sy + iy)))
    if (sx, sy) != (ix, iy):
        pad = ((sy - iy, 0), (sx - ix, 0), (0, 0))
        rgb = Image.fromarray(np.pad(np.asarray(rgb), pad, constant_values=255))
    # The level position OpenSlide reads from (location ÷ downsample, not always sx, sy).
    ax, ay = location[0] / ds - (sx - ix), location[1] / ds - (sy - iy)
    box = (lx - ax, ly - ay, lx - ax + w * ratio, ly - ay + h * ratio)
    return np.asarray(rgb.resize((w, h), Image.Resampling.BILINEAR, box=box))


def _on_white(region: Image.Image) -> np.ndarray:
    return np.asarray(_white_rgb(region))


def _white_rgb(region: Image.Image) -> Image.Image:
    """An RGBA read as RGB on white (transparent: outside the scanned area). Pillow's C code
    (which releases the GIL) does the work: reader threads run in parallel."""
    alpha = region.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return region.convert("RGB")
    rgb = Image.new("RGB", region.size, WHITE)
    rgb.paste(region, mask=alpha)
    return rgb


def inside_span(lo: float, hi: float, size: int) -> tuple[int, int]:
    """[first, end) of the `size` pixels (from 0) whose whole area lies within [lo, hi)."""
    return max(0, math.ceil(lo - _EPS)), min(size, math.floor(hi + _EPS))


def _mirror_outside(
    pixels: np.ndarray, dimensions: tuple[int, int], x0: float, y0: float, scale: float
) -> np.ndarray:
    """The pixels with those not wholly inside the slide mirrored from those that are."""
    height, width = pixels.shape[:2]
    left, right = inside_span(-x0 / scale, (dimensions[0] - x0) / scale, width)
    top, bottom = inside_span(-y0 / scale, (dimensions[1] - y0) / scale, height)
    if (left, top, right, bottom) == (0, 0, width, height) or right <= left or bottom <= top:
        return pixels
    pad = ((top, height - bottom), (left, width - right), (0, 0))
    return np.pad(pixels[top:bottom, left:right], pad, mode="symmetric")


def polygons(geom: BaseGeometry) -> list[Polygon]:
    """The polygons of any (multi/collection) geometry."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [p for g in getattr(geom, "geoms", []) for p in polygons(g)]


@dataclass
class RingEdges:
    """The directed edges of a geometry's rings in grid pixels (outlines one way round,
    holes the other): what `fill` scans to say which pixel centres lie inside."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    direction: np.ndarray  # +1 / -1 per edge

    @classmethod
    def of(
        cls,
        geom: BaseGeometry | Sequence[Polygon] | np.ndarray,
        origin: tuple[float, float] = (0.0, 0.0),
        scale: float = 1.0,
    ) -> RingEdges:
        """The edges of `geom` (a geometry or polygons, which may overlap) on the grid with
        level-0 origin `origin` and `scale` geometry units per pixel."""
        polys = polygons(geom) if isinstance(geom, BaseGeometry) else geom
        polys = np.asarray(polys, dtype=object)
        rings, owner = shapely.get_rings(polys, return_index=True)
        if not len(rings):
            empty = np.zeros(0)
            return cls(empty, empty, empty, empty, np.zeros(0, np.int64))
        outline = np.r_[True, owner[1:] != owner[:-1]]  # each polygon's first ring
        turn = np.where(outline == shapely.is_ccw(rings), 1, -1)
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        coords = (coords - np.asarray(origin, float)) / scale
        same = ring_of[1:] == ring_of[:-1]
        (x0, y0), (x1, y1) = coords[:-1][same].T, coords[1:][same].T
        direction = turn[ring_of[:-1][same]] * np.where(y1 > y0, 1, -1)
        return cls(x0, y0, x1, y1, direction)

    def fill(self, shape: tuple[int, int], top: int = 0, left: int = 0) -> np.ndarray:
        """Bool (h, w) of the grid pixels from row `top`, column `left`: pixel centres
        inside (nonzero winding). Any window of the grid equals that part of the whole.

        Each edge adds ±1 to the rows whose centre line it spans; along a row the running
        sum of the crossings is the winding number, and a pixel is inside where it is not 0.
        """
        h, w = shape
        y0, y1 = self.y0 - top, self.y1 - top
        ylo, yhi = np.minimum(y0, y1), np.maximum(y0, y1)
        first = np.clip(np.ceil(ylo - 0.5), 0, h).astype(np.int64)  # rows: ylo <= r+.5 < yhi
        stop = np.clip(np.ceil(yhi - 0.5), 0, h).astype(np.int64)
        count = np.maximum(stop - first, 0)
        edge = np.repeat(np.arange(len(count)), count)
        if not len(edge):
            return np.zeros((h, w), bool)
        rows = first[edge] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        yc = rows + 0.5
        ys, dx = y0[edge], self.x1[edge] - self.x0[edge]
        xs = self.x0[edge] - left + (yc - ys) * dx / (y1[edge] - ys)
        order = np.lexsort((xs, rows))
        rows, xs = rows[order], xs[order]
        # Each row's crossings sum to 0, so the running sum is the winding number to the right.
        inside = np.flatnonzero(np.cumsum(self.direction[edge][order])[:-1] != 0)
        starts = np.clip(np.ceil(xs[inside] - 0.5), 0, w).astype(np.int64)
        ends = np.clip(np.ceil(xs[inside + 1] - 0.5), 0, w).astype(np.int64)
        diff = np.zeros((h, w + 1), np.int32)
        np.add.at(diff, (rows[inside], starts), 1)
        np.add.at(diff, (rows[inside], ends), -1)
        return np.cumsum(diff, axis=1, dtype=np.int32)[:, :w] > 0


def polygon_mask(
    geom: BaseGeometry | Sequence[Polygon] | np.ndarray,
    shape: tuple[int, int],
    origin: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
) -> np.ndarray:
    """Bool (h, w): the pixels of the grid at (`origin`, `scale`) whose centre lies inside
    the geometry (or the union of a sequence of polygons, which may overlap)."""
    return RingEdges.of(geom, origin, scale).fill(shape)
