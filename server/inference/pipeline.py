"""One inference run: reader threads → batched model → writer thread → probability store.

`step()` handles one batch and is what a driver calls repeatedly: the server's greenlet
calls it through `jobs.compute` (a real thread) and checks for cancel between calls; the
batch command calls it in a plain loop. Reading the next batches and writing the last
one overlap with the forward pass. Memory stays bounded: a few batches in flight, and
the store streams to disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import openslide

from server.inference.predictor import Predictor
from server.inference.probstore import ProbStore
from server.inference.reader import TileReader
from server.inference.regions import RegionMask, tile_in_region
from server.inference.threads import queue, threading
from server.inference.tiler import Grid, Tile, TileGeometry, plan_tiles


@dataclass
class Plan:
    """Where to predict: the grid, the tiles that touch the region, the region mask."""

    grid: Grid
    geometry: TileGeometry
    tiles: list[Tile]
    mask: RegionMask | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, grid: Grid, geometry: TileGeometry, mask: RegionMask | None = None) -> Plan:
        """Plan the tiles of a grid, keeping those with at least one region pixel."""
        tiles = [t for t in plan_tiles(grid, geometry) if tile_in_region(mask, grid, t)]
        return cls(grid, geometry, tiles, mask)


class Pipeline:
    """Runs a Plan with a Predictor into a ProbStore."""

    def __init__(
        self,
        plan: Plan,
        open_slide: Callable[[], openslide.OpenSlide],
        predictor: Predictor,
        store: ProbStore,
        batch_size: int = 4,
        readers: int = 1,
    ) -> None:
        self.plan = plan
        self.predictor = predictor
        self.store = store
        self.total = len(plan.tiles)
        self.written = 0
        self.started = time.monotonic()
        self._reader = TileReader(
            open_slide, plan.grid, plan.geometry, plan.tiles, batch_size, readers
        )
        self._out: queue.Queue = queue.Queue(maxsize=2)
        self._writer = threading.Thread(target=self._write, name="slidelab-writer", daemon=True)
        self._error: BaseException | None = None
        self._running = False

    @property
    def progress(self) -> float:
        """Fraction of tiles written (0..1)."""
        return self.written / self.total if self.total else 1.0

    def eta_s(self) -> float | None:
        """Seconds left at the speed so far, None before the first tile."""
        if not self.written:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.written * (self.total - self.written)

    def start(self) -> Pipeline:
        """Start reading and writing threads."""
        self.started = time.monotonic()
        self._running = True
        self._reader.start()
        self._writer.start()
        return self

    def step(self) -> bool:
        """Predict the next batch and hand it to the writer; False when none is left."""
        self._raise_writer_error()
        batch = self._reader.get()
        if batch is None:
            return False
        tiles, pixels = batch
        probs = self.predictor(pixels, self.plan.geometry.margin)
        self._out.put((tiles, probs))
        return True

    def run(self, on_step: Callable[[Pipeline], None] | None = None) -> None:
        """Every step then finish (for callers that are not greenlets)."""
        self.start()
        try:
            while self.step():
                if on_step:
                    on_step(self)
            self.finish()
        finally:
            self.close()

    def finish(self) -> None:
        """Wait for the writer, then mark the store complete."""
        self._out.put(None)
        self._writer.join()
        self._running = False
        self._raise_writer_error()
        self.store.finish()

    def close(self) -> None:
        """Stop every thread (after finish, or to abandon the run)."""
        self._reader.close()
        if self._running:
            self._running = False
            while True:
                try:
                    self._out.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if not self._writer.is_alive():
                        break
            self._writer.join(timeout=30)

    def _write(self) -> None:
        grid, mask = self.plan.grid, self.plan.mask
        while True:
            item = self._out.get()
            if item is None:
                return
            if self._error is not None:
                continue
            try:
                tiles, probs = item
                for tile, tile_probs in zip(tiles, probs, strict=True):
                    core = tile_probs[:, : tile.h, : tile.w]
                    if mask is not None:
                        window = mask.window(grid, tile.x, tile.y, tile.w, tile.h)
                        if window is not None:
                            core = np.where(window[None], core, 0).astype(np.uint8)
                    self.store.write_tile(tile.x, tile.y, core)
                    self.written += 1
            except BaseException as exc:
                self._error = exc

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            raise self._error
