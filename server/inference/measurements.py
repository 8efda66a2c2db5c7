"""Objects of a result and their measurements: the per-class summary, CSV and GeoJSON.

Objects are the 4-connected regions of one class in the result's labels at a threshold
(after the app's post-processing), found block by block with server/measure/objects.py,
so an object crossing block borders is one object and memory stays bounded. Sizes are
in µm at the app's resolution; centroids in level-0 slide pixels. The GeoJSON holds one
QuPath detection per object whose polygon is the object's outline (the same tracing as
the label export) and whose `measurements` are the CSV's numbers.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from server.inference.export import Planes, atomic_file, clipped, region_polygons, slide_limit
from server.inference.overlay import hex_rgb
from server.inference.probstore import ProbStore
from server.inference.thresholds import labels_of
from server.inference.tiler import Grid
from server.measure.objects import Objects, iter_objects
from server.slides.raster import polygon_mask

SIZE_BINS = 24
BLOCK = 1024
COLUMNS = (
    "object",
    "class",
    "area_um2",
    "perimeter_um",
    "equivalent_diameter_um",
    "eccentricity",
    "form_factor",
    "centroid_x",
    "centroid_y",
    "mean_probability",
)


def iter_result_objects(store: ProbStore, source: Planes, threshold: float) -> Iterator[Objects]:
    """The objects of a result's labels in batches; `mean_value` is the mean winning
    probability (0..1) over each object's pixels."""

    def read(x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        probs = store.read(0, x, y, w, h)
        labels = labels_of(source.read(0, x, y, w, h), threshold)
        return labels, probs.max(axis=0) / 255.0

    return iter_objects(read, store.width, store.height)


def all_objects(store: ProbStore, source: Planes, threshold: float) -> Objects:
    """Every object at once (memory grows with their number, not the slide's size)."""
    batches = list(iter_result_objects(store, source, threshold))
    if not batches:
        empty = np.zeros(0)
        return Objects(empty, empty, empty, empty, np.zeros((0, 4)), empty, empty, empty)
    return Objects(
        *(np.concatenate([getattr(b, f) for b in batches]) for f in Objects.__dataclass_fields__)
    )


def summary(
    objects: Objects, classes: list[dict[str, Any]], region_px: int, pixel_um: float | None
) -> dict[str, Any]:
    """Per class: count, area, area fraction of the region, density and a size histogram."""
    pixel_um2 = pixel_um**2 if pixel_um else None
    region_mm2 = region_px * pixel_um2 / 1e6 if pixel_um2 else None
    rows = []
    for cls in classes:
        mine = objects.label == cls["index"] + 1
        pixels = int(objects.area[mine].sum())
        count = int(mine.sum())
        area_mm2 = pixels * pixel_um2 / 1e6 if pixel_um2 else None
        rows.append(
            {
                "id": cls.get("id"),
                "index": cls["index"],
                "name": cls["name"],
                "color": cls["color"],
                "count": count,
                "pixels": pixels,
                "area_mm2": area_mm2,
                "area_fraction": pixels / region_px if region_px else 0.0,
                "density_per_mm2": count / region_mm2 if region_mm2 else None,
                "sizes": _sizes(objects.area[mine] * (pixel_um2 or 1.0)),
            }
        )
    return {
        "pixel_area_um2": pixel_um2,
        "region_pixels": region_px,
        "region_area_mm2": region_mm2,
        "classes": rows,
    }


def roi_summaries(
    objects: Objects,
    store: ProbStore,
    source: Planes,
    threshold: float,
    grid: Grid,
    classes: list[dict[str, Any]],
    rois: list[tuple[int, BaseGeometry]],
    pixel_um: float | None,
) -> list[dict[str, Any]]:
    """Per ROI (level-0 geometry) and class: objects whose centroid lies in it, the class's
    pixels in it, their fraction of the region's pixels in it, and the density."""
    pixel_um2 = pixel_um**2 if pixel_um else None
    centre_x = grid.x0 + (objects.centroid_x + 0.5) * grid.scale
    centre_y = grid.y0 + (objects.centroid_y + 0.5) * grid.scale
    out = []
    for roi_id, geometry in rois:
        region, per_label = _pixels_inside(store, source, threshold, grid, geometry)
        inside = shapely.contains_xy(geometry, centre_x, centre_y)
        region_mm2 = region * pixel_um2 / 1e6 if pixel_um2 else None
        rows = []
        for cls in classes:
            count = int((inside & (objects.label == cls["index"] + 1)).sum())
            pixels = int(per_label[cls["index"] + 1])
            rows.append(
                {
                    "id": cls.get("id"),
                    "index": cls["index"],
                    "name": cls["name"],
                    "count": count,
                    "pixels": pixels,
                    "area_mm2": pixels * pixel_um2 / 1e6 if pixel_um2 else None,
                    "area_fraction": pixels / region if region else 0.0,
                    "density_per_mm2": count / region_mm2 if region_mm2 else None,
                }
            )
        out.append(
            {
                "roi_id": roi_id,
                "region_pixels": region,
                "region_area_mm2": region_mm2,
                "classes": rows,
            }
        )
    return out


def _pixels_inside(
    store: ProbStore, source: Planes, threshold: float, grid: Grid, geometry: BaseGeometry
) -> tuple[int, np.ndarray]:
    """(region pixels, pixels per label 0..C) of the result pixels whose centre lies in a
    level-0 geometry, block by block over its bounding box."""
    x0, y0, x1, y1 = geometry.bounds
    left = max(0, int((x0 - grid.x0) // grid.scale))
    top = max(0, int((y0 - grid.y0) // grid.scale))
    right = min(store.width, int(-(-(x1 - grid.x0) // grid.scale)))
    bottom = min(store.height, int(-(-(y1 - grid.y0) // grid.scale)))
    region = 0
    per_label = np.zeros(store.num_classes + 1, dtype=np.int64)
    for bx in range(left, right, BLOCK):
        for by in range(top, bottom, BLOCK):
            w, h = min(BLOCK, right - bx), min(BLOCK, bottom - by)
            origin = (grid.x0 + bx * grid.scale, grid.y0 + by * grid.scale)
            mask = polygon_mask(geometry, (h, w), origin, grid.scale)
            inside = mask & store.read(0, bx, by, w, h).any(axis=0)
            labels = labels_of(source.read(0, bx, by, w, h), threshold)
            region += int(inside.sum())
            per_label += np.bincount(labels[inside], minlength=len(per_label))
    return region, per_label


def _sizes(areas: np.ndarray) -> dict[str, list[float]]:
    """A histogram of object areas on log-spaced bins (µm², or pixels without µm/px)."""
    if not len(areas):
        return {"edges_um2": [], "counts": []}
    low, high = float(areas.min()), float(areas.max())
    if high <= low:
        return {"edges_um2": [low, high], "counts": [len(areas)]}
    edges = np.geomspace(low, high, min(SIZE_BINS, len(areas)) + 1)
    counts, _ = np.histogram(areas, bins=edges)
    return {"edges_um2": [round(float(e), 6) for e in edges], "counts": counts.tolist()}


def measurement_rows(
    objects: Objects, grid: Grid, pixel_um: float | None, classes: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """One dict per object (COLUMNS), in level-0 px and µm (pixels without µm/px)."""
    um = pixel_um or 1.0
    diameter = objects.equivalent_diameter
    form = objects.form_factor
    for i in range(len(objects)):
        yield {
            "object": i + 1,
            "class": classes[int(objects.label[i]) - 1]["name"],
            "area_um2": round(float(objects.area[i]) * um * um, 4),
            "perimeter_um": round(float(objects.perimeter[i]) * um, 4),
            "equivalent_diameter_um": round(float(diameter[i]) * um, 4),
            "eccentricity": round(float(objects.eccentricity[i]), 5),
            "form_factor": round(float(form[i]), 5),
            "centroid_x": round(grid.x0 + (float(objects.centroid_x[i]) + 0.5) * grid.scale, 2),
            "centroid_y": round(grid.y0 + (float(objects.centroid_y[i]) + 0.5) * grid.scale, 2),
            "mean_probability": round(float(objects.mean_value[i]), 4),
        }


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> None:
    """The objects' measurements as CSV, one row per object."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)


def write_geojson(
    objects: Objects,
    source: Planes,
    grid: Grid,
    threshold: float,
    pixel_um: float | None,
    classes: list[dict[str, Any]],
    out: IO[str],
    limit: shapely.Polygon | None,
) -> None:
    """One QuPath detection per object: its outline, class and measurements."""
    rows = list(measurement_rows(objects, grid, pixel_um, classes))
    index = {_key(objects, i): i for i in range(len(objects))}
    out.write('{"type": "FeatureCollection", "features": [')
    first = True
    for cls, polygon in region_polygons(source, grid, threshold):
        found = index.get(_polygon_key(cls, polygon, grid))
        if found is None:  # not expected: every traced region is an object
            continue
        for part in clipped(polygon, limit):
            feature = _feature(part, classes[cls], rows[found])
            out.write(("" if first else ",") + "\n" + json.dumps(feature))
            first = False
    out.write("\n]}\n")


def _key(objects: Objects, i: int) -> tuple[int, ...]:
    return (int(objects.label[i]) - 1, *map(int, objects.bbox[i]), int(objects.area[i]))


def _polygon_key(cls: int, polygon: shapely.Polygon, grid: Grid) -> tuple[int, ...]:
    x0, y0, x1, y1 = polygon.bounds
    box = [round((v - o) / grid.scale) for v, o in ((x0, grid.x0), (y0, grid.y0))]
    box += [round((v - o) / grid.scale) for v, o in ((x1, grid.x0), (y1, grid.y0))]
    return (cls, *box, round(polygon.area / grid.scale**2))


def _feature(polygon: shapely.Polygon, cls: dict[str, Any], row: dict[str, Any]) -> dict:
    rounded = shapely.transform(polygon, lambda xy: np.round(xy, 3))
    measurements = {k: v for k, v in row.items() if k not in ("object", "class")}
    return {
        "type": "Feature",
        "id": str(uuid.uuid4()),
        "geometry": shapely.geometry.mapping(rounded),
        "properties": {
            "objectType": "detection",
            "name": f"{cls['name']} {row['object']}",
            "classification": {"name": cls["name"], "color": list(hex_rgb(cls["color"]))},
            "measurements": measurements,
        },
    }


def pixel_um(meta: dict[str, Any]) -> float | None:
    """µm per result pixel, None when the slide has no µm/px."""
    mpp = meta.get("slide_mpp")
    return Grid.from_dict(meta["grid"]).scale * float(mpp) if mpp else None


def write_objects(
    kind: str,
    store: ProbStore,
    source: Planes,
    meta: dict[str, Any],
    threshold: float,
    path: Path,
) -> Objects:
    """Write the objects' CSV or GeoJSON of a result atomically (`meta`: the result's);
    returns the objects."""
    grid, classes, um = Grid.from_dict(meta["grid"]), meta["classes"], pixel_um(meta)
    objects = all_objects(store, source, threshold)
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as out:
        if kind == "csv":
            write_csv(measurement_rows(objects, grid, um, classes), out)
        else:
            limit = slide_limit(meta)
            write_geojson(objects, source, grid, threshold, um, classes, out, limit)
    return objects
