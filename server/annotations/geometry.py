"""Pure shapely geometry for painting: tool shapes, repair, the cell grid, edits on cells.

Label geometry is kept per (class, grid cell): each class's region is cut along a fixed
grid of CELL level-0 pixels. An edit then touches only the cells under the stroke, so
its cost depends on the labels near the stroke, not on how many strokes the slide has.
Nothing here touches the store or eventlet: these functions run in compute threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

CELL = 256  # grid cell size in level-0 pixels (stored data depends on it: do not change)
QUAD_SEGS = 8  # segments per quarter circle of brush caps and joins
MIN_AREA = 1e-3  # px²: polygons smaller than this are numerical dust
COORD_DECIMALS = 2  # GeoJSON coordinates are rounded to 1/100 px

Key = tuple[int, int, int]  # (class_id, cx, cy)


class GeometryError(ValueError):
    """Geometry that cannot be used or repaired; the message says why."""


@dataclass(frozen=True)
class Piece:
    """One class's geometry inside one cell, ready to store: WKB, area, GeoJSON polygons."""

    wkb: bytes
    area: float
    coords: str  # the polygons' GeoJSON coordinates, comma-joined, without outer brackets


def simplify_tolerance(radius: float) -> float:
    """Simplification tolerance for a brush of `radius` px.

    Douglas-Peucker moves an outline by at most the tolerance, so the area changes by
    at most about tolerance × perimeter, and a stroke's perimeter/area ratio is at most
    2/radius: 1 % of the radius keeps the area within 1 % (in practice within 0.3 %)
    while dropping the dense points of pointer input. It stays below the sagitta of
    the 32-gon round caps (1.9 % of the radius), so caps keep their shape. The floor
    (1/20 px) only matters for brushes under 5 px.
    """
    return max(0.05, 0.01 * radius)


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygons of `geom` (dropping lines, points and dust), as one geometry."""
    if geom.is_empty:
        return Polygon()
    if (
        isinstance(geom, Polygon | MultiPolygon)
        and shapely.area(shapely.get_parts(geom)).min() > MIN_AREA
    ):
        return geom  # the common case: nothing to drop
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon | MultiPolygon)]
    polys: list[Polygon] = []
    for part in parts:
        if isinstance(part, MultiPolygon):
            polys.extend(p for p in part.geoms if p.area > MIN_AREA)
        elif part.area > MIN_AREA:
            polys.append(part)
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def repair(geom: BaseGeometry) -> BaseGeometry:
    """A valid polygonal geometry: invalid input is repaired with make_valid."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
        geom = polygonal(geom)
        if not geom.is_valid:
            geom = polygonal(geom.buffer(0))
    else:
        geom = polygonal(geom)
    if not geom.is_valid:
        raise GeometryError("The shape could not be repaired into a valid polygon")
    return geom


def check_points(points: object, minimum: int, limit: int) -> np.ndarray:
    """`points` as an (n, 2) float array, else GeometryError (TooManyPoints over `limit`)."""
    if not isinstance(points, list) or len(points) < minimum:
        raise GeometryError(f"points must be a list of at least {minimum} [x, y] pairs")
    if len(points) > limit:
        raise TooManyPoints(f"An edit may have at most {limit} points, this one has {len(points)}")
    for p in points:
        if (
            not isinstance(p, list | tuple)
            or len(p) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        ):
            raise GeometryError("Every point must be a pair of numbers [x, y]")
    array = np.asarray(points, dtype=float)
    if not np.isfinite(array).all():
        raise GeometryError("Coordinates must be finite numbers (no NaN or infinity)")
    return array


class TooManyPoints(GeometryError):
    """More points than an edit may carry."""


def stroke_shape(points: np.ndarray, radius: float) -> BaseGeometry:
    """A brush/eraser stroke: the polyline buffered by `radius` with round caps and joins."""
    tolerance = simplify_tolerance(radius)
    unique = _drop_repeats(points)
    if len(unique) == 1:
        shape = Point(unique[0]).buffer(radius, quad_segs=QUAD_SEGS)
    else:
        # Simplifying the centre line first keeps buffering fast for dense pointer input.
        line = LineString(unique).simplify(tolerance, preserve_topology=False)
        shape = line.buffer(radius, quad_segs=QUAD_SEGS, cap_style="round", join_style="round")
    return repair(shape.simplify(tolerance, preserve_topology=True))


def polygon_shape(points: np.ndarray) -> BaseGeometry:
    """A filled polygon (polygon and lasso tools); self-intersections are repaired."""
    unique = _drop_repeats(points)
    if len(unique) < 3:
        raise GeometryError("A polygon needs at least 3 distinct points")
    shape = repair(Polygon(unique))
    shape = polygonal(shape.simplify(0.05, preserve_topology=True))
    if shape.is_empty:
        raise GeometryError("The polygon encloses no area")
    return shape


def _drop_repeats(points: np.ndarray) -> np.ndarray:
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.any(np.diff(points, axis=0) != 0, axis=1)
    return points[keep]


def clip_to_slide(geom: BaseGeometry, width: int, height: int) -> BaseGeometry:
    """The part of `geom` inside the slide (0, 0, width, height)."""
    minx, miny, maxx, maxy = geom.bounds
    if minx >= 0 and miny >= 0 and maxx <= width and maxy <= height:
        return geom
    return polygonal(geom.intersection(box(0, 0, width, height)))


def cell_bounds(cx: int, cy: int) -> tuple[int, int, int, int]:
    """(minx, miny, maxx, maxy) of grid cell (cx, cy)."""
    return (cx * CELL, cy * CELL, (cx + 1) * CELL, (cy + 1) * CELL)


def cell_range(bounds: Sequence[float]) -> tuple[int, int, int, int]:
    """(cx0, cy0, cx1, cy1) inclusive: the cells a bounding box overlaps."""
    minx, miny, maxx, maxy = bounds
    return (
        math.floor(minx / CELL),
        math.floor(miny / CELL),
        math.floor(maxx / CELL),
        math.floor(maxy / CELL),
    )


def split_into_cells(geom: BaseGeometry) -> dict[tuple[int, int], BaseGeometry]:
    """`geom` cut along the grid: {(cx, cy): non-empty polygonal piece}."""
    if geom.is_empty:
        return {}
    cx0, cy0, cx1, cy1 = cell_range(geom.bounds)
    if (cx0, cy0) == (cx1, cy1):
        return {(cx0, cy0): geom}
    keys = [(cx, cy) for cx in range(cx0, cx1 + 1) for cy in range(cy0, cy1 + 1)]
    cells = shapely.box(*np.array([cell_bounds(cx, cy) for cx, cy in keys]).T)
    shapely.prepare(geom)
    hits = shapely.intersects(geom, cells)
    pieces = {}
    for key, cell, hit in zip(keys, cells, hits, strict=True):
        if hit:
            piece = polygonal(geom.intersection(cell))
            if not piece.is_empty:
                pieces[key] = piece
    return pieces


def apply_shape(
    cells: dict[Key, BaseGeometry], shape: BaseGeometry, class_id: int | None
) -> dict[Key, BaseGeometry | None]:
    """Paint `shape` with `class_id` (None erases) over the cells under it.

    `cells` holds the current pieces of every class in the cells the shape overlaps.
    The shape is added to `class_id` and removed from every other class, so a pixel
    keeps at most one label. Returns the changed pieces (None = the piece is gone).
    """
    changed: dict[Key, BaseGeometry | None] = {}
    for (cx, cy), piece in split_into_cells(shape).items():
        present = [k for k in cells if k[1] == cx and k[2] == cy]
        for key in present:
            if key[0] == class_id:
                continue
            old = cells[key]
            if not shapely.relate_pattern(old, piece, "T********"):
                continue  # no shared interior: nothing to take
            # GEOS overlay results are valid for valid inputs: only dust is dropped.
            new = polygonal(old.difference(piece))
            changed[key] = None if new.is_empty else new
        if class_id is not None:
            key = (class_id, cx, cy)
            old = cells.get(key)
            if old is not None and old.contains(piece):
                continue
            new = piece if old is None else polygonal(old.union(piece))
            changed[key] = new
    return changed


def make_piece(geom: BaseGeometry) -> Piece:
    """Serialise one cell piece for storage."""
    return Piece(shapely.to_wkb(geom), float(geom.area), coords_text(geom))


def coords_text(geom: BaseGeometry) -> str:
    """GeoJSON polygon coordinates of `geom`, comma-joined (a MultiPolygon's inner list).

    Coordinates are rounded to 1/100 px for the text only (GEOS writes it); the stored
    WKB keeps full precision.
    """
    if geom.is_empty:
        return ""
    rounded = shapely.transform(shapely.orient_polygons(geom), _round)
    text = shapely.to_geojson(rounded)
    if isinstance(geom, MultiPolygon):
        return text[len(_MULTI_PREFIX) : -2]
    return text[len(_POLYGON_PREFIX) : -1]


_MULTI_PREFIX = '{"type":"MultiPolygon","coordinates":['
_POLYGON_PREFIX = '{"type":"Polygon","coordinates":'


def _round(coords: np.ndarray) -> np.ndarray:
    return np.round(coords, COORD_DECIMALS)


def from_wkb(data: bytes) -> BaseGeometry:
    """Parse stored WKB."""
    return shapely.from_wkb(data)


def merge_pieces(pieces: Iterable[BaseGeometry]) -> BaseGeometry:
    """One valid (Multi)Polygon from pieces that do not overlap (cells of one class)."""
    geoms = [p for p in pieces if not p.is_empty]
    if not geoms:
        return Polygon()
    if len(geoms) == 1:
        return geoms[0]
    # The tiny tolerance drops the vertices the grid cuts added on straight edges.
    return repair(shapely.union_all(geoms).simplify(1e-6, preserve_topology=True))
