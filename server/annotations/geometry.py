"""Pure shapely geometry for painting: tool shapes, repair, the cell grid, edits on cells.

Label geometry is kept per (class, grid cell): each class's region is cut along a fixed
grid of CELL level-0 pixels. An edit then touches only the cells under the stroke, so
its cost depends on the labels near the stroke, not on how many strokes the slide has.
Nothing here touches the store or eventlet: these functions run in compute threads.

The work of an edit is estimated from its points before any buffering (`Work`), and an
edit over a limit is refused (`TooMuchWork`) instead of growing the server without bound:
a stroke is clipped to the slide (grown by the radius) and simplified first, then buffered
in short pieces that are unioned, so that a stroke crossing itself costs in proportion
to its outline, not to the square of its length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from server.errors import TooLarge, UserError

CELL = 256  # grid cell size in level-0 pixels (stored data depends on it: do not change)
QUAD_SEGS = 8  # segments per quarter circle of brush caps and joins
CHUNK_SEGMENTS = 16  # a stroke is buffered in pieces of this many segments, then unioned
# Limits on the estimated work of one edit (see `Work`). With them, the largest accepted
# edit stays within a few hundred MB (tests/benchmarks/bench_limits.py measures it).
MAX_VERTICES = 1_000_000  # outline vertices after buffering
MAX_CROSSINGS = 50_000  # estimated self-crossings of the outline
MAX_CELLS = 65_536  # grid cells touched (a 65,536 × 65,536 px square)
MIN_AREA = 1e-3  # px²: polygons smaller than this are numerical dust
COORD_DECIMALS = 2  # GeoJSON coordinates are rounded to 1/100 px
# No slide is this large; beyond it shapely's arithmetic overflows (±1e308 gives NaN) or hangs.
MAX_COORDINATE = 1e9

Key = tuple[int, int, int]  # (class_id, cx, cy)


class GeometryError(UserError):
    """Geometry that cannot be used or repaired; the message says why."""


class TooMuchWork(TooLarge, GeometryError):
    """An edit whose estimated work is over a limit; `hint` says what would be accepted."""

    def __init__(self, message: str, hint: str = "Split it into smaller parts.") -> None:
        super().__init__(message, hint)


@dataclass(frozen=True)
class Work:
    """The work of an edit, estimated from its points before any buffering.

    `vertices`: of the outline after buffering; `crossings`: expected self-crossings of
    the outline, min(pairs of segments, length² / area of its bounding box) — what makes
    overlay operations explode; `cells`: grid cells of its bounding box inside the slide;
    `area`: px² painted at most (length × 2r + πr² for a stroke, the box for a polygon).
    """

    vertices: int
    crossings: float
    cells: int
    area: float

    def check(self, what: str) -> None:
        """TooMuchWork naming the first limit `what` ("This stroke") goes over."""
        if self.vertices > MAX_VERTICES:
            raise TooMuchWork(
                f"{what} would have about {self.vertices:,} outline vertices "
                f"(at most {MAX_VERTICES:,})",
                "Split it into several shorter strokes or shapes.",
            )
        if self.crossings > MAX_CROSSINGS:
            raise TooMuchWork(
                f"{what} crosses itself about {self.crossings:,.0f} times "
                f"(at most {MAX_CROSSINGS:,})",
                "Paint it as several shorter strokes that do not criss-cross the slide, "
                "or fill large areas with the polygon tool.",
            )
        if self.cells > MAX_CELLS:
            side = CELL * math.isqrt(MAX_CELLS)
            raise TooMuchWork(
                f"{what} covers {self.cells:,} grid cells of {CELL} px (at most {MAX_CELLS:,})",
                f"Paint areas larger than {side:,} × {side:,} px in several parts.",
            )


@dataclass(frozen=True)
class Piece:
    """One class's geometry inside one cell (or one ROI), ready to store: WKB and area.

    `coords` (the polygons' GeoJSON coordinates, comma-joined, without outer brackets) is
    made only for ROIs, which store it; label answers name and send single parts instead
    (parts.py), so an edit never serialises a whole cell.
    """

    wkb: bytes
    area: float
    coords: str = ""


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
    try:
        array = np.asarray(points, dtype=float)
    except OverflowError as exc:  # an integer beyond what a float holds
        raise GeometryError(_COORDINATE_RANGE) from exc
    check_coordinates(array)
    return array


def check_coordinates(coords: np.ndarray) -> None:
    """GeometryError unless every coordinate is finite and within ±MAX_COORDINATE."""
    if not np.isfinite(coords).all():
        raise GeometryError("Coordinates must be finite numbers (no NaN or infinity)")
    if coords.size and np.abs(coords).max() > MAX_COORDINATE:
        raise GeometryError(_COORDINATE_RANGE)


_COORDINATE_RANGE = f"Coordinates must lie within ±{MAX_COORDINATE:,.0f} px"


class TooManyPoints(TooMuchWork):
    """More points than an edit may carry."""


Size = tuple[int, int]  # a slide's (width, height) in level-0 pixels


def stroke_lines(points: np.ndarray, radius: float, size: Size | None = None) -> list[np.ndarray]:
    """The centre line of a stroke, ready to buffer: one (n, 2) array per part (n = 1: a dot).

    Repeated points are dropped; with the slide `size`, only the parts of the line within
    `radius` (+1 px) of the slide are kept (the rest cannot paint it); the line is then
    simplified with `simplify_tolerance(radius)`, which drops the dense points of pointer
    input while moving the outline by at most 1 % of the radius.
    """
    unique = _drop_repeats(points)
    if size is not None:
        grow = radius + 1.0
        inside = (0 - grow, 0 - grow, size[0] + grow, size[1] + grow)
    if len(unique) == 1:
        if size is not None and not shapely.box(*inside).contains(Point(unique[0])):
            return []
        return [unique]
    line: BaseGeometry = LineString(unique)
    if size is not None:
        line = shapely.clip_by_rect(line, *inside)
    line = line.simplify(simplify_tolerance(radius), preserve_topology=False)
    return [shapely.get_coordinates(p) for p in shapely.get_parts(line) if not p.is_empty]


def stroke_work(lines: list[np.ndarray], radius: float, size: Size | None = None) -> Work:
    """The estimated work of buffering `lines` (from `stroke_lines`) by `radius`."""
    if not lines:
        return Work(0, 0.0, 0, 0.0)
    segments = sum(len(c) - 1 for c in lines)
    length = sum(float(np.hypot(*np.diff(c, axis=0).T).sum()) for c in lines if len(c) > 1)
    coords = np.concatenate(lines)
    low, high = coords.min(axis=0) - radius, coords.max(axis=0) + radius
    spread = float(np.prod(high - low))
    return Work(
        vertices=(segments + 2) * (2 * QUAD_SEGS + 2),
        crossings=min(segments * (segments - 1) / 2, length * length / spread),
        cells=_cells((*low, *high), size),
        area=length * 2 * radius + math.pi * radius * radius,
    )


def stroke_shape(points: np.ndarray, radius: float, size: Size | None = None) -> BaseGeometry:
    """A brush/eraser stroke: the polyline buffered by `radius` with round caps and joins.

    With the slide `size`, the shape is clipped to the slide. TooMuchWork when the
    estimated work is over a limit. The line is buffered in pieces of CHUNK_SEGMENTS
    segments that are then unioned: GEOS buffers a line that overlaps itself by noding
    its whole offset curve at once, whose cost grows with the square of its length.
    """
    lines = stroke_lines(points, radius, size)
    stroke_work(lines, radius, size).check("This stroke")
    if not lines:
        return Polygon()
    pieces = [
        Point(c[0]) if len(c) == 1 else LineString(c[start : start + CHUNK_SEGMENTS + 1])
        for c in lines
        for start in range(0, max(len(c) - 1, 1), CHUNK_SEGMENTS)
    ]
    shapes = shapely.buffer(
        pieces, radius, quad_segs=QUAD_SEGS, cap_style="round", join_style="round"
    )
    if size is not None:
        shapes = shapely.intersection(shapes, shapely.box(0, 0, *size))
    shape = polygonal(shapes[0] if len(shapes) == 1 else shapely.union_all(shapes))
    return repair(shape.simplify(simplify_tolerance(radius), preserve_topology=True))


def polygon_work(points: np.ndarray, size: Size | None = None) -> Work:
    """The estimated work of repairing and cutting the polygon with these vertices."""
    return rings_work([points], size)


def rings_work(rings: list[np.ndarray], size: Size | None = None) -> Work:
    """The estimated work of repairing and cutting a polygon with these (n, 2) rings."""
    segments = sum(len(r) for r in rings)
    length = sum(
        float(np.hypot(*np.diff(np.concatenate([r, r[:1]]), axis=0).T).sum()) for r in rings
    )
    coords = np.concatenate(rings)
    low, high = coords.min(axis=0), coords.max(axis=0)
    spread = float(np.prod(np.maximum(high - low, 1.0)))
    return Work(
        vertices=segments,
        crossings=min(segments * (segments - 1) / 2, length * length / spread),
        cells=_cells((*low, *high), size),
        area=spread,
    )


def polygon_shape(points: np.ndarray, size: Size | None = None) -> BaseGeometry:
    """A filled polygon (polygon and lasso tools); self-intersections are repaired.

    TooMuchWork when the estimated work is over a limit (checked before the repair,
    which is what a polygon crossing itself thousands of times makes expensive).
    """
    unique = _drop_repeats(points)
    if len(unique) < 3:
        raise GeometryError("A polygon needs at least 3 distinct points")
    polygon_work(unique, size).check("This polygon")
    shape = repair(Polygon(unique))
    shape = polygonal(shape.simplify(0.05, preserve_topology=True))
    if shape.is_empty:
        raise GeometryError("The polygon encloses no area")
    return shape


def _cells(bounds: Sequence[float], size: Size | None) -> int:
    """Grid cells a bounding box overlaps (inside the slide when its size is given)."""
    minx, miny, maxx, maxy = bounds
    if size is not None:
        minx, miny = max(minx, 0.0), max(miny, 0.0)
        maxx, maxy = min(maxx, float(size[0])), min(maxy, float(size[1]))
        if maxx <= minx or maxy <= miny:
            return 0
    cx0, cy0, cx1, cy1 = cell_range((minx, miny, maxx, maxy))
    return (cx1 - cx0 + 1) * (cy1 - cy0 + 1)


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
    """`geom` cut along the grid: {(cx, cy): non-empty polygonal piece}.

    The geometry is halved along grid lines until each part lies in one cell, so every
    vertex is handled about log2(cells) times (not once per cell), and a part that is a
    whole block of cells becomes those cells' squares without any overlay.
    """
    if geom.is_empty:
        return {}
    pieces: dict[tuple[int, int], BaseGeometry] = {}
    _split(geom, cell_range(geom.bounds), pieces)
    return dict(sorted(pieces.items()))  # in grid order, as the store lists them


def _split(geom: BaseGeometry, cells: tuple[int, int, int, int], out: dict) -> None:
    cx0, cy0, cx1, cy1 = cells
    if cx0 == cx1 and cy0 == cy1:
        out[(cx0, cy0)] = geom
        return
    if _is_block(geom, cells):
        for cx in range(cx0, cx1 + 1):
            for cy in range(cy0, cy1 + 1):
                out[(cx, cy)] = box(*cell_bounds(cx, cy))
        return
    if cx1 - cx0 >= cy1 - cy0:
        mid = (cx0 + cx1 + 1) // 2
        halves = ((cx0, cy0, mid - 1, cy1), (mid, cy0, cx1, cy1))
    else:
        mid = (cy0 + cy1 + 1) // 2
        halves = ((cx0, cy0, cx1, mid - 1), (cx0, mid, cx1, cy1))
    for half in halves:
        x0, y0 = cell_bounds(half[0], half[1])[:2]
        x1, y1 = cell_bounds(half[2], half[3])[2:]
        part = _clip(geom, (x0, y0, x1, y1))
        if not part.is_empty:
            px0, py0, px1, py1 = cell_range(part.bounds)
            tight = (max(px0, half[0]), max(py0, half[1]), min(px1, half[2]), min(py1, half[3]))
            _split(part, tight, out)


def _clip(geom: BaseGeometry, bounds: tuple[float, float, float, float]) -> BaseGeometry:
    """The polygonal part of `geom` inside a rectangle.

    GEOS's rectangle clipping is many times faster than a general intersection on
    shapes with thousands of holes, but may leave an invalid result in degenerate
    cases: then the exact overlay is used.
    """
    part = shapely.clip_by_rect(geom, *bounds)
    if not part.is_valid:
        part = geom.intersection(box(*bounds))
    return polygonal(part)


def _is_block(geom: BaseGeometry, cells: tuple[int, int, int, int]) -> bool:
    """Whether `geom` is exactly the square block of these cells."""
    if not isinstance(geom, Polygon) or geom.interiors or len(geom.exterior.coords) > 16:
        return False
    x0, y0 = cell_bounds(cells[0], cells[1])[:2]
    x1, y1 = cell_bounds(cells[2], cells[3])[2:]
    return geom.bounds == (x0, y0, x1, y1) and geom.area == (x1 - x0) * (y1 - y0)


def apply_shape(
    cells: dict[Key, BaseGeometry], shape: BaseGeometry, class_id: int | None
) -> dict[Key, BaseGeometry | None]:
    """Paint `shape` with `class_id` (None erases) over the cells under it.

    `cells` holds the current pieces of every class in the cells the shape overlaps.
    The shape is added to `class_id` and removed from every other class, so a pixel
    keeps at most one label. Returns the changed pieces (None = the piece is gone).
    Only the polygons of a piece that the shape reaches take part in the overlay; the
    others are kept as they are (same coordinates), so the work of an edit does not grow
    with how many shapes a cell already holds, and unchanged polygons keep their names.
    """
    by_cell: dict[tuple[int, int], list[Key]] = {}
    for key in cells:
        by_cell.setdefault((key[1], key[2]), []).append(key)
    changed: dict[Key, BaseGeometry | None] = {}
    for (cx, cy), piece in split_into_cells(shape).items():
        for key in by_cell.get((cx, cy), ()):
            if key[0] == class_id:
                continue
            new = _take(cells[key], piece)
            if new is not None:
                changed[key] = None if new.is_empty else new
        if class_id is not None:
            key = (class_id, cx, cy)
            old = cells.get(key)
            if old is not None and old.contains(piece):
                continue
            changed[key] = piece if old is None else _add(old, piece)
    return changed


def _take(old: BaseGeometry, piece: BaseGeometry) -> BaseGeometry | None:
    """`old` without `piece`; None when they share no interior (nothing to take)."""
    parts = shapely.get_parts(old)
    hit = shapely.relate_pattern(parts, piece, "T********")
    if not hit.any():
        return None
    # GEOS overlay results are valid for valid inputs: only dust is dropped.
    cut = [polygonal(p.difference(piece)) for p in parts[hit]]
    return _collect_parts([parts[~hit], np.asarray(cut, dtype=object)])


def _add(old: BaseGeometry, piece: BaseGeometry) -> BaseGeometry:
    """`old` with `piece` added: the polygons it touches are merged with it."""
    parts = shapely.get_parts(old)
    hit = shapely.intersects(parts, piece)
    merged = polygonal(shapely.union_all([*parts[hit], piece]))
    return _collect_parts([parts[~hit], np.asarray([merged], dtype=object)])


def _collect_parts(groups: list[np.ndarray]) -> BaseGeometry:
    """One (Multi)Polygon of the polygons in arrays of geometries (disjoint up to points)."""
    polys = shapely.get_parts(np.concatenate(groups))
    polys = polys[~shapely.is_empty(polys)]
    if not len(polys):
        return Polygon()
    return polys[0] if len(polys) == 1 else shapely.multipolygons(polys)


def make_piece(geom: BaseGeometry, with_coords: bool = False) -> Piece:
    """Serialise one cell piece (or, `with_coords`, one ROI) for storage."""
    return Piece(shapely.to_wkb(geom), float(geom.area), coords_text(geom) if with_coords else "")


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
