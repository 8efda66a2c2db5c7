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

from server.inference.threads import queue, threading
from server.inference.tiler import Grid, Tile, TileGeometry

Batch = tuple[list[Tile], np.ndarray]  # tiles and their (N, S, S, 3) uint8 inputs


def best_level(slide: openslide.OpenSlide, scale: float) -> int:
    """The coarsest level whose downsample does not exceed `scale`."""
    level = 0
    for index, ds in enumerate(slide.level_downsamples):
        if ds <= scale * (1 + 1e-3):
            level = index
    return level


def _on_white(region: Image.Image) -> np.ndarray:
    rgba = np.asarray(region, dtype=np.uint8)
    alpha = rgba[..., 3:4].astype(np.uint16)
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    rgb = (rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return rgb.astype(np.uint8)


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
    """Reads batches of tiles ahead of the model in `workers` threads; `get()` keeps order."""

    _DONE = object()

    def __init__(
        self,
        open_slide: Callable[[], openslide.OpenSlide],
        grid: Grid,
        geometry: TileGeometry,
        tiles: Sequence[Tile],
        batch_size: int,
        workers: int = 1,
        prefetch: int = 2,
    ) -> None:
        self.batches = [list(tiles[i : i + batch_size]) for i in range(0, len(tiles), batch_size)]
        self._open = open_slide
        self._grid = grid
        self._geometry = geometry
        self._workers = max(1, min(workers, len(self.batches) or 1))
        self._queues = [queue.Queue(maxsize=prefetch) for _ in range(self._workers)]
        self._stop = threading.Event()
        self._threads: list = []
        self._next = 0

    def start(self) -> TileReader:
        """Start the reading threads."""
        for worker in range(self._workers):
            thread = threading.Thread(
                target=self._run, args=(worker,), name=f"slidelab-reader-{worker}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, worker: int) -> None:
        out = self._queues[worker]
        try:
            slide = self._open()
            reader = WindowReader(slide, self._grid)
            size, margin = self._geometry.size, self._geometry.margin
            for index in range(worker, len(self.batches), self._workers):
                tiles = self.batches[index]
                data = np.stack([reader.read(t.x - margin, t.y - margin, size) for t in tiles])
                if not self._put(out, (tiles, data)):
                    return
            slide.close()
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(out, exc)

    def _put(self, out, item) -> bool:
        while not self._stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> Batch | None:
        """The next batch in order, None after the last; re-raises a reading error."""
        if self._next >= len(self.batches):
            return None
        item = self._queues[self._next % self._workers].get()
        self._next += 1
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the threads (they finish the read in hand) and drop what was read ahead."""
        self._stop.set()
        for q in self._queues:
            while not q.empty():
                q.get_nowait()
        for thread in self._threads:
            thread.join(timeout=5)
