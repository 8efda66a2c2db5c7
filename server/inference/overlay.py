"""Overlay tiles: the slide's Deep Zoom grid, rendered from the probability store.

The overlay has the slide DZI's exact size, tile size and overlap, so a viewer lays it
over the slide as a second tiled image. A tile is rendered in two steps: `prepare`
samples the store (nearest neighbour, from the pyramid level just finer than the tile's
resolution) into threshold-independent arrays; `colorize` applies the threshold and the
colours. Callers cache both, so moving the threshold slider only re-runs `colorize`.
The uncertainty mode samples the store's uncertainty plane instead and ignores the
threshold: its colours come from uncertainty.LUT.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from server.inference import uncertainty
from server.inference.probstore import ProbStore
from server.inference.thresholds import classify, threshold_level
from server.inference.tiler import Grid

TILE_SIZE = 254
OVERLAP = 1
# Turbo-like anchors for the heat map (probability 0 → 1).
HEAT_ANCHORS = np.array(
    [[48, 18, 59], [70, 134, 251], [26, 228, 182], [164, 252, 60], [250, 186, 57], [122, 4, 3]],
    dtype=np.float64,
)


class TileOutOfRange(LookupError):
    """The requested level, column or row is not in the pyramid."""


@dataclass(frozen=True)
class DziGeometry:
    """The slide's Deep Zoom pyramid: level-0 size and where its origin is on the slide."""

    width: int
    height: int
    offset_x: float = 0.0
    offset_y: float = 0.0
    tile_size: int = TILE_SIZE
    overlap: int = OVERLAP

    @property
    def levels(self) -> int:
        """Level count, as Deep Zoom counts it (halving down to 1 × 1)."""
        return max(1, math.ceil(math.log2(max(self.width, self.height, 1)))) + 1

    def level_size(self, level: int) -> tuple[int, int]:
        """(width, height) of a level."""
        factor = 2 ** (self.levels - 1 - level)
        return -(-self.width // factor), -(-self.height // factor)

    def tile_rect(self, level: int, col: int, row: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) of a tile in that level's pixels, overlap included."""
        if not 0 <= level < self.levels:
            raise TileOutOfRange(f"level {level} out of range")
        lw, lh = self.level_size(level)
        cols, rows = -(-lw // self.tile_size), -(-lh // self.tile_size)
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileOutOfRange(f"tile {col},{row} out of range at level {level}")
        x0 = col * self.tile_size - (self.overlap if col else 0)
        y0 = row * self.tile_size - (self.overlap if row else 0)
        x1 = min(lw, (col + 1) * self.tile_size + self.overlap)
        y1 = min(lh, (row + 1) * self.tile_size + self.overlap)
        return x0, y0, x1 - x0, y1 - y0

    def xml(self) -> str:
        """The .dzi descriptor (PNG tiles)."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="png" '
            f'Overlap="{self.overlap}" TileSize="{self.tile_size}">'
            f'<Size Height="{self.height}" Width="{self.width}"/></Image>'
        )


@dataclass
class Prepared:
    """Threshold-independent samples of one tile: best class and its probability
    (classes mode), one class's probability and validity (heat-map mode), or the
    uncertainty (uncertainty mode)."""

    values: np.ndarray  # uint8 (h, w): winning or chosen-class probability, or uncertainty
    best: np.ndarray | None  # uint8 (h, w) class index (classes mode)
    valid: np.ndarray | None  # bool (h, w) region pixels (heat-map mode)
    empty: bool
    uncertain: bool = False  # values are uncertainty (uncertainty mode)


def _indices(start: float, count: int, step: float, origin: float, scale: float) -> np.ndarray:
    centres = start + (np.arange(count) + 0.5) * step
    return np.floor((centres - origin) / scale).astype(np.int64)


def prepare(
    store: ProbStore,
    grid: Grid,
    dzi: DziGeometry,
    level: int,
    col: int,
    row: int,
    heat_class: int | None = None,
    uncertain: bool = False,
) -> Prepared:
    """Sample the store for one overlay tile (see module doc); `uncertain`: sample the
    uncertainty plane (the store must have one)."""
    tx, ty, tw, th = dzi.tile_rect(level, col, row)
    d = 2 ** (dzi.levels - 1 - level)  # level-0 pixels per tile pixel
    ratio = d / grid.scale  # store pixels per tile pixel
    k = min(store.levels - 1, max(0, int(math.floor(math.log2(ratio) + 1e-9))))
    kscale = grid.scale * 2**k
    cols = _indices(dzi.offset_x + tx * d, tw, d, grid.x0, kscale)
    rows = _indices(dzi.offset_y + ty * d, th, d, grid.y0, kscale)
    kw, kh = store.shape(k)
    in_c = (cols >= 0) & (cols < kw)
    in_r = (rows >= 0) & (rows < kh)
    if not in_c.any() or not in_r.any():
        zeros = np.zeros((th, tw), np.uint8)
        if uncertain:
            return Prepared(zeros, None, None, True, uncertain=True)
        if heat_class is not None:
            return Prepared(zeros, None, np.zeros((th, tw), bool), True)
        return Prepared(zeros, zeros, None, True)
    c0, c1 = int(cols[in_c].min()), int(cols[in_c].max()) + 1
    r0, r1 = int(rows[in_r].min()), int(rows[in_r].max()) + 1
    ci = np.where(in_c, cols - c0, c1 - c0)
    ri = np.where(in_r, rows - r0, r1 - r0)
    if uncertain:
        plane = np.pad(store.read_uncertainty(k, c0, r0, c1 - c0, r1 - r0), ((0, 1), (0, 1)))
        values = plane[ri[:, None], ci[None, :]]
        return Prepared(values, None, None, not values.any(), uncertain=True)
    window = store.read(k, c0, r0, c1 - c0, r1 - r0)
    # Out-of-store samples read a zero pixel appended past the window's edge.
    window = np.pad(window, ((0, 0), (0, 1), (0, 1)))
    probs = window[:, ri[:, None], ci[None, :]]
    if heat_class is not None:
        return Prepared(probs[heat_class], None, np.asarray(probs.any(axis=0)), False)
    best = probs.argmax(axis=0).astype(np.uint8)
    conf = probs.max(axis=0)
    return Prepared(conf, best, None, not conf.any())


def palette(colors: list[str]) -> np.ndarray:
    """(C + 1, 4) RGBA lookup: index 0 transparent, i + 1 the colour of class i."""
    lut = np.zeros((len(colors) + 1, 4), dtype=np.uint8)
    for i, color in enumerate(colors):
        lut[i + 1] = (*hex_rgb(color), 255)
    return lut


def hex_rgb(color: str) -> tuple[int, int, int]:
    """(r, g, b) of "#rrggbb" (grey for anything else)."""
    value = color.lstrip("#") if isinstance(color, str) else ""
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except (ValueError, IndexError):
        return 128, 128, 128


def heat_lut() -> np.ndarray:
    """(256, 4) RGBA colour map for probabilities 0..255."""
    stops = np.linspace(0, 255, len(HEAT_ANCHORS))
    x = np.arange(256)
    rgb = np.stack([np.interp(x, stops, HEAT_ANCHORS[:, i]) for i in range(3)], axis=1)
    lut = np.full((256, 4), 255, dtype=np.uint8)
    lut[:, :3] = np.round(rgb).astype(np.uint8)
    return lut


HEAT = heat_lut()


def colorize(prepared: Prepared, threshold: float, lut: np.ndarray) -> np.ndarray:
    """RGBA (h, w, 4) of a prepared tile at a threshold (ignored for uncertainty)."""
    if prepared.uncertain:
        return uncertainty.LUT[prepared.values]
    if prepared.best is not None:
        return lut[classify(prepared.best, prepared.values, threshold)]
    level = threshold_level(threshold) if threshold > 0 else 0
    shown = prepared.values >= level
    if prepared.valid is not None:
        shown &= prepared.valid
    rgba = HEAT[prepared.values]
    rgba[~shown] = 0
    return rgba


def encode_png(rgba: np.ndarray) -> bytes:
    """RGBA PNG bytes (fast compression: tiles are made on request)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
