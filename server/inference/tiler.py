"""The region's pixel grid at the app's resolution, cut into overlapping model tiles.

Each tile is predicted on `core + 2 * margin` pixels and only its core is kept, so every
kept pixel saw at least `margin` pixels of real context on each side and tiles meet
without seams. Offsets and sizes are multiples of the network's total stride (32), so a
fully convolutional network sees the same pooling grid in every tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STRIDE = 32


@dataclass(frozen=True)
class Grid:
    """Store pixel (col, row) covers level-0 [x0 + col*scale, x0 + (col+1)*scale) (same in y)."""

    x0: float
    y0: float
    scale: float  # level-0 pixels per store pixel
    width: int
    height: int

    @classmethod
    def for_region(cls, x: float, y: float, w: float, h: float, scale: float) -> Grid:
        """The grid covering a level-0 rectangle at `scale` level-0 pixels per store pixel."""
        width = max(1, math.ceil(w / scale - 1e-6))
        height = max(1, math.ceil(h / scale - 1e-6))
        return cls(float(x), float(y), float(scale), width, height)

    def to_level0(self, col: float, row: float) -> tuple[float, float]:
        """Level-0 coordinates of a (fractional) store position."""
        return self.x0 + col * self.scale, self.y0 + row * self.scale

    def as_dict(self) -> dict:
        """JSON form."""
        return {
            "x0": self.x0,
            "y0": self.y0,
            "scale": self.scale,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Grid:
        """Inverse of as_dict."""
        return cls(
            float(data["x0"]),
            float(data["y0"]),
            float(data["scale"]),
            int(data["width"]),
            int(data["height"]),
        )


@dataclass(frozen=True)
class TileGeometry:
    """Kept core and context margin, in store pixels."""

    # 128 px of context made tile-by-tile and single-pass predictions agree closely in
    # our tests (a ResNet encoder's deepest layers see far); 768 keeps that overhead low.
    core: int = 768
    margin: int = 128

    def __post_init__(self) -> None:
        if self.core <= 0 or self.core % STRIDE or self.margin < 0 or self.margin % STRIDE:
            raise ValueError(f"tile core and margin must be multiples of {STRIDE}")

    @property
    def size(self) -> int:
        """Side of the model input."""
        return self.core + 2 * self.margin


@dataclass(frozen=True)
class Tile:
    """One tile's core in store pixels: origin (x, y) and size (w, h), cropped to the grid."""

    x: int
    y: int
    w: int
    h: int


def plan_tiles(grid: Grid, geometry: TileGeometry) -> list[Tile]:
    """Every core tile covering the grid, row by row."""
    core = geometry.core
    tiles = []
    for y in range(0, grid.height, core):
        for x in range(0, grid.width, core):
            tiles.append(Tile(x, y, min(core, grid.width - x), min(core, grid.height - y)))
    return tiles
