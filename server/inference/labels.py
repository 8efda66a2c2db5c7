"""A result's labels at a threshold after its app's post-processing steps.

Without steps the labels are the probabilities' (thresholds.labels_of, block by block).
With steps, the level-0 labels at the threshold are written once into a zarr array
beside the store, the steps run on them block by block (server/measure/postprocess.py),
pixels outside the region are cleared again (a closing must not grow out of it), and
each coarser level takes every other pixel of the one above. The labels are kept per
(steps, threshold level) in the result's folder, a few at a time.

`LabelStore` reads those labels back in the shape of a probability store (255 in the
plane of the pixel's class, zeros elsewhere), so the overlay and the exports, written for
probabilities, show the post-processed labels at any threshold unchanged.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from server.inference.probstore import CHUNK, ProbStore, level_shape, read_window
from server.inference.stats import area_stats, counted_stats
from server.inference.thresholds import labels_of, threshold_level
from server.measure.postprocess import run_steps

BLOCK = 1024  # as measure.objects: a block and its objects bound the memory
KEEP = 4  # post-processed label sets kept per result on disk
DONE = ".complete"


class LabelStore:
    """Post-processed labels, read like a ProbStore (levels, shape, read, histogram)."""

    def __init__(self, path: Path, store: ProbStore) -> None:
        self.path = path
        group = zarr.open_group(str(path), mode="r")
        self.levels = store.levels
        self.arrays = [group[str(k)] for k in range(self.levels)]
        self.num_classes = store.num_classes
        self.width, self.height = store.width, store.height
        self.counts = np.asarray(group.attrs["counts"], dtype=np.int64)  # per label 0..C

    def shape(self, level: int) -> tuple[int, int]:
        """(width, height) of a level."""
        return level_shape(self.width, self.height, level)

    def labels(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """(h, w) labels of a window (0 beyond the level)."""
        return read_window(self.arrays[level], x, y, w, h)

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """(C, h, w) "probabilities": 255 in the plane of each pixel's class."""
        labels = self.labels(level, x, y, w, h)
        planes = np.arange(1, self.num_classes + 1, dtype=np.uint8)[:, None, None]
        return np.where(labels[None] == planes, np.uint8(255), np.uint8(0))


def label_stats(
    store: ProbStore,
    labels: LabelStore | None,
    threshold: float,
    classes: list[dict[str, Any]],
    area_um2: float | None,
) -> dict[str, Any]:
    """The stats payload (inference/stats.py) of the probabilities at a threshold, or of
    the post-processed `labels` (the region stays the probabilities')."""
    body = area_stats(store.histogram, threshold, classes, area_um2)
    if labels is None:
        return body
    per_class = labels.counts[1:].tolist()
    return counted_stats(body["region_pixels"], per_class, threshold, classes, area_um2)


def post_processed(
    store: ProbStore,
    folder: Path,
    steps: list[dict[str, Any]],
    key: str,
    class_ids: list[int],
    pixel_um: float,
    threshold: float,
) -> LabelStore:
    """The labels after `steps` (keyed `key`), made on first use (blocking, compute thread)."""
    name = f"{key}-t{threshold_level(threshold) if threshold > 0 else 0}"
    target = folder / name
    if (target / DONE).is_file():
        target.touch()  # most recently used
        return LabelStore(target, store)
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / f".{name}.{uuid.uuid4().hex[:6]}.tmp"
    try:
        _build(store, work, steps, class_ids, pixel_um, threshold)
        (work / DONE).touch()
        if target.exists():  # made by a concurrent request meanwhile
            shutil.rmtree(work)
        else:
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _prune(folder)
    return LabelStore(target, store)


def _build(
    store: ProbStore,
    work: Path,
    steps: list[dict[str, Any]],
    class_ids: list[int],
    pixel_um: float,
    threshold: float,
) -> None:
    group = zarr.open_group(str(work), mode="w")
    shape = (store.height, store.width)

    def array(name: str) -> zarr.Array:
        return group.zeros(name, shape=shape, chunks=(CHUNK, CHUNK), dtype=np.uint8)

    source = array("threshold")
    for x, y, w, h in _blocks(store.width, store.height):
        source[y : y + h, x : x + w] = labels_of(store.read(0, x, y, w, h), threshold)
    scratch = iter(array(f"step{i}") for i in range(len(steps)))
    labels = run_steps(steps, source, lambda: next(scratch), class_ids, pixel_um, BLOCK)
    counts = np.zeros(store.num_classes + 1, dtype=np.int64)
    level0 = array("0")
    for x, y, w, h in _blocks(store.width, store.height):
        block = np.asarray(labels[y : y + h, x : x + w])
        block[~store.read(0, x, y, w, h).any(axis=0)] = 0  # outside the region
        level0[y : y + h, x : x + w] = block
        counts += np.bincount(block.ravel(), minlength=len(counts))
    finer = level0
    for k in range(1, store.levels):  # each level subsamples the one above it
        lw, lh = level_shape(store.width, store.height, k)
        coarse = group.zeros(str(k), shape=(lh, lw), chunks=(CHUNK, CHUNK), dtype=np.uint8)
        for x, y, w, h in _blocks(lw, lh):
            coarse[y : y + h, x : x + w] = finer[2 * y : 2 * (y + h) : 2, 2 * x : 2 * (x + w) : 2]
        finer = coarse
    for name in ["threshold", *(f"step{i}" for i in range(len(steps)))]:
        del group[name]
    group.attrs["counts"] = counts.tolist()


def _blocks(width: int, height: int) -> list[tuple[int, int, int, int]]:
    return [
        (x, y, min(BLOCK, width - x), min(BLOCK, height - y))
        for y in range(0, height, BLOCK)
        for x in range(0, width, BLOCK)
    ]


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently used label sets."""
    done = [p for p in folder.iterdir() if (p / DONE).is_file()]
    done.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in done[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
