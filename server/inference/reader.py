"""Model-input tiles read from a slide by background threads, in order, a batch at a time.

Each window is read at the pyramid level closest to (not coarser than) the app's
resolution and resampled onto the store grid with Pillow, using the exact fractional
source box, so neighbouring tiles sample the slide identically. Pixels outside the
slide (transparent in OpenSlide) become white, like glass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import openslide
from PIL import Image

from server.inference.regions import RegionMask
from server.inference.threads import threading
from server.inference.tiler import Grid, Tile, TileGeometry

# Tiles, their (N, S, S, 3) uint8 inputs, and (N, core, core) validity (None: all valid).
Batch = tuple[list[Tile], np.ndarray, np.ndarray | None]


def best_level(slide: openslide.OpenSlide, scale: float) -> int:
    """The coarsest level whose downsample does not exceed `scale`."""
    level = 0
    for index, ds in enumerate(slide.level_downsamples):
        if ds <= scale * (1 + 1e-3):
            level = index
    return level


def _on_white(region: Image.Image) -> np.ndarray:
    # Pillow's C code (which releases the GIL) does the work: reader threads run in parallel.
    if region.getextrema()[3][0] == 255:
        return np.asarray(region.convert("RGB"))
    rgb = Image.new("RGB", region.size, (255, 255, 255))
    rgb.paste(region, mask=region.getchannel("A"))
    return np.asarray(rgb)


class WindowReader:
    """Reads grid windows (store pixels) from one slide handle."""

    def __init__(self, slide: openslide.OpenSlide, grid: Grid) -> None:
        self.slide = slide
        self.grid = grid
        self.level = best_level(slide, grid.scale)
        self.ds = float(slide.level_downsamples[self.level])

    def read(self, x: int, y: int, size: int) -> np.ndarray:
        """(size, size, 3) uint8 RGB of the store window at (x, y)."""
        gx, gy = self.grid.to_level0(x, y)
        ratio = self.grid.scale / self.ds  # level pixels per store pixel
        lx, ly = gx / self.ds, gy / self.ds
        if abs(ratio - 1) < 1e-6 and abs(lx - round(lx)) < 1e-6 and abs(ly - round(ly)) < 1e-6:
            location = (round(gx), round(gy))
            return _on_white(self.slide.read_region(location, self.level, (size, size)))
        span = size * ratio
        ix, iy = math.floor(lx) - 1, math.floor(ly) - 1
        iw, ih = math.ceil(lx + span) + 1 - ix, math.ceil(ly + span) + 1 - iy
        region = self.slide.read_region(
            (round(ix * self.ds), round(iy * self.ds)), self.level, (iw, ih)
        )
        box = (lx - ix, ly - iy, lx - ix + span, ly - iy + span)
        rgb = Image.fromarray(_on_white(region))
        return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR, box=box))


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
    ) -> None:
        self.tiles = list(tiles)
        self.batch_size = batch_size
        self.batches = -(-len(self.tiles) // batch_size)
        self._open = open_slide
        self._grid = grid
        self._geometry = geometry
        self._mask = mask
        self._workers = max(1, min(workers, len(self.tiles) or 1))
        self._prefetch = prefetch
        self._cond = threading.Condition()
        self._done: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
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
            reader = WindowReader(slide, self._grid)
            size, margin = self._geometry.size, self._geometry.margin
            while (index := self._claim()) is not None:
                tile = self.tiles[index]
                pixels = reader.read(tile.x - margin, tile.y - margin, size)
                valid = self._valid(tile)
                with self._cond:
                    self._done[index] = (pixels, valid)
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
        pixels = np.stack([p for p, _ in items])
        masks = None
        if any(v is not None for _, v in items):
            core = self._geometry.core
            full = np.ones((core, core), dtype=bool)
            masks = np.stack([full if v is None else v for _, v in items])
        return [self.tiles[i] for i in indices], pixels, masks

    def close(self) -> None:
        """Stop the threads (they finish the read in hand) and drop what was read ahead."""
        with self._cond:
            self._stop = True
            self._done.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
