"""Post-processing of a label image: the ordered steps an app keeps (DESIGN.md, contract v2).

Steps, in the app's JSON (`class_id` and `to_class_id` are the app's class ids; a
`to_class_id` of null means unclassified):

- `{op: "remove_small_objects", class_id, min_area_um2}`: objects of the class smaller
  than the area become unclassified;
- `{op: "fill_holes", class_id, max_area_um2}`: holes in the class (4-connected areas of
  anything else that it encloses, not touching the image's edge) up to the area join it;
- `{op: "open" | "close", class_id, radius_um}`: morphological opening (removes what is
  thinner than the disc; the removed pixels become unclassified) or closing (fills gaps
  narrower than the disc with the class), with a disc of that radius;
- `{op: "relabel", class_id, to_class_id, where: {measure: [min, max], ...}}`: objects of
  the class whose measures (area_um2, perimeter_um, eccentricity, form_factor) all lie in
  the ranges move to another class.

Label images hold 0 (unclassified) or i + 1 (the app's class i); they are 2-D arrays
(numpy or zarr) read and written block by block, so a step needs memory for a block and
its objects, never for the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from scipy import ndimage

from server.errors import UserError
from server.measure.objects import BLOCK, Objects, scan_objects

OPS = ("remove_small_objects", "fill_holes", "open", "close", "relabel")
MEASURES = ("area_um2", "perimeter_um", "eccentricity", "form_factor")
MAX_STEPS = 20
MAX_RADIUS_PX = 64  # a larger disc is a different question (a coarser app resolution)


class Raster(Protocol):
    """A 2-D label array read and written by slices (numpy and zarr arrays are)."""

    shape: tuple[int, ...]

    def __getitem__(self, key: Any) -> Any: ...

    def __setitem__(self, key: Any, value: Any) -> None: ...


def parse_steps(raw: object, class_ids: list[int]) -> list[dict[str, Any]]:
    """The validated steps (numbers as floats, ids as ints); UserError naming the field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise UserError("postprocessing must be a list of steps", field="postprocessing")
    if len(raw) > MAX_STEPS:
        raise UserError(f"At most {MAX_STEPS} post-processing steps", field="postprocessing")
    return [_parse_step(step, f"postprocessing[{i}]", class_ids) for i, step in enumerate(raw)]


def _parse_step(step: object, where: str, class_ids: list[int]) -> dict[str, Any]:
    if not isinstance(step, dict):
        raise UserError("A post-processing step must be an object", field=where)
    op = step.get("op")
    if op not in OPS:
        raise UserError(f"Unknown op {op!r}: use one of {', '.join(OPS)}", field=f"{where}.op")
    out: dict[str, Any] = {"op": op, "class_id": _class(step, "class_id", where, class_ids)}
    if op == "remove_small_objects":
        out["min_area_um2"] = _number(step, "min_area_um2", where)
    elif op == "fill_holes":
        out["max_area_um2"] = _number(step, "max_area_um2", where)
    elif op in ("open", "close"):
        out["radius_um"] = _number(step, "radius_um", where)
    else:
        target = step.get("to_class_id")
        out["to_class_id"] = (
            None if target is None else _class(step, "to_class_id", where, class_ids)
        )
        out["where"] = _ranges(step.get("where"), f"{where}.where")
    return out


def _class(step: dict[str, Any], key: str, where: str, class_ids: list[int]) -> int:
    value = step.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value not in class_ids:
        raise UserError(
            f"{key} must be one of the app's class ids ({', '.join(map(str, class_ids))})",
            field=f"{where}.{key}",
        )
    return value


def _number(step: dict[str, Any], key: str, where: str) -> float:
    value = step.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"{key} must be a number", field=f"{where}.{key}")
    if value < 0:
        raise UserError(f"{key} must not be negative", field=f"{where}.{key}")
    return float(value)


def _ranges(raw: object, where: str) -> dict[str, list[float]]:
    if not isinstance(raw, dict) or not raw:
        raise UserError(
            f'where must give at least one range, e.g. {{"area_um2": [0, 50]}}; '
            f"measures: {', '.join(MEASURES)}",
            field=where,
        )
    out = {}
    for key, bounds in raw.items():
        ok = (
            key in MEASURES
            and isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            and bounds[0] <= bounds[1]
        )
        if not ok:
            raise UserError(
                f"{key!r}: give [min, max] of one of {', '.join(MEASURES)}", field=f"{where}.{key}"
            )
        out[key] = [float(bounds[0]), float(bounds[1])]
    return out


def run_steps(
    steps: list[dict[str, Any]],
    source: Raster,
    scratch: Callable[[], Raster],
    class_ids: list[int],
    pixel_um: float,
    block: int = BLOCK,
) -> Raster:
    """The label image after every step, each written to a new `scratch()` raster."""
    labels = source
    for step in steps:
        target = scratch()
        apply_step(step, labels, target, class_ids, pixel_um, block)
        labels = target
    return labels


def apply_step(
    step: dict[str, Any],
    source: Raster,
    target: Raster,
    class_ids: list[int],
    pixel_um: float,
    block: int = BLOCK,
) -> None:
    """Write `source` after one step into `target` (same shape)."""
    value = class_ids.index(step["class_id"]) + 1
    op = step["op"]
    if op in ("open", "close"):
        radius = step["radius_um"] / pixel_um
        _morphology(source, target, value, op, radius, block)
        return
    if op == "fill_holes":
        _fill_holes(source, target, value, step["max_area_um2"] / pixel_um**2, block)
        return
    perimeter = op == "relabel" and bool({"perimeter_um", "form_factor"} & set(step["where"]))
    objects, blocks = _objects(source, lambda labels: labels, block, perimeter)
    if op == "remove_small_objects":
        small = objects.area * pixel_um**2 < step["min_area_um2"]
        change, to = (objects.label == value) & small, 0
    else:
        change = (objects.label == value) & _within(objects, step["where"], pixel_um)
        to = 0 if step["to_class_id"] is None else class_ids.index(step["to_class_id"]) + 1
    for x, y, labels, numbers in blocks:
        out = labels.astype(np.uint8)
        out[(numbers >= 0) & change[np.maximum(numbers, 0)]] = to
        target[y : y + out.shape[0], x : x + out.shape[1]] = out


def measures(objects: Objects, pixel_um: float) -> dict[str, np.ndarray]:
    """The measures a `relabel` step can test, in µm where they have a unit."""
    return {
        "area_um2": objects.area * pixel_um**2,
        "perimeter_um": objects.perimeter * pixel_um,
        "eccentricity": objects.eccentricity,
        "form_factor": objects.form_factor,
    }


def _within(objects: Objects, ranges: dict[str, list[float]], pixel_um: float) -> np.ndarray:
    values = measures(objects, pixel_um)
    inside = np.ones(len(objects), dtype=bool)
    for key, (low, high) in ranges.items():
        inside &= (values[key] >= low) & (values[key] <= high)
    return inside


def _objects(
    source: Raster, key: Callable[[np.ndarray], np.ndarray], block: int, perimeter: bool = False
) -> tuple[Objects, Any]:
    height, width = source.shape[:2]

    def read(x: int, y: int, w: int, h: int) -> tuple[np.ndarray, None]:
        return key(np.asarray(source[y : y + h, x : x + w])), None

    objects, object_map = scan_objects(read, width, height, block, perimeter)
    return objects, object_map.blocks()


def _fill_holes(source: Raster, target: Raster, value: int, max_px: float, block: int) -> None:
    height, width = source.shape[:2]
    objects, blocks = _objects(source, lambda labels: (labels != value).astype(np.uint8), block)
    x0, y0, x1, y1 = objects.bbox.T
    enclosed = (x0 > 0) & (y0 > 0) & (x1 < width) & (y1 < height)
    fill = (objects.label == 1) & enclosed & (objects.area <= max_px)
    for x, y, _, numbers in blocks:
        h, w = numbers.shape
        out = np.asarray(source[y : y + h, x : x + w]).astype(np.uint8)
        out[(numbers >= 0) & fill[np.maximum(numbers, 0)]] = value
        target[y : y + h, x : x + w] = out


def _morphology(
    source: Raster, target: Raster, value: int, op: str, radius: float, block: int
) -> None:
    """Open or close one class with a disc, block by block with a margin of two radii."""
    height, width = source.shape[:2]
    r = min(MAX_RADIUS_PX, int(round(radius)))
    disc = _disc(r)
    margin = 2 * r + 1
    for y in range(0, height, block):
        for x in range(0, width, block):
            h, w = min(block, height - y), min(block, width - x)
            wx0, wy0 = max(0, x - margin), max(0, y - margin)
            wx1, wy1 = min(width, x + w + margin), min(height, y + h + margin)
            window = np.asarray(source[wy0:wy1, wx0:wx1]).astype(np.uint8)
            mask = window == value
            if r > 0:
                mask = _open(mask, disc) if op == "open" else _close(mask, disc)
            core = (slice(y - wy0, y - wy0 + h), slice(x - wx0, x - wx0 + w))
            out = window[core].copy()
            if op == "open":
                out[(out == value) & ~mask[core]] = 0
            else:
                out[mask[core]] = value
            target[y : y + h, x : x + w] = out


def _disc(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return np.asarray(xx * xx + yy * yy <= r * r)


def _open(mask: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """Opening that treats the image's outside as neither adding nor removing."""
    eroded = ndimage.binary_erosion(mask, disc, border_value=1)
    return np.asarray(ndimage.binary_dilation(eroded, disc, border_value=0) & mask)


def _close(mask: np.ndarray, disc: np.ndarray) -> np.ndarray:
    dilated = ndimage.binary_dilation(mask, disc, border_value=0)
    return np.asarray(ndimage.binary_erosion(dilated, disc, border_value=1) | mask)
