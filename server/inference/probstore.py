"""Class probabilities of one result as uint8 planes in a chunked, compressed zarr store.

Layout: a zarr group with arrays "0", "1", ... (the pyramid), each (classes, height,
width) uint8, where level k is level 0 downsampled by 2**k. A pixel outside the region
(or never predicted) is all zeros: a predicted pixel always has some class ≥ 1/C, so
zeros are never a real prediction, and unwritten chunks cost nothing on disk.

Tiles are written as they are predicted, into every level at once: a tile's core is a
multiple of 2**k for every level k kept, so its downsampled copy lands on whole pixels,
and each level's chunk size divides the tile there, so no two tiles share a chunk: tiles
are written in parallel and no chunk is ever read back to be modified.
A per-class histogram of the winning probability is kept alongside, which makes areas at
any threshold a sum over 256 bins instead of a pass over the store.

Beside each level k lies "u<k>", (height, width) uint8: the uncertainty (normalised
entropy, uncertainty.py) of that level's probabilities, computed as the level is written,
0 outside the region, with a histogram of level 0's values over the region. Stores made
before it existed have neither (`has_uncertainty` False).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numcodecs
import numpy as np
import zarr

from server.inference import uncertainty
from server.jobs import threading

CHUNK = 512  # at most; a level's chunk divides its tile size (768 -> 384, 192, ...)
MIN_LEVEL_SIDE = 256  # the pyramid stops once a level fits in one overview tile
FORMAT = "slidelab-probabilities"


def levels_for(width: int, height: int, core: int) -> int:
    """How many pyramid levels: halve until it fits MIN_LEVEL_SIDE, while the tile core
    still halves into whole pixels."""
    levels = 1
    while max(width, height) > MIN_LEVEL_SIDE * 2 ** (levels - 1) and core % 2**levels == 0:
        levels += 1
    return levels


def chunk_for(core: int, level: int) -> int:
    """The chunk side of a level: the largest divisor of the tile there up to CHUNK."""
    side = core >> level
    return max(d for d in range(1, min(side, CHUNK) + 1) if side % d == 0)


def level_shape(width: int, height: int, level: int) -> tuple[int, int]:
    """(width, height) of a pyramid level."""
    factor = 2**level
    return -(-width // factor), -(-height // factor)


def downsample(probs: np.ndarray) -> np.ndarray:
    """Halve (C, h, w) probabilities: the mean over predicted pixels of each 2×2 block."""
    c, h, w = probs.shape
    padded = np.zeros((c, h + h % 2, w + w % 2), dtype=np.uint16)
    padded[:, :h, :w] = probs
    valid = padded.any(axis=0)
    sums = padded.reshape(c, padded.shape[1] // 2, 2, padded.shape[2] // 2, 2).sum(axis=(2, 4))
    counts = valid.reshape(valid.shape[0] // 2, 2, valid.shape[1] // 2, 2).sum(axis=(1, 3))
    out = (sums + counts // 2) // np.maximum(counts, 1)
    return out.astype(np.uint8)


def read_window(array: zarr.Array, x: int, y: int, w: int, h: int) -> np.ndarray:
    """A (..., h, w) uint8 window of an array whose last two axes are rows and columns,
    zeros where it leaves the array."""
    *lead, lh, lw = array.shape
    out = np.zeros((*lead, h, w), dtype=np.uint8)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, lw), min(y + h, lh)
    if x1 > x0 and y1 > y0:
        out[..., y0 - y : y1 - y, x0 - x : x1 - x] = array[..., y0:y1, x0:x1]
    return out


def winners(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best class index, its probability) per pixel of (C, h, w); probability 0 = outside."""
    best = probs.argmax(axis=0).astype(np.uint8)
    return best, np.take_along_axis(probs, best[None].astype(np.intp), axis=0)[0]


class ProbStore:
    """Read/write access to one result's probability pyramid."""

    def __init__(self, path: Path, group: zarr.Group) -> None:
        self.path = Path(path)
        self.group = group
        attrs = dict(group.attrs)
        self.width = int(attrs["width"])
        self.height = int(attrs["height"])
        self.num_classes = int(attrs["num_classes"])
        self.levels = int(attrs["levels"])
        self.arrays = [group[str(k)] for k in range(self.levels)]
        self.histogram = np.zeros((self.num_classes, 256), dtype=np.int64)
        self.has_uncertainty = bool(attrs.get("uncertainty", False))
        self.uncertainty = (
            [group[f"u{k}"] for k in range(self.levels)] if self.has_uncertainty else []
        )
        self.uncertainty_histogram = np.zeros(256, dtype=np.int64)
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls, path: Path, width: int, height: int, num_classes: int, core: int, meta: dict
    ) -> ProbStore:
        """A new, empty store (replacing any old one at `path`)."""
        path = Path(path)
        if path.exists():
            shutil.rmtree(path)
        group = zarr.open_group(str(path), mode="w")
        levels = levels_for(width, height, core)
        compressor = numcodecs.Zstd(level=1)
        for k in range(levels):
            w, h = level_shape(width, height, k)
            chunk = chunk_for(core, k)
            group.create_dataset(
                str(k),
                shape=(num_classes, h, w),
                chunks=(num_classes, chunk, chunk),
                dtype="uint8",
                fill_value=0,
                compressor=compressor,
                write_empty_chunks=False,
            )
            group.create_dataset(
                f"u{k}",
                shape=(h, w),
                chunks=(chunk, chunk),
                dtype="uint8",
                fill_value=0,
                compressor=compressor,
                write_empty_chunks=False,
            )
        group.attrs.update(
            format=FORMAT,
            width=width,
            height=height,
            num_classes=num_classes,
            levels=levels,
            uncertainty=True,
            complete=False,
            meta=meta,
        )
        return cls(path, group)

    @classmethod
    def open(cls, path: Path) -> ProbStore:
        """An existing store; FileNotFoundError when there is none."""
        if not (Path(path) / ".zgroup").is_file():
            raise FileNotFoundError(path)
        store = cls(path, zarr.open_group(str(path), mode="r+"))
        hist = store.group.attrs.get("histogram")
        if hist is not None:
            store.histogram = np.asarray(hist, dtype=np.int64)
        u_hist = store.group.attrs.get("uncertainty_histogram")
        if u_hist is not None:
            store.uncertainty_histogram = np.asarray(u_hist, dtype=np.int64)
        return store

    @property
    def meta(self) -> dict:
        """What the creator recorded (grid, classes, app, ...)."""
        return dict(self.group.attrs.get("meta", {}))

    @property
    def complete(self) -> bool:
        """Whether every tile was written and the histogram saved."""
        return bool(self.group.attrs.get("complete", False))

    def write_tile(self, x: int, y: int, probs: np.ndarray) -> None:
        """Write (C, h, w) probabilities at level-0 (x, y), and downsampled into every level.

        Safe to call from several threads for different tiles of the plan's grid.
        """
        best, conf = winners(probs)
        counts = np.bincount(
            best.ravel().astype(np.int64) * 256 + conf.ravel(), minlength=self.num_classes * 256
        ).reshape(self.num_classes, 256)
        self.add_histogram(counts)
        levels = [probs]
        for _ in range(1, self.levels):
            levels.append(downsample(levels[-1]))
        _, h, w = probs.shape
        self.write_levels(x, y, w, h, levels)

    def add_histogram(self, counts: np.ndarray) -> None:
        """Add (C, 256) winner counts of written tiles (thread-safe)."""
        with self._lock:
            self.histogram += counts

    def write_levels(self, x: int, y: int, w: int, h: int, levels: list[np.ndarray]) -> None:
        """Write a tile's already downsampled levels (level k may be larger than the tile
        there; what lies past ceil(h / 2**k) × ceil(w / 2**k) is ignored), and the
        uncertainty of each level computed from it."""
        for k, array in enumerate(self.arrays):
            factor = 2**k
            kh, kw = -(-h // factor), -(-w // factor)
            probs = levels[k][:, :kh, :kw]
            rows = slice(y // factor, y // factor + kh)
            cols = slice(x // factor, x // factor + kw)
            array[:, rows, cols] = probs
            if self.has_uncertainty:
                u = uncertainty.entropy_u8(probs)
                self.uncertainty[k][rows, cols] = u
                if k == 0:
                    counts = uncertainty.histogram(u, np.asarray(probs.any(axis=0)))
                    with self._lock:
                        self.uncertainty_histogram += counts

    def finish(self) -> None:
        """Record the histogram and mark the store complete."""
        self.group.attrs.update(
            histogram=self.histogram.tolist(),
            uncertainty_histogram=self.uncertainty_histogram.tolist(),
            complete=True,
        )

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """(C, h, w) probabilities of a window of `level`; zeros where it leaves the level."""
        return read_window(self.arrays[level], x, y, w, h)

    def read_uncertainty(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """(h, w) uint8 uncertainty of a window of `level`; zeros where it leaves the level.
        Only for stores that have it (`has_uncertainty`)."""
        return read_window(self.uncertainty[level], x, y, w, h)

    def shape(self, level: int) -> tuple[int, int]:
        """(width, height) of a level."""
        return level_shape(self.width, self.height, level)


def remove(path: Path) -> None:
    """Delete a store folder (no error when absent)."""
    shutil.rmtree(path, ignore_errors=True)
