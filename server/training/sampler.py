"""Patch sampling: labelled regions read once into memory, then class-balanced patches.

`load_cache` (blocking: call it inside `compute`) reads the labelled parts of each slide
(inside its ROIs when there are any), with some context around them, at the training
resolution, and rasterises the labels: class index per pixel, `IGNORE` where nobody
labelled. Every slide has one pixel grid at the training resolution: pixel (i, j)
covers level-0 [j·d, (j+1)·d) × [i·d, (i+1)·d) with d = training µm/px ÷ slide µm/px.

`PatchSampler` then draws crops around random labelled pixels, choosing the class first
with probability ∝ pixels_c^(1 − class_balance): with balance 1 (the default) every class
equally often, so rare classes are seen as often as common ones; with 0 as often as they
are labelled (uniform over labelled pixels); in between, rare classes are favoured less.

With a context view (`add_context`, the `context_scale` setting) each crop also carries a
coarser view around it, `context_scale` times its field of view, in channels 3..5.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from server.errors import UserError
from server.jobs import queue as real_queue
from server.jobs import threading as real_threading
from server.slides import raster
from server.slides.raster import polygon_mask, polygons

IGNORE = 255
MAX_CACHE_BYTES = 2 * 1024**3
MAX_CANDIDATES = 200_000  # patch centres kept per class (a uniform subsample)
MIN_BLOCK = 8  # the smallest validation block side, training pixels


@dataclass
class SlideSource:
    """One slide's input to the sampler: where it is and its labels in level-0 pixels."""

    slide_id: str
    name: str
    path: Path
    mpp: float | None
    labels: dict[int, BaseGeometry]  # class index -> (Multi)Polygon
    rois: list[BaseGeometry] = field(default_factory=list)


@dataclass
class Region:
    """A rectangle of one slide held in memory at the training resolution."""

    source: int
    origin: tuple[int, int]  # (x, y) in training pixels of the slide's grid
    image: np.ndarray  # H×W×3 uint8
    label: np.ndarray  # H×W uint8, IGNORE where unlabelled or held out
    val_label: np.ndarray | None = None  # H×W uint8 of the validation hold-out
    context: np.ndarray | None = None  # the context grid's pixels around it (add_context)
    context_origin: tuple[int, int] = (0, 0)  # (x, y) of `context` on the context grid


@dataclass
class LabelCache:
    """All regions of a run, with per-class pixel counts of the training labels."""

    regions: list[Region]
    num_classes: int
    class_pixels: np.ndarray  # training pixels per class
    val_pixels: np.ndarray  # validation pixels per class
    warnings: list[str] = field(default_factory=list)  # about the validation hold-out
    slides: list[tuple[Path, float]] = field(default_factory=list)  # (path, ds) per source
    context: int = 0  # the context views' factor (add_context), 0: none

    @property
    def nbytes(self) -> int:
        """Memory held by the images and labels."""
        total = 0
        for r in self.regions:
            total += r.image.nbytes + r.label.nbytes
            total += r.val_label.nbytes if r.val_label is not None else 0
            total += r.context.nbytes if r.context is not None else 0
        return total


def downsample_for(source: SlideSource, mpp: float) -> float:
    """Level-0 pixels per training pixel; UserError when the slide has no µm/px."""
    if not source.mpp:
        raise UserError(
            f"Slide '{source.name}' does not record its resolution (µm/px)",
            "Training needs a calibrated slide; choose another slide or convert it "
            "with resolution metadata.",
        )
    return raster.downsample(mpp, source.mpp)


def read_rgb(slide: openslide.OpenSlide, x: int, y: int, w: int, h: int, ds: float) -> np.ndarray:
    """Training pixels [x, x+w) × [y, y+h) of the slide's grid at downsample `ds`, as H×W×3.

    `raster.read_box` on the grid anchored at level-0 (0, 0): the same pixels inference
    reads for the same box. Blocking: call it inside `compute`.
    """
    return raster.read_box(slide, x * ds, y * ds, ds, w, h)


def to_grid(geom: BaseGeometry, ds: float) -> BaseGeometry:
    """Level-0 geometry in the training pixel grid (pixel (i, j) spans [j, j+1) × [i, i+1))."""
    return affinity.scale(geom, 1 / ds, 1 / ds, origin=(0, 0))


def clip_to_rois(labels: dict[int, BaseGeometry], rois: list[BaseGeometry]):
    """Labels restricted to the union of the ROIs (unchanged when there are none)."""
    if not rois:
        return dict(labels)
    area = unary_union(rois)
    clipped = {c: g.intersection(area) for c, g in labels.items()}
    return {c: g for c, g in clipped.items() if not g.is_empty and g.area > 0}


def plan_boxes(labels: BaseGeometry, margin: float, width: int, height: int) -> list:
    """Non-overlapping integer boxes (x0, y0, x1, y1) covering the labels plus a margin."""
    return _plan(_bounds(polygons(labels)), margin, width, height)


def _bounds(polys) -> np.ndarray:
    """N×4 bounding boxes (x0, y0, x1, y1) of polygons."""
    if not len(polys):
        return np.zeros((0, 4))
    return shapely.bounds(np.asarray(polys, dtype=object))


def _plan(bounds: np.ndarray, margin: float, width: int, height: int) -> list:
    """`plan_boxes` from the labels' bounding boxes: grown by the margin, overlapping ones
    joined into their bounding box until none overlap, clipped to the grid, rounded out."""
    if not len(bounds):
        return []
    merged = list(shapely.box(*(bounds + [-margin, -margin, margin, margin]).T))
    while True:
        boxes = [box(*p.bounds) for p in polygons(shapely.union_all(merged))]
        if len(boxes) == len(merged):
            break
        merged = boxes
    out = []
    for b in boxes:
        x0, y0, x1, y1 = b.bounds
        x0, y0 = max(math.floor(x0), 0), max(math.floor(y0), 0)
        x1, y1 = min(math.ceil(x1), width), min(math.ceil(y1), height)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1, y1))
    return out


@dataclass
class Shapes:
    """One class's polygons on a slide's training grid, with their bounding boxes, so that
    a region picks the few that reach it without any overlay."""

    polys: np.ndarray  # object array of Polygons
    bounds: np.ndarray  # N×4

    @classmethod
    def of(cls, geom: BaseGeometry) -> Shapes:
        """The polygons of a (multi/collection) geometry."""
        polys = np.asarray(polygons(geom), dtype=object)
        return cls(polys, _bounds(polys))

    def near(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """The polygons whose bounding box overlaps the rectangle."""
        b = self.bounds
        hit = (b[:, 0] < x1) & (b[:, 2] > x0) & (b[:, 1] < y1) & (b[:, 3] > y0)
        return self.polys[hit]


def rasterize(labels: dict[int, BaseGeometry | Shapes], origin: tuple[int, int], shape):
    """Class index per pixel of a region (grid geometry in), IGNORE where unlabelled.

    Parts of a label thinner than one pixel are removed first (a morphological opening:
    shrink by half a pixel, grow back); the rest labels the pixels whose centre it covers.
    Only the polygons that reach the region are opened, each whole, so a region's border
    never cuts one.
    """
    h, w = shape
    out = np.full((h, w), IGNORE, np.uint8)
    x0, y0 = origin
    for cls, geom in labels.items():
        shapes = geom if isinstance(geom, Shapes) else Shapes.of(geom)
        near = shapes.near(x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1)
        if len(near):
            out[polygon_mask(_open(near), (h, w), origin)] = cls
    return out


def opened(geom: BaseGeometry) -> BaseGeometry:
    """`geom` without its parts thinner than one pixel (shrunk by half a pixel, grown back).

    Each polygon is opened on its own (the parts of a valid (Multi)Polygon meet at most at
    points), as a collection whose parts may overlap: `polygon_mask` counts their union.
    """
    parts = np.asarray(polygons(geom), dtype=object)
    if not len(parts):
        return geom
    return shapely.GeometryCollection(_open(parts))


def _open(parts: np.ndarray) -> list[Polygon]:
    """Opened polygons (their union is the opening of the parts' union).

    Growing a polygon with holes back is done without an overlay: growing P = S minus its
    holes Hᵢ by r is growing S by r minus each Hᵢ shrunk by r, so the outline and the holes
    are buffered on their own and put together. A large label with thousands of holes (the
    nuclei painted into it) opens in a fraction of the time GEOS takes for the whole.
    """
    shrunk = shapely.get_parts(shapely.buffer(parts, -0.5))
    shrunk = shrunk[~shapely.is_empty(shrunk)]
    holed = shapely.get_num_interior_rings(shrunk) > 0
    out = list(shapely.buffer(shrunk[~holed], 0.5, join_style="mitre"))
    for poly in shrunk[holed]:
        shell = shapely.buffer(Polygon(poly.exterior), 0.5, join_style="mitre")
        holes = shapely.buffer(shapely.polygons(list(poly.interiors)), -0.5, join_style="mitre")
        kept = [h.exterior for h in shapely.get_parts(holes) if not h.is_empty]
        out.append(Polygon(shell.exterior, [*shell.interiors, *kept]))
    return [g for g in out if not g.is_empty]


def load_cache(
    sources: list[SlideSource],
    mpp: float,
    crop: int,
    class_names: list[str],
    validation_fraction: float = 0.0,
    seed: int = 0,
    max_bytes: int = MAX_CACHE_BYTES,
    progress: Progress | None = None,
    workers: int = 1,
) -> LabelCache:
    """Read every slide's labelled regions at `mpp` and rasterise them (blocking).

    `progress(done, total)` is called (from the working threads) as regions are done;
    `workers` threads read and rasterise regions side by side (OpenSlide and GEOS let go
    of the GIL). Raises UserError for: no labels, fewer than two classes labelled, a
    class whose labels vanish at this resolution, a cache over `max_bytes`, an unreadable
    slide.
    """
    num_classes = len(class_names)
    plans = []
    for index, source in enumerate(sources):
        ds = downsample_for(source, mpp)
        labels = clip_to_rois(source.labels, source.rois)
        grid = {c: Shapes.of(to_grid(g, ds)) for c, g in labels.items() if not g.is_empty}
        plans.append((index, source, ds, {c: s for c, s in grid.items() if len(s.polys)}))
    _check_labelled(plans, class_names, any(s.rois for s in sources))
    planned = [(p, b) for p in plans for b in _boxes_for(p, crop)]
    per_pixel = 5 if validation_fraction else 4  # RGB + label (+ held-out label)
    need = sum((b[2] - b[0]) * (b[3] - b[1]) for _, b in planned) * per_pixel
    if need > max_bytes:
        raise UserError(
            f"The labelled regions need {need / 1024**3:.1f} GiB at {mpp:g} µm/px; "
            f"the training cache holds {max_bytes / 1024**3:.1f} GiB",
            "Train at a coarser resolution (larger µm/px), draw an ROI, or label less area.",
        )
    regions = parallel_map(_load_region, planned, workers, progress)
    rng = np.random.default_rng(seed)
    warnings = split_holdout(regions, crop, validation_fraction, rng, class_names)
    cache = LabelCache(regions, num_classes, *_count(regions, num_classes), warnings)
    cache.slides = [(s.path, ds) for _, s, ds, _ in plans]
    _check_vanished(cache, plans, class_names, mpp)
    return cache


def add_context(cache: LabelCache, factor: int, crop: int, workers: int = 1) -> None:
    """Read each region's context views (blocking): the pixels of the context grid (the
    training grid's origin, `factor` times its scale) that the context view of any crop
    drawn from the region covers. A crop's view is `factor` times its field of view,
    centred on it, `crop` pixels a side (`raster.context_origin`); `PatchSampler` places
    crops so that it is a slice of these pixels, which inference reads the same way."""

    def load(region: Region) -> None:
        path, ds = cache.slides[region.source]
        h, w = region.image.shape[:2]
        x0, y0 = region.origin
        # Crops start within a crop (and a snap) before the region, or inside it.
        lo = raster.context_origin(x0 - crop - factor, y0 - crop - factor, crop, factor)
        hi = raster.context_origin(x0 + w + factor, y0 + h + factor, crop, factor)
        scale = ds * factor
        with openslide.OpenSlide(str(path)) as slide:
            width, height = hi[0] + crop - lo[0], hi[1] + crop - lo[1]
            region.context = raster.read_box(
                slide, lo[0] * scale, lo[1] * scale, scale, width, height
            )
        region.context_origin = lo

    parallel_map(load, cache.regions, workers)
    cache.context = factor


Progress = Callable[[int, int], None]


def parallel_map(fn: Callable, items: list, workers: int, progress: Progress | None = None):
    """[fn(item) for item in items] in up to `workers` real OS threads (also inside the
    eventlet server), in order; `progress(done, total)` after each item; the first error
    is raised once every thread has stopped."""
    total = len(items)
    results: list = [None] * total
    if progress:
        progress(0, total)
    todo: real_queue.Queue[int] = real_queue.Queue()
    for index in range(total):
        todo.put(index)
    lock = real_threading.Lock()
    errors: list[BaseException] = []
    done = 0

    def work() -> None:
        nonlocal done
        while not errors:
            try:
                index = todo.get_nowait()
            except real_queue.Empty:
                return
            try:
                results[index] = fn(items[index])
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
                return
            with lock:
                done += 1
                if progress:
                    progress(done, total)

    helpers = max(0, min(workers, total) - 1)
    threads = [real_threading.Thread(target=work, daemon=True) for _ in range(helpers)]
    for thread in threads:
        thread.start()
    work()  # this thread works too
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _load_region(item) -> Region:
    (index, source, ds, grid), (x0, y0, x1, y1) = item
    image = _read_source(source, x0, y0, x1 - x0, y1 - y0, ds)
    return Region(index, (x0, y0), image, rasterize(grid, (x0, y0), image.shape[:2]))


def _boxes_for(plan, crop: int) -> list:
    _, source, ds, grid = plan
    if not grid:
        return []
    width, height = _grid_size(source, ds)
    # Only the labels' bounding boxes matter here: no need to union the classes.
    bounds = np.concatenate([s.bounds for s in grid.values()])
    return _plan(bounds, crop / 2, width, height)


def _grid_size(source: SlideSource, ds: float) -> tuple[int, int]:
    try:
        with openslide.OpenSlide(str(source.path)) as slide:
            w, h = slide.dimensions
    except Exception as exc:  # OpenSlide raises several types for bad or missing files
        raise _unreadable(source, exc) from exc
    return raster.grid_size(w, h, ds)


def _read_source(source: SlideSource, x: int, y: int, w: int, h: int, ds: float) -> np.ndarray:
    try:
        with openslide.OpenSlide(str(source.path)) as slide:
            return read_rgb(slide, x, y, w, h, ds)
    except Exception as exc:
        raise _unreadable(source, exc) from exc


def _unreadable(source: SlideSource, exc: Exception) -> UserError:
    return UserError(
        f"Slide '{source.name}' could not be read: {exc}",
        "Check that the file is still in the slide folder and not damaged, then rescan.",
    )


def _check_labelled(plans, class_names: list[str], has_rois: bool) -> None:
    labelled = {c for _, _, _, grid in plans for c in grid}
    where = " inside the ROIs" if has_rois else ""
    if not labelled:
        raise UserError(
            f"There are no labels{where} on the chosen slides",
            "Paint at least two classes on a slide before training.",
        )
    if len(labelled) < 2:
        only = class_names[next(iter(labelled))]
        raise UserError(
            f"Only one class ('{only}') is labelled{where}; training needs at least two",
            "Paint another class, e.g. the background or the tissue around it.",
        )


def _check_vanished(cache: LabelCache, plans, class_names: list[str], mpp: float) -> None:
    present = {c for _, _, _, grid in plans for c in grid}
    total = cache.class_pixels + cache.val_pixels
    gone = [class_names[c] for c in sorted(present) if total[c] == 0]
    if gone:
        names = ", ".join(f"'{n}'" for n in gone)
        raise UserError(
            f"The labels of {names} are thinner than one pixel at {mpp:g} µm/px and vanish",
            "Train at a finer resolution (smaller µm/px) or paint wider strokes.",
        )
    if int((cache.class_pixels > 0).sum()) < 2:
        raise UserError(
            "Fewer than two classes keep labelled pixels for training",
            "Label more area, or lower the validation hold-out.",
        )


def split_holdout(
    regions: list[Region],
    crop: int,
    fraction: float,
    rng: np.random.Generator,
    class_names: list[str],
) -> list[str]:
    """Hold out square blocks of labelled pixels for validation (in place); returns warnings.

    Blocks are crop-sized (so a training patch and a validation patch rarely share labels),
    and about `fraction` of the labelled blocks are held out, chosen at random. Every class
    must keep training pixels and get validation pixels: the choice is repaired (blocks given
    back to training, or a block of a missing class held out) and, when the labels are too
    few for that, made again with smaller blocks (half, a quarter of a crop). When even that
    fails the run trains on every label without a validation, and the warning says why.
    """
    if fraction <= 0 or not regions:
        return []
    num_classes = len(class_names)
    counts = np.zeros((0, num_classes), np.int64)
    for size in _block_sizes(crop):
        grids, counts = _block_counts(regions, size, num_classes)
        held = _choose_blocks(counts, fraction, rng)
        if held is None:
            continue
        _apply_holdout(regions, grids, held, size)
        if size == crop:
            return []
        return [
            f"The labels are few: validation blocks are {size} px instead of a patch "
            f"({crop} px), so validation patches share more with training patches."
        ]
    return [_no_holdout_warning(counts, class_names)]


def _block_sizes(crop: int) -> list[int]:
    return list(dict.fromkeys(s for s in (crop, crop // 2, crop // 4) if s >= MIN_BLOCK))


def _block_counts(
    regions: list[Region], size: int, num_classes: int
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Each region's block grid (rows, cols), and labelled pixels per block and class (B×C)."""
    grids, parts = [], []
    bins = num_classes + 1  # the last bin collects IGNORE
    for region in regions:
        h, w = region.label.shape
        rows, cols = math.ceil(h / size), math.ceil(w / size)
        col_of = (np.arange(w, dtype=np.int64) // size) * bins
        counts = np.zeros((rows, cols * bins), np.int64)
        for r in range(rows):  # one band of blocks at a time: bounded temporary memory
            band = np.minimum(region.label[r * size : (r + 1) * size], num_classes)
            counts[r] = np.bincount((band + col_of).ravel(), minlength=cols * bins)
        grids.append((rows, cols))
        parts.append(counts.reshape(rows * cols, bins)[:, :num_classes])
    return grids, np.concatenate(parts)


def _choose_blocks(counts: np.ndarray, fraction: float, rng: np.random.Generator):
    """Which blocks to hold out (bool per block), or None when no choice gives every labelled
    class both training and validation pixels."""
    labelled = np.flatnonzero(counts.sum(1) > 0)
    if len(labelled) < 2:
        return None
    held = np.zeros(len(counts), bool)
    held[rng.permutation(labelled)[: max(1, round(fraction * len(labelled)))]] = True
    present = counts.sum(0) > 0
    for _ in range(len(labelled) + counts.shape[1] + 1):
        train, val = counts[~held].sum(0), counts[held].sum(0)
        lacking = np.flatnonzero(present & (train == 0))
        if len(lacking):  # give the held block with most of that class back to training
            c = lacking[0]
            held[np.argmax(np.where(held, counts[:, c], -1))] = False
            continue
        lacking = np.flatnonzero(present & (val == 0))
        if not len(lacking):
            return held
        c = lacking[0]
        keeps = ((train[None, :] - counts) > 0) | ~present[None, :]
        options = np.flatnonzero(~held & (counts[:, c] > 0) & keeps.all(1))
        if not len(options):
            return None
        held[options[np.argmin(counts[options].sum(1))]] = True  # the smallest loss to training
    return None


def _apply_holdout(regions: list[Region], grids, held: np.ndarray, size: int) -> None:
    start = 0
    for region, (rows, cols) in zip(regions, grids, strict=True):
        blocks = held[start : start + rows * cols].reshape(rows, cols)
        start += rows * cols
        if not blocks.any():
            continue
        h, w = region.label.shape
        mask = np.repeat(np.repeat(blocks, size, 0), size, 1)[:h, :w]
        region.val_label = np.where(mask, region.label, IGNORE).astype(np.uint8)
        region.label = np.where(mask, IGNORE, region.label).astype(np.uint8)


def _no_holdout_warning(counts: np.ndarray, class_names: list[str]) -> str:
    """Why there is no validation: the classes whose labels lie in one small block."""
    blocks_of = (counts > 0).sum(0)
    few = [class_names[c] for c in np.flatnonzero((blocks_of > 0) & (blocks_of < 2))]
    where = f" of {', '.join(repr(n) for n in few)}" if few else ""
    return (
        f"No validation: the labels{where} are too few to hold part of every class out. "
        "The run trains on every label and the app keeps the last weights; paint more "
        "(in more than one place) to get validation figures."
    )


def _count(regions: list[Region], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    train = np.zeros(num_classes, np.int64)
    val = np.zeros(num_classes, np.int64)
    for r in regions:
        train += np.bincount(r.label.ravel(), minlength=256)[:num_classes]
        if r.val_label is not None:
            val += np.bincount(r.val_label.ravel(), minlength=256)[:num_classes]
    return train, val


def candidates(
    regions: list[Region], num_classes: int, rng: np.random.Generator, val: bool = False
) -> dict[int, np.ndarray]:
    """class -> K×3 int32 (region, y, x) of labelled pixels, at most MAX_CANDIDATES each."""
    found: dict[int, list[np.ndarray]] = {c: [] for c in range(num_classes)}
    for index, region in enumerate(regions):
        label = region.val_label if val else region.label
        if label is None:
            continue
        for c in range(num_classes):
            ys, xs = np.nonzero(label == c)
            if len(ys):
                found[c].append(np.stack([np.full_like(ys, index), ys, xs], 1).astype(np.int32))
    out = {}
    for c, parts in found.items():
        if not parts:
            continue
        rows = np.concatenate(parts)
        if len(rows) > MAX_CANDIDATES:
            rows = rows[np.sort(rng.choice(len(rows), MAX_CANDIDATES, replace=False))]
        out[c] = rows
    return out


def iterations_for_passes(passes: float, labelled: int, batch: int, patch: int) -> int:
    """Iterations whose patches (batch × patch² pixels each) add up to `passes` times the
    labelled training pixels (at least 1)."""
    return max(1, math.ceil(passes * labelled / (batch * patch * patch)))


def class_probabilities(pixels: np.ndarray, balance: float) -> np.ndarray:
    """How often each class is chosen as a patch centre: ∝ pixels_c^(1 − balance) over the
    classes with pixels (0 for the others). balance 0: as labelled (uniform over labelled
    pixels), 1: every class equally often."""
    pixels = np.asarray(pixels, np.float64)
    present = pixels > 0
    weights = np.zeros_like(pixels)
    # In log space: (1 − balance) · log(pixels) cannot overflow for any count.
    logs = (1.0 - balance) * np.log(pixels[present])
    weights[present] = np.exp(logs - logs.max())
    return weights / weights.sum()


class PatchSampler:
    """Draws crops around labelled pixels from a LabelCache, choosing the class first (see
    `class_probabilities`); its random state can be saved."""

    def __init__(
        self,
        cache: LabelCache,
        crop: int,
        seed: int = 0,
        inner: int | None = None,
        balance: float = 1.0,
    ):
        """`inner`: side of the centred window the drawn labelled pixel lands in (default:
        the whole crop); augmentation that zooms in keeps at least that window.
        `balance`: the class balance of the patch centres, 0..1."""
        self.cache = cache
        self.crop = crop
        self.context = cache.context  # crops carry their context view in channels 3..5
        if self.context and crop % 2:
            raise ValueError("crops with a context view need an even size")
        self.channels = 6 if self.context else 3
        self.inner = min(inner or crop, crop)
        self.rng = np.random.default_rng(seed)
        self.centres = candidates(cache.regions, cache.num_classes, np.random.default_rng(seed))
        self.classes = sorted(self.centres)
        self.balance = balance
        pixels = np.asarray([cache.class_pixels[c] for c in self.classes])
        # Balance 1 keeps the plain uniform draw (and the random sequence of older runs).
        self.probabilities = None if balance >= 1 else class_probabilities(pixels, balance)
        self.as_labelled = class_probabilities(pixels, 0.0)

    def draw_classes(
        self, count: int, rng: np.random.Generator, as_labelled: bool = False
    ) -> np.ndarray:
        """`count` class positions (indices into `self.classes`) for patch centres; with
        `as_labelled`, uniform over labelled pixels whatever the balance."""
        if as_labelled:
            return rng.choice(len(self.classes), size=count, p=self.as_labelled)
        if self.probabilities is None:
            return rng.integers(len(self.classes), size=count)
        return rng.choice(len(self.classes), size=count, p=self.probabilities)

    def draw(
        self,
        batch: int,
        rng: np.random.Generator | None = None,
        out=None,
        as_labelled: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`batch` crops: images B×C×C×3 uint8 and labels B×C×C uint8 (C = crop size).

        `rng` replaces the sampler's own random state (which then does not advance);
        `out` is an (images, labels) pair of arrays to fill, e.g. views of pinned memory;
        `as_labelled` draws centres uniformly over labelled pixels, whatever the balance."""
        rng = rng or self.rng
        picks = self.draw_classes(batch, rng, as_labelled)
        rows = []
        for k in picks:
            centres = self.centres[self.classes[k]]
            rows.append(centres[rng.integers(len(centres))])
        margin = (self.crop - self.inner) // 2
        offsets = margin + rng.integers(self.inner, size=(batch, 2))
        return self._crops(rows, offsets, val=False, out=out)

    def validation_set(self, batches: int, batch: int, seed: int) -> list:
        """Fixed batches of centred crops from the held-out pixels ([] without a hold-out)."""
        rng = np.random.default_rng(seed + 1)
        centres = candidates(self.cache.regions, self.cache.num_classes, rng, val=True)
        if len(centres) < 1:
            return []
        classes = sorted(centres)
        out = []
        for _ in range(batches):
            rows = [
                centres[c][rng.integers(len(centres[c]))]
                for c in (classes[k] for k in rng.integers(len(classes), size=batch))
            ]
            offsets = np.full((batch, 2), self.crop // 2)
            out.append(self._crops(rows, offsets, val=True))
        return out

    def _crops(self, rows, offsets, val: bool, out=None) -> tuple[np.ndarray, np.ndarray]:
        c = self.crop
        if out is None:
            out = (
                np.empty((len(rows), c, c, self.channels), np.uint8),
                np.empty((len(rows), c, c), np.uint8),
            )
        images, labels = out
        labels.fill(IGNORE)
        for i, ((index, y, x), (oy, ox)) in enumerate(zip(rows, offsets, strict=True)):
            region = self.cache.regions[index]
            label = region.val_label if val else region.label
            top, left = int(y) - int(oy), int(x) - int(ox)
            if self.context:
                top = self._snap(top, int(y), region.origin[1])
                left = self._snap(left, int(x), region.origin[0])
                images[i, ..., 3:] = self._context(region, top, left)
            h, w = label.shape
            y0, y1 = max(top, 0), min(top + c, h)
            x0, x1 = max(left, 0), min(left + c, w)
            # Past the region (the slide's edge, or context not read) the image is mirrored,
            # as inference mirrors windows past a slide's edge; labels there are ignored.
            part = region.image[y0:y1, x0:x1]
            pad = ((y0 - top, top + c - y1), (x0 - left, left + c - x1), (0, 0))
            crop = np.pad(part, pad, mode="symmetric") if part.shape[:2] != (c, c) else part
            images[i, ..., :3] = crop
            labels[i, y0 - top : y1 - top, x0 - left : x1 - left] = label[y0:y1, x0:x1]
        return images, labels

    def _snap(self, start: int, at: int, origin: int) -> int:
        """A crop start moved (by less than the context factor) so that the crop's centre
        lies on a multiple of the factor on the slide's grid, keeping pixel `at` inside."""
        k, c = self.context, self.crop
        shift = (origin + start + c // 2) % k
        return start - shift if at - start + shift < c else start + k - shift

    def _context(self, region: Region, top: int, left: int) -> np.ndarray:
        """The context view of the crop at (top, left) of the region: a slice of its
        context pixels (mirrored where the slice would leave them, which a snap never
        needs)."""
        c = self.crop
        x, y = raster.context_origin(
            region.origin[0] + left, region.origin[1] + top, c, self.context
        )
        x -= region.context_origin[0]
        y -= region.context_origin[1]
        assert region.context is not None, "add_context first"
        view = region.context[max(y, 0) : y + c, max(x, 0) : x + c]
        if view.shape[:2] == (c, c):
            return view
        before_y, before_x = max(-y, 0), max(-x, 0)
        pad = (
            (before_y, c - view.shape[0] - before_y),
            (before_x, c - view.shape[1] - before_x),
            (0, 0),
        )
        return np.pad(view, pad, mode="symmetric")

    def state_dict(self) -> dict[str, Any]:
        """The random state (plain ints and strings, safe for weights-only loading)."""
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the random sequence saved by `state_dict`."""
        self.rng.bit_generator.state = state["bit_generator"]
