"""Model-input tiles read from a slide by background threads, in order, a batch at a time.

Each window is read by `server.slides.raster.read_box` (the pyramid level closest to, not
coarser than, the app's resolution, resampled with the exact fractional source box), the
same function training reads its patches with, so neighbouring tiles sample the slide
identically and the model meets the pixels it was trained on.

Slide edges: a window that would reach past the slide is shifted back inside it (by
multiples of the network stride, at most its margin, so the tile's core stays in the
window and the pooling grid stays aligned with the neighbours'), and whatever still lies
outside — only when the slide is smaller than a window — is filled by mirroring the slide
at its edge. The model thus never sees a band of made-up white where the slide ends, which
it would carry into the kept core. Transparent pixels inside the slide (unscanned areas)
become white, like glass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import openslide

from server.inference.regions import RegionMask
from server.inference.tiler import STRIDE, Grid, Tile, TileGeometry
from server.jobs import threading
from server.slides import raster
from server.slides.raster import best_level

# Tiles, their (N, S, S, 3) uint8 inputs, (N, core, core) validity (None: all valid), and
# (N, 2) int offsets (x, y) of each tile's core in its window.
Batch = tuple[list[Tile], np.ndarray, np.ndarray | None, np.ndarray]


@dataclass(frozen=True)
class ContextLayout:
    """How an app with a context view (`context_scale`) sees a tile: as training did, in
    windows of its patch size, each with its own context view (`factor` times the window's
    field of view, centred on it, on the context grid as `raster.context_origin` places
    it). Each window keeps its centre (`margin` pixels off each side); the kept squares
    cover the tile's core, the last one of a row moved back to end with it."""

    factor: int
    patch: int
    core: int

    @property
    def margin(self) -> int:
        """Pixels of each window's rim that are not kept (an eighth, even)."""
        return self.patch // 16 * 2

    @property
    def kept(self) -> int:
        """Side of the square each window keeps."""
        return self.patch - 2 * self.margin

    @property
    def starts(self) -> list[int]:
        """Where the kept squares start in the core (one axis)."""
        kept, last = self.kept, max(self.core - self.kept, 0)
        return sorted({min(i * kept, last) for i in range(math.ceil(self.core / kept))})

    @property
    def windows(self) -> int:
        """Windows per tile."""
        return len(self.starts) ** 2


class WindowReader:
    """Reads grid windows (store pixels) from one slide handle."""

    def __init__(
        self, slide: openslide.OpenSlide, grid: Grid, context: ContextLayout | None = None
    ) -> None:
        self.slide = slide
        self.grid = grid
        self.context = context
        if context is not None:
            self.context_level = best_level(slide, grid.scale * context.factor)
        self.level = best_level(slide, grid.scale)
        self.ds = float(slide.level_downsamples[self.level])
        width, height = slide.dimensions
        # The slide's extent in store pixels of the grid.
        self.limits = (
            -grid.x0 / grid.scale,
            -grid.y0 / grid.scale,
            (width - grid.x0) / grid.scale,
            (height - grid.y0) / grid.scale,
        )

    def read_tile(self, tile: Tile, geometry: TileGeometry) -> tuple[np.ndarray, tuple[int, int]]:
        """The model input for a tile, and the (x, y) offset of its core in it; with a
        context view, (windows, patch, patch, 6) inputs (see ContextLayout) and (0, 0)."""
        if self.context is not None:
            return self.read_context_tile(tile), (0, 0)
        x0, y0, x1, y1 = self.limits
        size, margin = geometry.size, geometry.margin
        wx = window_origin(tile.x, tile.w, size, margin, x0, x1)
        wy = window_origin(tile.y, tile.h, size, margin, y0, y1)
        return self.read(wx, wy, size), (tile.x - wx, tile.y - wy)

    def read(self, x: int, y: int, size: int, height: int | None = None) -> np.ndarray:
        """(height or size, size, 3) uint8 RGB of the store window at (x, y), mirrored past
        the slide (`raster.read_box`: the pixels training reads for the same box)."""
        gx, gy = self.grid.to_level0(x, y)
        rows = size if height is None else height
        return raster.read_box(self.slide, gx, gy, self.grid.scale, size, rows, self.level)

    def read_context_tile(self, tile: Tile) -> np.ndarray:
        """(windows, P, P, 6) uint8: each window of the tile (ContextLayout) and its context
        view, sliced from one read of the windows' area and one of their contexts' area."""
        layout = self.context
        assert layout is not None
        p, k, margin, starts = layout.patch, layout.factor, layout.margin, layout.starts
        x, y = tile.x - margin, tile.y - margin
        side = starts[-1] + p
        pixels = self.read(x, y, side)
        lo = raster.context_origin(x, y, p, k)
        hi = raster.context_origin(x + starts[-1], y + starts[-1], p, k)
        scale = self.grid.scale * k
        area = raster.read_box(
            self.slide,
            self.grid.x0 + lo[0] * scale,
            self.grid.y0 + lo[1] * scale,
            scale,
            hi[0] + p - lo[0],
            hi[1] + p - lo[1],
            self.context_level,
        )
        out = np.empty((len(starts) ** 2, p, p, 6), np.uint8)
        for i, (sy, sx) in enumerate((sy, sx) for sy in starts for sx in starts):
            out[i, ..., :3] = pixels[sy : sy + p, sx : sx + p]
            cx, cy = raster.context_origin(x + sx, y + sy, p, k)
            out[i, ..., 3:] = area[cy - lo[1] : cy - lo[1] + p, cx - lo[0] : cx - lo[0] + p]
        return out


def window_origin(start: int, length: int, size: int, margin: int, lo: float, hi: float) -> int:
    """Origin of the window of `size` for a core [start, start + length) along one axis.

    The default window starts `margin` before the core. Where it would cross the slide's
    extent [lo, hi) it moves inside, by a multiple of STRIDE so the network's pooling grid
    stays aligned with the neighbouring windows', and never so far that the core leaves
    the window. A slide shorter than the window leaves it where it is.
    """
    origin = start - margin
    if hi - lo < size:
        return origin
    if origin < lo:
        return origin + min(_stride_floor(margin), _stride_ceil(lo - origin))
    if origin + size > hi:
        room = size - length - margin  # how far left the core may move in the window
        return origin - min(_stride_floor(room), _stride_ceil(origin + size - hi))
    return origin


def _stride_floor(distance: float) -> int:
    return math.floor(distance / STRIDE + 1e-9) * STRIDE


def _stride_ceil(distance: float) -> int:
    return math.ceil(distance / STRIDE - 1e-9) * STRIDE


class TileReader:
    """Reads tiles ahead of the model in `workers` threads; `get()` returns whole batches in
    order. Workers take single tiles, so even the first batch is read in parallel, and stay
    at most `prefetch` batches ahead of the consumer, which bounds memory.

    Each batch comes with a validity mask (N, core, core) of the pixels that belong to the
    grid and the region, or None when every pixel does.
    """

    def __init__(
        self,
        open_slide: Callable[[], openslide.OpenSlide],
        grid: Grid,
        geometry: TileGeometry,
        tiles: Sequence[Tile],
        batch_size: int,
        workers: int = 1,
        prefetch: int = 2,
        mask: RegionMask | None = None,
        context: ContextLayout | None = None,
    ) -> None:
        self.tiles = list(tiles)
        self._context = context
        self.batch_size = batch_size
        self.batches = -(-len(self.tiles) // batch_size)
        self._open = open_slide
        self._grid = grid
        self._geometry = geometry
        self._mask = mask
        self._workers = max(1, min(workers, len(self.tiles) or 1))
        self._prefetch = prefetch
        self._cond = threading.Condition()
        self._done: dict[int, tuple[np.ndarray, np.ndarray | None, tuple[int, int]]] = {}
        self._claimed = 0
        self._next = 0
        self._stop = False
        self._error: BaseException | None = None
        self._threads: list = []

    def start(self) -> TileReader:
        """Start the reading threads."""
        for worker in range(self._workers):
            thread = threading.Thread(target=self._run, name=f"slidelab-reader-{worker}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def _claim(self) -> int | None:
        with self._cond:
            while True:
                if self._stop or self._claimed >= len(self.tiles):
                    return None
                if self._claimed // self.batch_size < self._next + self._prefetch:
                    self._claimed += 1
                    return self._claimed - 1
                self._cond.wait(0.1)

    def _run(self) -> None:
        try:
            slide = self._open()
        except BaseException as exc:
            self._fail(exc)
            return
        try:
            reader = WindowReader(slide, self._grid, self._context)
            while (index := self._claim()) is not None:
                tile = self.tiles[index]
                pixels, offset = reader.read_tile(tile, self._geometry)
                valid = self._valid(tile)
                with self._cond:
                    self._done[index] = (pixels, valid, offset)
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the consumer, which raises it
            self._fail(exc)
        finally:
            slide.close()

    def _valid(self, tile: Tile) -> np.ndarray | None:
        core = self._geometry.core
        window = None
        if self._mask is not None:
            window = self._mask.window(self._grid, tile.x, tile.y, tile.w, tile.h)
        if window is None and (tile.w, tile.h) == (core, core):
            return None
        valid = np.zeros((core, core), dtype=bool)
        valid[: tile.h, : tile.w] = True if window is None else window
        return valid

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = exc
            self._cond.notify_all()

    def get(self) -> Batch | None:
        """The next batch in order, None after the last; re-raises a reading error."""
        if self._next >= self.batches:
            return None
        first = self._next * self.batch_size
        indices = range(first, min(first + self.batch_size, len(self.tiles)))
        with self._cond:
            while not all(i in self._done for i in indices):
                if self._error is not None:
                    raise self._error
                self._cond.wait(0.5)
            items = [self._done.pop(i) for i in indices]
            self._next += 1
            self._cond.notify_all()
        pixels = np.stack([p for p, _, _ in items])
        offsets = np.array([o for _, _, o in items], dtype=np.int64)
        masks = None
        if any(v is not None for _, v, _ in items):
            core = self._geometry.core
            full = np.ones((core, core), dtype=bool)
            masks = np.stack([full if v is None else v for _, v, _ in items])
        return [self.tiles[i] for i in indices], pixels, masks, offsets

    def close(self) -> None:
        """Stop the threads (they finish the read in hand) and drop what was read ahead."""
        with self._cond:
            self._stop = True
            self._done.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
