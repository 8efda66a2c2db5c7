"""Connected label shapes: the shape under a point, and edits of one whole shape.

What a user sees as one annotation is a connected region of one class: the polygons of
its cell pieces (repository.py stores a class per 256-px grid cell) that share an edge
across cell borders. `connected_shape` finds it among the pieces of a window of cells;
when it reaches the window's edge the caller reads a larger window and asks again
(`Found.complete`, `Found.window`), so only the cells around the shape are read.
`shape_changes` turns "delete", "recolor" or "replace" of a found shape into ordinary cell
changes: its exact polygons leave their pieces (no overlay), and for recolor and replace a
shape is painted as the polygon tool paints it.
Pure shapely (no store, no eventlet): these functions run in compute threads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from server.annotations.geometry import (
    CELL,
    COORD_DECIMALS,
    Key,
    apply_shape,
    from_wkb,
    make_piece,
    merge_pieces,
    polygonal,
)
from server.annotations.parts import Delta, changes_delta, part_id
from server.annotations.repository import CellChange

Cells = tuple[int, int, int, int]  # (cx0, cy0, cx1, cy1), inclusive
Rows = Mapping[Key, tuple[int, bytes]]  # (class_id, cx, cy) -> (piece id, WKB)
ACTIONS = ("delete", "recolor", "replace")
EDGE = 1e-6  # px: a coordinate this close to a window edge reaches it
SCALE = 10**COORD_DECIMALS  # answers' boxes are rounded outward to 1/SCALE px


@dataclass
class Found:
    """The connected shape of one class found in a window of cells.

    `parts`: for each (class, cx, cy) piece, the indices (in `shapely.get_parts` order of
    its stored WKB) of the polygons that belong to the shape. `complete` is False when the
    shape reaches the window's edge: read `window` and look again.
    """

    class_id: int
    parts: dict[Key, list[int]]
    complete: bool
    window: Cells
    polygon: Polygon = field(default_factory=Polygon)
    area: float = 0.0


def cell_of(x: float, y: float) -> tuple[int, int]:
    """The grid cell holding a level-0 point."""
    return math.floor(x / CELL), math.floor(y / CELL)


def window_bounds(window: Cells) -> tuple[int, int, int, int]:
    """A box whose `cell_range` is exactly `window` (the origins of its corner cells)."""
    cx0, cy0, cx1, cy1 = window
    return cx0 * CELL, cy0 * CELL, cx1 * CELL, cy1 * CELL


def window_cells(window: Cells) -> int:
    """How many cells a window holds."""
    return (window[2] - window[0] + 1) * (window[3] - window[1] + 1)


def connected_shape(
    rows: Rows, point: tuple[float, float], window: Cells, grid: tuple[int, int]
) -> Found | None:
    """The connected shape of the label under `point` among `rows` (the live pieces of
    every class in the cells of `window`), or None when no label covers the point.

    `grid` is the slide's size in cells: the shape cannot continue beyond it. Two polygons
    of the class belong together when they share an edge (of positive length) on a cell
    border; polygons touching at a point stay apart, as they do when merged.
    """
    pieces = {key: from_wkb(wkb) for key, (_, wkb) in rows.items()}
    start = _polygon_at(pieces, point)
    if start is None:
        return None
    class_id = start[0][0]
    keys, indices, polys = [], [], []
    for key, piece in pieces.items():
        if key[0] != class_id:
            continue
        for index, poly in enumerate(shapely.get_parts(piece)):
            if not poly.is_empty:
                keys.append(key)
                indices.append(index)
                polys.append(poly)
    first = next(i for i, (k, j) in enumerate(zip(keys, indices, strict=True)) if (k, j) == start)
    members = _component(np.asarray(polys, dtype=object), keys, first)
    parts: dict[Key, list[int]] = {}
    for i in members:
        parts.setdefault(keys[i], []).append(indices[i])
    chosen = [polys[i] for i in members]
    bounds = shapely.total_bounds(np.asarray(chosen, dtype=object))
    if _reaches_edge(bounds, window, grid):
        return Found(class_id, parts, False, _grown(bounds, window, grid))
    merged = merge_pieces(chosen)
    if not isinstance(merged, Polygon):  # rounding left it in pieces: the one at the point
        at = Point(point)
        merged = next(
            (p for p in shapely.get_parts(merged) if p.covers(at)),
            max(shapely.get_parts(merged), key=lambda p: p.area),
        )
    area = float(shapely.area(np.asarray(chosen, dtype=object)).sum())
    return Found(class_id, parts, True, window, merged, area)


def _polygon_at(
    pieces: Mapping[Key, BaseGeometry], point: tuple[float, float]
) -> tuple[Key, int] | None:
    """(piece key, polygon index) of a label polygon covering `point`; inside beats edge."""
    at = Point(point)
    edge = None
    for key, piece in sorted(pieces.items(), key=lambda item: item[0]):
        minx, miny, maxx, maxy = piece.bounds
        if not (minx <= point[0] <= maxx and miny <= point[1] <= maxy):
            continue
        for index, poly in enumerate(shapely.get_parts(piece)):
            if poly.contains(at):
                return key, index
            if edge is None and poly.covers(at):
                edge = (key, index)
    return edge


def _component(polys: np.ndarray, keys: list[Key], first: int) -> list[int]:
    """The polygons connected to polys[first] through shared edges on cell borders.

    Candidate pairs come from one STRtree query, and the test (boundaries meeting along a
    line, not at a point) runs on all of them at once.
    """
    left, right = shapely.STRtree(polys).query(polys, predicate="intersects")
    cells = np.array([k[1] * 2**32 + k[2] for k in keys], dtype=np.int64)
    pair = (left < right) & (cells[left] != cells[right])
    left, right = left[pair], right[pair]
    joined = shapely.relate_pattern(polys[left], polys[right], "****1****")
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(left[joined].tolist(), right[joined].tolist(), strict=True):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    seen = {first}
    todo = [first]
    while todo:
        for j in neighbours.get(todo.pop(), ()):
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return sorted(seen)


def _reaches_edge(bounds: np.ndarray, window: Cells, grid: tuple[int, int]) -> bool:
    """Whether a box reaches a side of the window beyond which the slide goes on."""
    cx0, cy0, cx1, cy1 = window
    return bool(
        (cx0 > 0 and bounds[0] <= cx0 * CELL + EDGE)
        or (cy0 > 0 and bounds[1] <= cy0 * CELL + EDGE)
        or (cx1 < grid[0] - 1 and bounds[2] >= (cx1 + 1) * CELL - EDGE)
        or (cy1 < grid[1] - 1 and bounds[3] >= (cy1 + 1) * CELL - EDGE)
    )


def _grown(bounds: np.ndarray, window: Cells, grid: tuple[int, int]) -> Cells:
    """The next window: the shape's cells grown by half their span (at least one cell) on
    every side, within the slide, so a long shape is read in a few rounds."""
    cx0, cy0 = cell_of(bounds[0], bounds[1])
    cx1, cy1 = cell_of(bounds[2], bounds[3])
    gx, gy = max(1, (cx1 - cx0 + 1) // 2), max(1, (cy1 - cy0 + 1) // 2)
    return (
        max(0, min(window[0], cx0 - gx)),
        max(0, min(window[1], cy0 - gy)),
        min(grid[0] - 1, max(window[2], cx1 + gx)),
        min(grid[1] - 1, max(window[3], cy1 + gy)),
    )


def shape_changes(
    rows: Rows,
    found: Found,
    action: str,
    class_id: int | None = None,
    new_shape: BaseGeometry | None = None,
) -> tuple[list[CellChange], Delta]:
    """Cell changes (and their delta) for an action on a found shape.

    `rows`: the live pieces of every class in the cells of the shape (and of `new_shape`).
    delete: the shape's polygons leave their pieces. recolor: they leave them and the
    shape is painted with `class_id`. replace: they leave them and `new_shape` is painted
    with `class_id` (default: the shape's class), taking its area from other classes as
    the polygon tool does.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    target = found.class_id if class_id is None else class_id
    if action == "recolor" and target == found.class_id:
        return [], Delta()
    before = {key: from_wkb(wkb) for key, (_, wkb) in rows.items()}
    after: dict[Key, BaseGeometry | None] = dict(before)
    removed: dict[Key, np.ndarray] = {}  # pieces that only lose polygons: their delta is quick
    for key, indices in found.parts.items():
        polys = shapely.get_parts(before[key])
        keep = np.ones(len(polys), dtype=bool)
        keep[indices] = False
        kept = polys[keep]
        after[key] = _collect(kept) if len(kept) else None
        removed[key] = polys[~keep]
    if action == "recolor":
        # The exact polygons move to the target's pieces (no other class holds their area).
        for key, indices in found.parts.items():
            moved = shapely.get_parts(before[key])[indices]
            there = (target, key[1], key[2])
            after[there] = _with_parts(after.get(there), moved)
    elif action == "replace" and new_shape is not None and not new_shape.is_empty:
        present = {k: g for k, g in after.items() if g is not None}
        painted = apply_shape(present, new_shape, target)
        after.update(painted)
        for key in painted:
            removed.pop(key, None)
    changed = [key for key, geom in after.items() if geom is not before.get(key)]
    changes = []
    for key in changed:
        geom = after[key]
        old_id = rows[key][0] if key in rows else None
        changes.append(CellChange(*key, old_id, None if geom is None else make_piece(geom)))
    delta = changes_delta(
        (key, before.get(key), after[key]) for key in changed if key not in removed
    )
    delta.merge(_removal_delta(removed))
    return changes, delta


def _removal_delta(removed: dict[Key, np.ndarray]) -> Delta:
    """The delta of pieces that only lost polygons: those polygons' ids and their box
    (what `changes_delta` answers for them, without comparing the polygons that stay)."""
    polys = [p for ps in removed.values() for p in ps]
    if not polys:
        return Delta()
    keys = [key for key, ps in removed.items() for _ in ps]
    array = np.asarray(polys, dtype=object)
    low_x, low_y, high_x, high_y = shapely.total_bounds(array) * SCALE
    bounds = [math.floor(low_x) / SCALE, math.floor(low_y) / SCALE]
    bounds += [math.ceil(high_x) / SCALE, math.ceil(high_y) / SCALE]
    wkbs = shapely.to_wkb(array)
    return Delta([], [(k, part_id(k, w)) for k, w in zip(keys, wkbs, strict=True)], bounds)


def _collect(polys: np.ndarray) -> BaseGeometry:
    """One geometry of polygons that meet at most at points (a Polygon when just one)."""
    return polys[0] if len(polys) == 1 else shapely.multipolygons(polys)


def _with_parts(piece: BaseGeometry | None, moved: np.ndarray) -> BaseGeometry:
    """A cell piece with polygons added: those of the piece they touch are merged with
    them, the others are kept as they are (same coordinates, same part ids)."""
    if piece is None:
        return _collect(moved)
    parts = shapely.get_parts(piece)
    hit = shapely.intersects(parts[:, None], moved[None, :]).any(axis=1)
    if not hit.any():
        return _collect(np.concatenate([parts, moved]))
    merged = shapely.get_parts(polygonal(shapely.union_all([*parts[hit], *moved])))
    return _collect(np.concatenate([parts[~hit], merged]))
