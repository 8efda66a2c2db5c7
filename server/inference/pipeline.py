"""One inference run: reader threads → batched model → writer threads → probability store.

`step()` handles one batch and is what a driver calls repeatedly: the server's greenlet
calls it through `jobs.compute` (a real thread) and checks for cancel between calls; the
batch command calls it in a plain loop. Reading the next batches and writing the last
one overlap with the forward pass. Memory stays bounded: a few batches in flight, and
the store streams to disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import openslide

from server.inference.predictor import Pending, Predictor
from server.inference.probstore import ProbStore
from server.inference.reader import TileReader
from server.inference.regions import RegionMask, tile_in_region
from server.inference.tiler import Grid, Tile, TileGeometry, plan_tiles
from server.jobs import queue, threading


def gpu_threads() -> tuple[int, int]:
    """(readers, writers) that keep a GPU fed: the host's cores decode slide tiles and
    compress results while the GPU computes; reading is the heavier part."""
    cores = os.cpu_count() or 4
    return max(2, cores * 5 // 8), max(2, cores * 3 // 8)


def run_defaults(cuda: bool) -> tuple[int, int, int]:
    """(batch size, reader threads, writer threads) of an inference run on a GPU or a CPU:
    the one place these defaults are set (the server and `slidelab apply` use them)."""
    if cuda:
        return (8, *gpu_threads())
    return 2, 1, 1


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
        writers: int = 1,
    ) -> None:
        self.plan = plan
        self.predictor = predictor
        self.store = store
        self.total = len(plan.tiles)
        self.written = 0
        self.started = time.monotonic()
        self._reader = TileReader(
            open_slide,
            plan.grid,
            plan.geometry,
            plan.tiles,
            batch_size,
            readers,
            mask=plan.mask,
            context=predictor.layout(plan.geometry.core),
        )
        self._out: queue.Queue = queue.Queue(maxsize=2 * max(1, writers))
        self._writers = [
            threading.Thread(target=self._write, name=f"slidelab-writer-{i}", daemon=True)
            for i in range(max(1, writers))
        ]
        self._count_lock = threading.Lock()
        self._pending: tuple[list[Tile], Pending] | None = None
        # Seconds the driving thread spent waiting on each stage (where a slow run stalls).
        self.timings = dict.fromkeys(("read_wait", "submit", "device_wait", "write_wait"), 0.0)
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
        for writer in self._writers:
            writer.start()
        return self

    def step(self) -> bool:
        """Predict the next batch and hand the one before to the writers; False when done.

        The device computes batch k while this thread collects batch k - 1 and the readers
        and writers work on others, so the GPU is not left waiting on the host.
        """
        self._raise_writer_error()
        clock = time.perf_counter()
        batch = self._reader.get()
        self.timings["read_wait"] += time.perf_counter() - clock
        if batch is None:
            self._collect()
            return False
        tiles, pixels, valid, offsets = batch
        clock = time.perf_counter()
        core, levels = self.plan.geometry.core, self.store.levels
        pending = self.predictor.submit_levels(pixels, offsets, core, valid, levels)
        self.timings["submit"] += time.perf_counter() - clock
        self._collect()
        self._pending = (tiles, pending)
        return True

    def _collect(self) -> None:
        """Hand the previous batch's results to the writers."""
        if self._pending is None:
            return
        clock = time.perf_counter()
        tiles, pending = self._pending
        self._pending = None
        levels, histogram = pending.result()
        self.timings["device_wait"] += time.perf_counter() - clock
        clock = time.perf_counter()
        self.store.add_histogram(histogram)
        for i, tile in enumerate(tiles):
            self._out.put((tile, [level[i] for level in levels]))
        self.timings["write_wait"] += time.perf_counter() - clock

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
        """Wait for the writers, then mark the store complete."""
        for _ in self._writers:
            self._out.put(None)
        for writer in self._writers:
            writer.join()
        self._running = False
        self._raise_writer_error()
        self.store.finish()

    def close(self) -> None:
        """Stop every thread (after finish, or to abandon the run)."""
        self._reader.close()
        if self._running:
            self._running = False
            for writer in self._writers:
                while writer.is_alive():
                    try:
                        self._out.put(None, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            for writer in self._writers:
                writer.join(timeout=30)

    def _write(self) -> None:
        while True:
            item = self._out.get()
            if item is None:
                return
            if self._error is not None:
                continue
            try:
                tile, levels = item
                self.store.write_levels(tile.x, tile.y, tile.w, tile.h, levels)
                with self._count_lock:
                    self.written += 1
            except BaseException as exc:
                self._error = exc

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            raise self._error
