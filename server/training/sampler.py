"""Patch sampling: labelled regions read once into memory, then class-balanced patches.

`load_cache` (blocking: call it inside `compute`) reads the labelled parts of each slide
(inside its ROIs when there are any), with some context around them, at the training
resolution, and rasterises the labels: class index per pixel, `IGNORE` where nobody
labelled. Every slide has one pixel grid at the training resolution: pixel (i, j)
covers level-0 [j·d, (j+1)·d) × [i·d, (i+1)·d) with d = training µm/px ÷ slide µm/px.

`PatchSampler` then draws crops around random labelled pixels, choosing the class first
(uniformly), so rare classes are seen as often as common ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import shapely
from PIL import Image
from shapely import affinity
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from server.training.errors import TrainingError

IGNORE = 255
MAX_CACHE_BYTES = 2 * 1024**3
MAX_CANDIDATES = 200_000  # patch centres kept per class (a uniform subsample)
READ_CHUNK = 2048  # target pixels per OpenSlide read, to bound temporary memory
WHITE = (255, 255, 255)


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


@dataclass
class LabelCache:
    """All regions of a run, with per-class pixel counts of the training labels."""

    regions: list[Region]
    num_classes: int
    class_pixels: np.ndarray  # training pixels per class
    val_pixels: np.ndarray  # validation pixels per class

    @property
    def nbytes(self) -> int:
        """Memory held by the images and labels."""
        total = 0
        for r in self.regions:
            total += r.image.nbytes + r.label.nbytes
            total += r.val_label.nbytes if r.val_label is not None else 0
        return total


def downsample_for(source: SlideSource, mpp: float) -> float:
    """Level-0 pixels per training pixel; TrainingError when the slide has no µm/px."""
    if not source.mpp:
        raise TrainingError(
            f"Slide '{source.name}' does not record its resolution (µm/px)",
            "Training needs a calibrated slide; choose another slide or convert it "
            "with resolution metadata.",
        )
    return mpp / source.mpp


def read_rgb(slide: openslide.OpenSlide, x: int, y: int, w: int, h: int, ds: float) -> np.ndarray:
    """Training pixels [x, x+w) × [y, y+h) of the slide's grid at downsample `ds`, as H×W×3.

    Reads the best pyramid level and resizes; transparent (outside the scanned area)
    becomes white. Blocking: call it inside `compute`.
    """
    out = np.empty((h, w, 3), np.uint8)
    for cy in range(0, h, READ_CHUNK):
        for cx in range(0, w, READ_CHUNK):
            cw, ch = min(READ_CHUNK, w - cx), min(READ_CHUNK, h - cy)
            out[cy : cy + ch, cx : cx + cw] = _read_chunk(slide, x + cx, y + cy, cw, ch, ds)
    return out


def _read_chunk(slide: openslide.OpenSlide, x: int, y: int, w: int, h: int, ds: float):
    level = slide.get_best_level_for_downsample(max(ds, 1.0))
    level_ds = slide.level_downsamples[level]
    x0, y0 = round(x * ds), round(y * ds)
    lw = max(1, math.ceil(w * ds / level_ds))
    lh = max(1, math.ceil(h * ds / level_ds))
    rgba = slide.read_region((x0, y0), level, (lw, lh))
    rgb = Image.new("RGB", rgba.size, WHITE)
    rgb.paste(rgba, mask=rgba.getchannel("A"))
    if rgb.size != (w, h):
        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def to_grid(geom: BaseGeometry, ds: float) -> BaseGeometry:
    """Level-0 geometry in the training pixel grid (pixel (i, j) spans [j, j+1) × [i, i+1))."""
    return affinity.scale(geom, 1 / ds, 1 / ds, origin=(0, 0))


def polygons(geom: BaseGeometry) -> list[Polygon]:
    """The polygons of any (multi/collection) geometry."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [p for g in getattr(geom, "geoms", []) for p in polygons(g)]


def clip_to_rois(labels: dict[int, BaseGeometry], rois: list[BaseGeometry]):
    """Labels restricted to the union of the ROIs (unchanged when there are none)."""
    if not rois:
        return dict(labels)
    area = unary_union(rois)
    clipped = {c: g.intersection(area) for c, g in labels.items()}
    return {c: g for c, g in clipped.items() if not g.is_empty and g.area > 0}


def plan_boxes(labels: BaseGeometry, margin: float, width: int, height: int) -> list:
    """Non-overlapping integer boxes (x0, y0, x1, y1) covering the labels plus a margin."""
    parts = [box(*p.bounds).buffer(margin, join_style="mitre") for p in polygons(labels)]
    limit = box(0, 0, width, height)
    merged = parts
    while True:
        union = unary_union(merged)
        boxes = [box(*p.bounds) for p in polygons(union)]
        if len(boxes) == len(merged):
            break
        merged = boxes
    out = []
    for b in boxes:
        clipped = b.intersection(limit)
        if clipped.is_empty:
            continue
        x0, y0, x1, y1 = clipped.bounds
        x0, y0 = math.floor(x0), math.floor(y0)
        x1, y1 = math.ceil(x1), math.ceil(y1)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1, y1))
    return out


def rasterize(labels: dict[int, BaseGeometry], origin: tuple[int, int], shape) -> np.ndarray:
    """Class index per pixel of a region (grid geometry in), IGNORE where unlabelled.

    Parts of a label thinner than one pixel are removed first (a morphological opening:
    shrink by half a pixel, grow back); the rest labels the pixels whose centre it covers.
    """
    h, w = shape
    out = np.full((h, w), IGNORE, np.uint8)
    frame = box(origin[0] - 2, origin[1] - 2, origin[0] + w + 2, origin[1] + h + 2)
    for cls, geom in labels.items():
        local = geom.intersection(frame)
        if local.is_empty:
            continue
        local = affinity.translate(local, -origin[0], -origin[1])
        out[polygon_mask(opened(local), (h, w))] = cls
    return out


def opened(geom: BaseGeometry) -> BaseGeometry:
    """`geom` without its parts thinner than one pixel (shrunk by half a pixel, grown back).

    Each polygon is opened on its own: the parts of a valid (Multi)Polygon meet at most at
    points, so the result is the same as opening the whole, without GEOS unioning
    thousands of buffered parts again (seconds for a few thousand painted nuclei).
    """
    parts = np.array(polygons(geom), dtype=object)
    if not len(parts):
        return geom
    grown = shapely.buffer(shapely.buffer(parts, -0.5), 0.5, join_style="mitre")
    return shapely.GeometryCollection([g for g in grown if not g.is_empty])


def polygon_mask(geom: BaseGeometry, shape) -> np.ndarray:
    """Pixels whose centre (j + 0.5, i + 0.5) lies inside the geometry (even-odd scanlines).

    Every ring of every polygon is one set of edges, so holes, and islands inside holes,
    come out right; each edge adds a crossing to the pixel rows whose centre line it spans.
    """
    h, w = shape
    rings = [np.asarray(r.coords) for p in polygons(geom) for r in (p.exterior, *p.interiors)]
    if not rings:
        return np.zeros((h, w), bool)
    edges = np.concatenate([np.hstack([r[:-1], r[1:]]) for r in rings])
    x0, y0, x1, y1 = edges.T
    ylo, yhi = np.minimum(y0, y1), np.maximum(y0, y1)
    first = np.clip(np.ceil(ylo - 0.5), 0, h).astype(np.int64)  # rows with ylo <= r+.5 < yhi
    stop = np.clip(np.ceil(yhi - 0.5), 0, h).astype(np.int64)
    count = np.maximum(stop - first, 0)
    edge = np.repeat(np.arange(len(edges)), count)
    rows = first[edge] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    yc = rows + 0.5
    xs = x0[edge] + (yc - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    starts = np.clip(np.ceil(xs[0::2] - 0.5), 0, w).astype(np.int64)
    ends = np.clip(np.ceil(xs[1::2] - 0.5), 0, w).astype(np.int64)
    diff = np.zeros((h, w + 1), np.int8)
    np.add.at(diff, (rows[0::2], starts), 1)
    np.add.at(diff, (rows[0::2], ends), -1)
    return np.cumsum(diff, axis=1, dtype=np.int8)[:, :w] > 0


def load_cache(
    sources: list[SlideSource],
    mpp: float,
    crop: int,
    class_names: list[str],
    validation_fraction: float = 0.0,
    seed: int = 0,
    max_bytes: int = MAX_CACHE_BYTES,
) -> LabelCache:
    """Read every slide's labelled regions at `mpp` and rasterise them (blocking).

    Raises TrainingError for: no labels, fewer than two classes labelled, a class whose
    labels vanish at this resolution, a cache over `max_bytes`, an unreadable slide.
    """
    num_classes = len(class_names)
    plans = []
    for index, source in enumerate(sources):
        ds = downsample_for(source, mpp)
        labels = clip_to_rois(source.labels, source.rois)
        grid = {c: to_grid(g, ds) for c, g in labels.items() if not g.is_empty}
        plans.append((index, source, ds, grid))
    _check_labelled(plans, class_names, any(s.rois for s in sources))
    rng = np.random.default_rng(seed)
    regions = []
    planned = [(p, b) for p in plans for b in _boxes_for(p, crop)]
    per_pixel = 5 if validation_fraction else 4  # RGB + label (+ held-out label)
    need = sum((b[2] - b[0]) * (b[3] - b[1]) for _, b in planned) * per_pixel
    if need > max_bytes:
        raise TrainingError(
            f"The labelled regions need {need / 1024**3:.1f} GiB at {mpp:g} µm/px; "
            f"the training cache holds {max_bytes / 1024**3:.1f} GiB",
            "Train at a coarser resolution (larger µm/px), draw an ROI, or label less area.",
        )
    for (index, source, ds, grid), (x0, y0, x1, y1) in planned:
        image = _read_source(source, x0, y0, x1 - x0, y1 - y0, ds)
        label = rasterize(grid, (x0, y0), image.shape[:2])
        region = Region(index, (x0, y0), image, label)
        regions.append(_split(region, crop, validation_fraction, rng))
    cache = LabelCache(regions, num_classes, *_count(regions, num_classes))
    _check_vanished(cache, plans, class_names, mpp)
    return cache


def _boxes_for(plan, crop: int) -> list:
    _, source, ds, grid = plan
    if not grid:
        return []
    width, height = _grid_size(source, ds)
    # Only the labels' bounding boxes matter here: no need to union the classes.
    labels = shapely.GeometryCollection([p for g in grid.values() for p in polygons(g)])
    return plan_boxes(labels, crop / 2, width, height)


def _grid_size(source: SlideSource, ds: float) -> tuple[int, int]:
    try:
        with openslide.OpenSlide(str(source.path)) as slide:
            w, h = slide.dimensions
    except Exception as exc:  # OpenSlide raises several types for bad or missing files
        raise _unreadable(source, exc) from exc
    return math.ceil(w / ds), math.ceil(h / ds)


def _read_source(source: SlideSource, x: int, y: int, w: int, h: int, ds: float) -> np.ndarray:
    try:
        with openslide.OpenSlide(str(source.path)) as slide:
            return read_rgb(slide, x, y, w, h, ds)
    except Exception as exc:
        raise _unreadable(source, exc) from exc


def _unreadable(source: SlideSource, exc: Exception) -> TrainingError:
    return TrainingError(
        f"Slide '{source.name}' could not be read: {exc}",
        "Check that the file is still in the slide folder and not damaged, then rescan.",
    )


def _check_labelled(plans, class_names: list[str], has_rois: bool) -> None:
    labelled = {c for _, _, _, grid in plans for c in grid}
    where = " inside the ROIs" if has_rois else ""
    if not labelled:
        raise TrainingError(
            f"There are no labels{where} on the chosen slides",
            "Paint at least two classes on a slide before training.",
        )
    if len(labelled) < 2:
        only = class_names[next(iter(labelled))]
        raise TrainingError(
            f"Only one class ('{only}') is labelled{where}; training needs at least two",
            "Paint another class, e.g. the background or the tissue around it.",
        )


def _check_vanished(cache: LabelCache, plans, class_names: list[str], mpp: float) -> None:
    present = {c for _, _, _, grid in plans for c in grid}
    total = cache.class_pixels + cache.val_pixels
    gone = [class_names[c] for c in sorted(present) if total[c] == 0]
    if gone:
        names = ", ".join(f"'{n}'" for n in gone)
        raise TrainingError(
            f"The labels of {names} are thinner than one pixel at {mpp:g} µm/px and vanish",
            "Train at a finer resolution (smaller µm/px) or paint wider strokes.",
        )
    if int((cache.class_pixels > 0).sum()) < 2:
        raise TrainingError(
            "Fewer than two classes keep labelled pixels for training",
            "Label more area, or lower the validation hold-out.",
        )


def _split(region: Region, crop: int, fraction: float, rng: np.random.Generator) -> Region:
    """Hold out square blocks of labelled pixels for validation (none when fraction is 0)."""
    if fraction <= 0:
        return region
    h, w = region.label.shape
    blocks = rng.random((math.ceil(h / crop), math.ceil(w / crop))) < fraction
    held = np.repeat(np.repeat(blocks, crop, 0), crop, 1)[:h, :w]
    region.val_label = np.where(held, region.label, IGNORE).astype(np.uint8)
    region.label = np.where(held, IGNORE, region.label).astype(np.uint8)
    return region


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


class PatchSampler:
    """Draws class-balanced crops from a LabelCache; its random state can be saved."""

    def __init__(self, cache: LabelCache, crop: int, seed: int = 0, inner: int | None = None):
        """`inner`: side of the centred window the drawn labelled pixel lands in (default:
        the whole crop); augmentation that zooms in keeps at least that window."""
        self.cache = cache
        self.crop = crop
        self.inner = min(inner or crop, crop)
        self.rng = np.random.default_rng(seed)
        self.centres = candidates(cache.regions, cache.num_classes, np.random.default_rng(seed))
        self.classes = sorted(self.centres)

    def draw(
        self, batch: int, rng: np.random.Generator | None = None, out=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`batch` crops: images B×C×C×3 uint8 and labels B×C×C uint8 (C = crop size).

        `rng` replaces the sampler's own random state (which then does not advance);
        `out` is an (images, labels) pair of arrays to fill, e.g. views of pinned memory."""
        rng = rng or self.rng
        picks = rng.integers(len(self.classes), size=batch)
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
            out = np.empty((len(rows), c, c, 3), np.uint8), np.empty((len(rows), c, c), np.uint8)
        images, labels = out
        labels.fill(IGNORE)
        for i, ((index, y, x), (oy, ox)) in enumerate(zip(rows, offsets, strict=True)):
            region = self.cache.regions[index]
            label = region.val_label if val else region.label
            top, left = int(y) - int(oy), int(x) - int(ox)
            h, w = label.shape
            y0, y1 = max(top, 0), min(top + c, h)
            x0, x1 = max(left, 0), min(left + c, w)
            # Past the region (the slide's edge, or context not read) the image is mirrored,
            # as inference mirrors windows past a slide's edge; labels there are ignored.
            part = region.image[y0:y1, x0:x1]
            pad = ((y0 - top, top + c - y1), (x0 - left, left + c - x1), (0, 0))
            images[i] = np.pad(part, pad, mode="symmetric") if part.shape[:2] != (c, c) else part
            labels[i, y0 - top : y1 - top, x0 - left : x1 - left] = label[y0:y1, x0:x1]
        return images, labels

    def state_dict(self) -> dict[str, Any]:
        """The random state (plain ints and strings, safe for weights-only loading)."""
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the random sequence saved by `state_dict`."""
        self.rng.bit_generator.state = state["bit_generator"]
