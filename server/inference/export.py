"""Exports at a threshold: QuPath GeoJSON, a pyramidal label TIFF, and CSV areas.

All three stream over the store block by block, so they never hold a whole slide.

- GeoJSON: one Polygon feature (with holes) per 4-connected region of each class, in
  level-0 slide pixels, with QuPath's `objectType` and `classification`. Regions are
  traced exactly along pixel edges (rasterio/GDAL); pieces cut by block edges are merged.
- Label TIFF: the store grid (the region at the app's resolution) as uint8 labels,
  0 = unclassified or outside, i + 1 = class i; tiled, deflate, one directory per pyramid
  level (what OpenSlide's generic TIFF reader expects), resolution tags in pixels/cm.
- CSV: one row per class plus unclassified and the whole region.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import shapely
import shapely.geometry
import tifffile
from affine import Affine
from rasterio import features

from server.errors import Conflict
from server.inference.overlay import hex_rgb
from server.inference.thresholds import labels_of
from server.inference.tiler import Grid

BLOCK = 1024
TIFF_TILE = 256
# GeoJSON is the one export whose size follows the shapes, not the pixels: a result of
# at most MAX_GEOJSON_PIXELS store pixels is exported, and the export stops (ExportTooLarge)
# once it holds MAX_GEOJSON_VERTICES vertices (about 20 bytes each in the file).
MAX_GEOJSON_PIXELS = 400_000_000
MAX_GEOJSON_VERTICES = 20_000_000


class Planes(Protocol):
    """What exports read: a ProbStore, or post-processed labels read like one
    (inference/labels.py LabelStore)."""

    width: int
    height: int
    levels: int

    def shape(self, level: int) -> tuple[int, int]: ...

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray: ...


class ExportTooLarge(Conflict):
    """An export over its size bound (the result's size, not the request's: a Conflict);
    `hint` says what to do instead."""


def check_size(kind: str, width: int, height: int) -> None:
    """ExportTooLarge when an export of a width × height store is over its bound.

    The label TIFF and CSV stream block by block (memory stays bounded whatever the
    size), so only GeoJSON has a bound on the store's size.
    """
    if kind == "geojson" and width * height > MAX_GEOJSON_PIXELS:
        raise ExportTooLarge(
            f"This result has {width * height:,} pixels at the app's resolution; GeoJSON "
            f"exports at most {MAX_GEOJSON_PIXELS:,}",
            "Export the label TIFF (no size limit), or apply the app to a smaller region.",
        )


def blocks(width: int, height: int, size: int = BLOCK) -> Iterator[tuple[int, int, int, int]]:
    """(x, y, w, h) blocks covering a width × height grid, row by row."""
    for y in range(0, height, size):
        for x in range(0, width, size):
            yield x, y, min(size, width - x), min(size, height - y)


def _feature(geometry, cls: dict, digits: int = 3) -> dict:
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, digits))
    return {
        "type": "Feature",
        "id": str(uuid.uuid4()),
        "geometry": shapely.geometry.mapping(rounded),
        "properties": {
            "objectType": "annotation",
            "name": cls["name"],
            "classification": {"name": cls["name"], "color": list(hex_rgb(cls["color"]))},
            "isLocked": False,
        },
    }


def region_polygons(
    store: Planes, grid: Grid, threshold: float, block: int = BLOCK
) -> Iterator[tuple[int, shapely.Polygon]]:
    """(class index, polygon in level-0 pixels) for every connected region, block-streamed."""
    pending: dict[int, list] = {}
    vertices = 0
    scale = grid.scale
    for bx, by, bw, bh in blocks(store.width, store.height, block):
        labels = labels_of(store.read(0, bx, by, bw, bh), threshold)
        if not labels.any():
            continue
        left, top = grid.x0 + bx * scale, grid.y0 + by * scale
        right, bottom = left + bw * scale, top + bh * scale
        transform = Affine(scale, 0, left, 0, scale, top)
        inner = (bx > 0, by > 0, bx + bw < store.width, by + bh < store.height)
        eps = scale * 1e-3
        shapes = features.shapes(labels, mask=labels > 0, connectivity=4, transform=transform)
        for geom, value in shapes:
            poly = shapely.geometry.shape(geom)
            vertices += shapely.get_num_coordinates(poly)
            if vertices > MAX_GEOJSON_VERTICES:
                raise ExportTooLarge(
                    f"The GeoJSON would hold more than {MAX_GEOJSON_VERTICES:,} vertices",
                    "Export the label TIFF, raise the threshold, or apply the app to a "
                    "smaller region.",
                )
            x0, y0, x1, y1 = poly.bounds
            cut = (
                (inner[0] and x0 <= left + eps)
                or (inner[1] and y0 <= top + eps)
                or (inner[2] and x1 >= right - eps)
                or (inner[3] and y1 >= bottom - eps)
            )
            if cut:
                pending.setdefault(int(value) - 1, []).append(poly)
            else:
                yield int(value) - 1, poly
    for index, parts in sorted(pending.items()):
        for poly in shapely.get_parts(shapely.union_all(parts)):
            if isinstance(poly, shapely.Polygon) and not poly.is_empty:
                yield index, poly


def clipped(poly: shapely.Polygon, limit: shapely.Polygon | None) -> list[shapely.Polygon]:
    """The polygon cut to the slide (`limit`, level-0 px): a store pixel at the slide's right
    or bottom edge covers more than the slide, and no coordinate may reach past it."""
    if limit is None or limit.contains(poly):
        return [poly]
    inside = poly.intersection(limit)
    return [p for p in shapely.get_parts(inside) if isinstance(p, shapely.Polygon) and p.area > 0]


def slide_limit(meta: dict) -> shapely.Polygon | None:
    """The slide's extent in level-0 px from a result's meta (None when it does not say)."""
    size = meta.get("slide_size")
    if size:
        return shapely.box(0, 0, float(size[0]), float(size[1]))
    dzi = meta.get("dzi")
    if dzi:
        right = float(dzi.get("offset_x", 0)) + float(dzi["width"])
        bottom = float(dzi.get("offset_y", 0)) + float(dzi["height"])
        return shapely.box(0, 0, right, bottom)
    return None


def write_geojson(
    store: Planes,
    grid: Grid,
    threshold: float,
    classes: list[dict],
    out: IO[str],
    limit: shapely.Polygon | None = None,
) -> dict[int, int]:
    """Stream a QuPath-compatible FeatureCollection to `out`, cut to `limit` (the slide);
    returns features per class."""
    counts: dict[int, int] = {}
    out.write('{"type": "FeatureCollection", "features": [')
    first = True
    for index, region in region_polygons(store, grid, threshold):
        for poly in clipped(region, limit):
            feature = json.dumps(_feature(poly, classes[index]))
            out.write(("" if first else ",") + "\n" + feature)
            first = False
            counts[index] = counts.get(index, 0) + 1
    out.write("\n]}\n")
    return counts


def _label_tiles(store: Planes, level: int, threshold: float) -> Iterator[np.ndarray]:
    width, height = store.shape(level)
    for y in range(0, height, TIFF_TILE):
        for x in range(0, width, TIFF_TILE):
            yield labels_of(store.read(level, x, y, TIFF_TILE, TIFF_TILE), threshold)


def write_label_tiff(
    store: Planes,
    threshold: float,
    path: Path,
    um_per_px: float | None,
    description: dict,
) -> None:
    """Write the pyramidal, tiled label TIFF (see module doc)."""
    big = store.width * store.height > 2**31
    with tifffile.TiffWriter(path, bigtiff=big) as tif:
        for level in range(store.levels):
            width, height = store.shape(level)
            tiles = _label_tiles(store, level, threshold)
            um = um_per_px * 2**level if um_per_px else None
            _write_page(tif, tiles, (height, width), level, um, description)


def write_full_label_tiff(
    store: Planes,
    threshold: float,
    grid: Grid,
    slide_size: tuple[int, int],
    path: Path,
    slide_mpp: float | None,
    description: dict,
) -> None:
    """The label TIFF at the slide's own pixels (level 0) and its halvings, each result
    pixel repeated over the slide pixels it covers; tile by tile, so memory stays bounded."""
    width, height = slide_size
    pages = 1
    while max(width, height) > TIFF_TILE * 2 ** (pages - 1):
        pages += 1
    placed = description | {"level0_origin": [0, 0], "level0_pixels_per_pixel": 1}
    with tifffile.TiffWriter(path, bigtiff=width * height > 2**31) as tif:
        for page in range(pages):
            d = 2**page
            pw, ph = -(-width // d), -(-height // d)
            tiles = _full_tiles(store, threshold, grid, d, pw, ph)
            _write_page(tif, tiles, (ph, pw), page, slide_mpp * d if slide_mpp else None, placed)


def _write_page(
    tif: tifffile.TiffWriter,
    tiles: Iterator[np.ndarray],
    shape: tuple[int, int],
    page: int,
    um_per_px: float | None,
    description: dict,
) -> None:
    """One tiled uint8 page: the first holds the description, the others are reduced
    images (subfiletype 1); resolution tags when µm/px is known."""
    extra: dict[str, Any] = {"subfiletype": 1} if page else {"description": json.dumps(description)}
    if um_per_px:
        per_cm = 1e4 / um_per_px
        extra |= {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"}
    tif.write(
        tiles,
        shape=shape,
        dtype=np.uint8,
        tile=(TIFF_TILE, TIFF_TILE),
        photometric="minisblack",
        compression="zlib",
        metadata=None,
        **extra,
    )


def _full_tiles(
    store: Planes, threshold: float, grid: Grid, d: int, pw: int, ph: int
) -> Iterator[np.ndarray]:
    """Tiles of a page `d` slide pixels per pixel, sampled from the store level nearest
    below it (the pixel centre's result pixel)."""
    k = min(store.levels - 1, max(0, int(np.floor(np.log2(max(d / grid.scale, 1.0))))))
    kscale = grid.scale * 2**k
    kw, kh = store.shape(k)
    for ty in range(0, ph, TIFF_TILE):
        for tx in range(0, pw, TIFF_TILE):
            xs = np.floor(((tx + np.arange(TIFF_TILE) + 0.5) * d - grid.x0) / kscale).astype(int)
            ys = np.floor(((ty + np.arange(TIFF_TILE) + 0.5) * d - grid.y0) / kscale).astype(int)
            inside_x, inside_y = (xs >= 0) & (xs < kw), (ys >= 0) & (ys < kh)
            tile = np.zeros((TIFF_TILE, TIFF_TILE), dtype=np.uint8)
            if inside_x.any() and inside_y.any():
                x0, x1 = int(xs[inside_x].min()), int(xs[inside_x].max()) + 1
                y0, y1 = int(ys[inside_y].min()), int(ys[inside_y].max()) + 1
                window = labels_of(store.read(k, x0, y0, x1 - x0, y1 - y0), threshold)
                rows, cols = np.nonzero(inside_y)[0], np.nonzero(inside_x)[0]
                tile[np.ix_(rows, cols)] = window[np.ix_(ys[rows] - y0, xs[cols] - x0)]
            yield tile


def csv_text(stats: dict, slide: str, app: str) -> str:
    """Areas as CSV: slide, app, threshold, class, pixels, area_mm2, percent_of_region."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["slide", "app", "threshold", "class", "pixels", "area_mm2", "percent_of_region"]
    )
    threshold = stats["threshold"]
    region = stats["region_pixels"]

    def row(name: str, pixels: int, area: float | None) -> None:
        percent = 100.0 * pixels / region if region else 0.0
        area_text = "" if area is None else f"{area:.6f}"
        writer.writerow([slide, app, threshold, name, pixels, area_text, f"{percent:.4f}"])

    for cls in stats["classes"]:
        row(cls["name"], cls["pixels"], cls["area_mm2"])
    row("(unclassified)", stats["unclassified_pixels"], stats["unclassified_area_mm2"])
    row("(region)", region, stats["region_area_mm2"])
    return buffer.getvalue()


def write_export(
    kind: str,
    store: Planes,
    meta: dict,
    stats: dict,
    threshold: float,
    path: Path,
    result_id: str | None = None,
    full: bool = False,
) -> None:
    """Write one export file atomically (temp file, then rename); `full`: the label TIFF
    at the slide's full resolution.

    `meta` holds the result's grid, classes, slide_mpp, slide_name and app_name.
    """
    grid = Grid.from_dict(meta["grid"])
    mpp = meta.get("slide_mpp")
    with atomic_file(path) as tmp:
        if kind == "tiff" and full:
            size = meta["slide_size"]
            description = label_description(meta, threshold, result_id)
            write_full_label_tiff(
                store, threshold, grid, (int(size[0]), int(size[1])), tmp, mpp, description
            )
        elif kind == "geojson":
            with open(tmp, "w") as out:
                write_geojson(store, grid, threshold, meta["classes"], out, slide_limit(meta))
        elif kind == "tiff":
            description = label_description(meta, threshold, result_id)
            write_label_tiff(store, threshold, tmp, grid.scale * mpp if mpp else None, description)
        else:
            tmp.write_text(csv_text(stats, str(meta.get("slide_name")), str(meta.get("app_name"))))


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write; renamed to `path` when the block ends
    without error, removed otherwise, so a half-written file never has the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def label_description(meta: dict, threshold: float, result_id: str | None = None) -> dict:
    """What the label TIFF's ImageDescription says about its values and placement."""
    return {
        "slidelab": "labels",
        "values": {"0": "unclassified or outside the region"}
        | {str(c["index"] + 1): c["name"] for c in meta["classes"]},
        "threshold": threshold,
        "slide": meta.get("slide_name"),
        "app": meta.get("app_name"),
        "result_id": result_id,
        "level0_origin": [meta["grid"]["x0"], meta["grid"]["y0"]],
        "level0_pixels_per_pixel": meta["grid"]["scale"],
    }
