"""Accept predictions as labels: a result's classes at a threshold, inside a region, become
labels of the same-named label classes in ONE undoable annotation step.

The class raster is read at the result's resolution (store level 0) over the region's
box, vectorised along pixel edges (rasterio, as the GeoJSON export), scaled to level-0
pixels and clipped to the region. The step first erases the region where the result has
predictions (so pixels below the threshold end up unlabelled and old labels there go),
then paints each class; it is an ordinary annotation change (annotations:changed, undo).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from shapely.geometry import shape as to_shape
from shapely.geometry.base import BaseGeometry

from server.annotations import classes as label_classes
from server.annotations import repository as repo
from server.annotations.answers import um2
from server.annotations.edits import parse_client_id
from server.annotations.geometry import CELL, MAX_CELLS, cell_range
from server.errors import TooLarge, UserError
from server.inference.export import Planes
from server.inference.probstore import ProbStore
from server.inference.thresholds import labels_of, parse_threshold
from server.inference.tiler import Grid
from server.jobs import compute
from server.slides.library import SlideEntry
from server.store import fits_integer

if TYPE_CHECKING:
    from server.context import Context

MAX_PIXELS = 64_000_000  # result pixels one accept reads and vectorises
OUTSIDE = 255  # raster value of pixels outside the result's region


@dataclass
class Accepted:
    """What a region's predictions become: the area to clear and each class's shapes."""

    cleared: BaseGeometry  # the region where the result predicted (labels there are replaced)
    shapes: dict[int, BaseGeometry]  # app class index -> its pixels at the threshold


def accept(ctx: Context, rid: str, entry: SlideEntry, body: object) -> str:
    """POST /api/results/<rid>/accept: the annotation edit answer plus `accepted`."""
    if not isinstance(body, dict):
        raise UserError("Expected a JSON object with region and threshold")
    threshold = _threshold(body.get("threshold"))
    client_id = parse_client_id(body.get("client_id"))
    row, store = ctx.results.complete(rid)
    meta = row["meta"]
    grid = Grid.from_dict(meta["grid"])
    region = _region(ctx, entry, body.get("region"), grid)
    labels = ctx.results.labels_for(row, store, threshold)  # after the app's post-processing
    found: Accepted = compute(vectorise, store, grid, region, threshold, labels)
    ids, created = _label_classes(ctx, meta["classes"], list(found.shapes))
    steps: list[tuple[BaseGeometry, int | None]] = [(found.cleared, None)]
    steps += [(shape, ids[index]) for index, shape in found.shapes.items()]
    text = ctx.annotations.paint_shapes(entry, steps, "accept", client_id)
    if created:
        ctx.emit("classes:changed", label_classes.list_classes(ctx.store))
    by_index = {c["index"]: c for c in meta["classes"]}
    accepted = {
        "classes": [
            {
                "id": ids[index],
                "name": by_index[index]["name"],
                "area_px": shape.area,
                "area_um2": um2(shape.area, entry),
            }
            for index, shape in found.shapes.items()
        ]
    }
    return text[:-1] + ',"accepted":' + json.dumps(accepted, separators=(",", ":")) + "}"


def _threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | None):
        raise UserError("threshold must be a number from 0 to 1", field="threshold")
    if isinstance(value, int) and not 0 <= value <= 1:  # before float() overflows on huge ones
        raise UserError(f"threshold must be between 0 and 1 (got {value})", field="threshold")
    try:
        return parse_threshold(value)
    except ValueError as exc:
        raise UserError(str(exc), "Use a value from 0 to 1.", field="threshold") from exc


def _region(ctx: Context, entry: SlideEntry, region: object, grid: Grid) -> BaseGeometry:
    """The level-0 region, clipped to the slide and the result's grid; 400/413 when bad."""
    hint = 'Send region: {"roi_id": N} or {"bbox": [x, y, w, h]} (level-0 pixels).'
    if not isinstance(region, dict) or len(region) != 1:
        raise UserError("region must be an object with roi_id or bbox", hint, field="region")
    if "roi_id" in region:
        roi_id = region["roi_id"]
        if not isinstance(roi_id, int) or isinstance(roi_id, bool) or not fits_integer(roi_id):
            raise UserError("roi_id must be an integer", hint, field="region")
        wkb = repo.roi_wkb(ctx.store, entry.id, roi_id)
        if wkb is None:
            raise UserError(f"ROI {roi_id} not found on this slide", field="region")
        shape = shapely.from_wkb(wkb)
    elif "bbox" in region:
        bbox = region["bbox"]
        ok = isinstance(bbox, list) and len(bbox) == 4
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        ok = ok and all(abs(v) < 1e9 for v in bbox)  # False for NaN and ±inf too
        if not ok or bbox[2] <= 0 or bbox[3] <= 0:
            raise UserError("bbox must be [x, y, w, h] with w, h > 0", hint, field="region")
        x, y, w, h = (float(v) for v in bbox)
        shape = shapely.box(x, y, x + w, y + h)
    else:
        raise UserError("region must be an object with roi_id or bbox", hint, field="region")
    info = entry.details
    right, bottom = grid.to_level0(grid.width, grid.height)
    limit = shapely.box(
        max(grid.x0, 0), max(grid.y0, 0), min(right, info.width), min(bottom, info.height)
    )
    clipped = shape.intersection(limit)
    if clipped.is_empty or clipped.area <= 0:
        raise UserError("The region does not overlap this result", field="region")
    cx0, cy0, cx1, cy1 = cell_range(clipped.bounds)
    cells = (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
    if cells > MAX_CELLS:
        raise TooLarge(
            f"The region covers {cells:,} grid cells of {CELL} px (at most {MAX_CELLS:,})",
            "Accept a large region in several parts.",
        )
    minx, miny, maxx, maxy = clipped.bounds
    pixels = ((maxx - minx) / grid.scale + 1) * ((maxy - miny) / grid.scale + 1)
    if pixels > MAX_PIXELS:
        raise TooLarge(
            f"The region holds {pixels:,.0f} result pixels (at most {MAX_PIXELS:,})",
            "Accept a large region in several parts.",
        )
    return clipped


def vectorise(
    store: ProbStore,
    grid: Grid,
    region: BaseGeometry,
    threshold: float,
    labels: Planes | None = None,
) -> Accepted:
    """The region's predicted classes at a threshold as level-0 shapes (compute thread);
    `labels`: where the classes come from when not the store (post-processed labels)."""
    minx, miny, maxx, maxy = region.bounds
    c0 = max(0, math.floor((minx - grid.x0) / grid.scale))
    r0 = max(0, math.floor((miny - grid.y0) / grid.scale))
    c1 = min(grid.width, math.ceil((maxx - grid.x0) / grid.scale))
    r1 = min(grid.height, math.ceil((maxy - grid.y0) / grid.scale))
    window = (c0, r0, max(c1 - c0, 1), max(r1 - r0, 1))
    probs = store.read(0, *window)
    valid = np.asarray(probs.any(axis=0))
    classes = labels_of(probs if labels is None else labels.read(0, *window), threshold)
    raster = np.where(valid, classes, OUTSIDE).astype(np.uint8)
    left, top = grid.to_level0(c0, r0)
    transform = Affine(grid.scale, 0, left, 0, grid.scale, top)
    groups: dict[int, list[BaseGeometry]] = {}
    for geom, value in features.shapes(raster, mask=valid, connectivity=4, transform=transform):
        groups.setdefault(int(value), []).append(to_shape(geom))
    inside = valid.astype(np.uint8)
    predicted = _clip(
        [to_shape(g) for g, _ in features.shapes(inside, mask=valid, transform=transform)], region
    )
    shapes = {}
    for value, polys in sorted(groups.items()):
        if value in (0, OUTSIDE):
            continue
        shape = _clip(polys, region)
        if not shape.is_empty:
            shapes[value - 1] = shape
    return Accepted(predicted, shapes)


def _clip(polys: list[BaseGeometry], region: BaseGeometry) -> BaseGeometry:
    """Disjoint polygons (of one raster value) within the region."""
    if not polys:
        return shapely.Polygon()
    whole = shapely.multipolygons(polys)
    clipped = whole.intersection(region)
    parts = shapely.get_parts(clipped)
    parts = parts[shapely.get_type_id(parts) == 3]  # polygons only (no touching lines)
    parts = parts[shapely.area(parts) > 0]
    return shapely.multipolygons(parts) if len(parts) else shapely.Polygon()


def _label_classes(
    ctx: Context, app_classes: list[dict[str, Any]], indices: list[int]
) -> tuple[dict[int, int], bool]:
    """Label class id per app class index (by name, case-insensitive; created when missing)."""
    by_index = {c["index"]: c for c in app_classes}
    ids, created = {}, False
    for index in indices:
        cls = by_index[index]
        found = label_classes.find_class(ctx.store, cls["name"])
        if found is None:
            found = label_classes.create_class(ctx.store, cls["name"], cls.get("color"))
            created = True
        ids[index] = int(found["id"])
    return ids, created
