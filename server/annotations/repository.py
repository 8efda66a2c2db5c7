"""Annotation storage in SQLite: label pieces per (slide, class, cell), ROIs, versions.

A class's labels on a slide are the union of its live pieces, one per grid cell (see
geometry.py), stored as WKB with their area. Rows are never rewritten: an edit marks
the pieces it replaces dead (live = 0) and inserts new ones, so an undo step only
flips flags and no geometry is copied into the history. Dead rows are deleted when no
history step can bring them back (history.py). ROIs work the same way.
Called from greenlets only (the Store rule); callers do heavy shapely work in compute.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from server.annotations import classes
from server.annotations.geometry import (
    CELL,
    Piece,
    apply_shape,
    cell_range,
    from_wkb,
    make_piece,
    merge_pieces,
    polygonal,
    repair,
)
from server.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotation_pieces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slide_id TEXT NOT NULL,
    class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    cx INTEGER NOT NULL,
    cy INTEGER NOT NULL,
    live INTEGER NOT NULL,
    wkb BLOB NOT NULL,
    area REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS annotation_pieces_live
    ON annotation_pieces (slide_id, cx, cy, class_id) WHERE live = 1;
CREATE INDEX IF NOT EXISTS annotation_pieces_class ON annotation_pieces (class_id);
CREATE TABLE IF NOT EXISTS annotation_rois (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slide_id TEXT NOT NULL,
    live INTEGER NOT NULL,
    wkb BLOB NOT NULL,
    area REAL NOT NULL,
    coords TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotation_rois_slide ON annotation_rois (slide_id, live);
CREATE TABLE IF NOT EXISTS annotation_versions (
    slide_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
"""

# Running totals of the live pieces per (slide, class), kept by triggers whatever writes the
# pieces (edits, undo, import, history pruning, class deletes), so an answer reads a class's
# area in one lookup instead of summing its pieces. Databases made before the table existed
# are filled once (the INSERT does nothing while the table has rows).
TOTALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS annotation_totals (
    slide_id TEXT NOT NULL,
    class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    area REAL NOT NULL,
    pieces INTEGER NOT NULL,
    PRIMARY KEY (slide_id, class_id)
);
CREATE TRIGGER IF NOT EXISTS annotation_totals_insert AFTER INSERT ON annotation_pieces
WHEN new.live = 1 BEGIN
    INSERT INTO annotation_totals (slide_id, class_id, area, pieces)
    VALUES (new.slide_id, new.class_id, new.area, 1)
    ON CONFLICT (slide_id, class_id)
    DO UPDATE SET area = area + excluded.area, pieces = pieces + 1;
END;
CREATE TRIGGER IF NOT EXISTS annotation_totals_revive AFTER UPDATE OF live ON annotation_pieces
WHEN old.live = 0 AND new.live = 1 BEGIN
    INSERT INTO annotation_totals (slide_id, class_id, area, pieces)
    VALUES (new.slide_id, new.class_id, new.area, 1)
    ON CONFLICT (slide_id, class_id)
    DO UPDATE SET area = area + excluded.area, pieces = pieces + 1;
END;
CREATE TRIGGER IF NOT EXISTS annotation_totals_kill AFTER UPDATE OF live ON annotation_pieces
WHEN old.live = 1 AND new.live = 0 BEGIN
    UPDATE annotation_totals
    SET pieces = pieces - 1, area = CASE WHEN pieces = 1 THEN 0.0 ELSE area - old.area END
    WHERE slide_id = old.slide_id AND class_id = old.class_id;
END;
CREATE TRIGGER IF NOT EXISTS annotation_totals_delete AFTER DELETE ON annotation_pieces
WHEN old.live = 1 BEGIN
    UPDATE annotation_totals
    SET pieces = pieces - 1, area = CASE WHEN pieces = 1 THEN 0.0 ELSE area - old.area END
    WHERE slide_id = old.slide_id AND class_id = old.class_id;
END;
INSERT INTO annotation_totals (slide_id, class_id, area, pieces)
SELECT slide_id, class_id, SUM(area), COUNT(*) FROM annotation_pieces
WHERE live = 1 AND NOT EXISTS (SELECT 1 FROM annotation_totals)
GROUP BY slide_id, class_id;
"""

Key = tuple[int, int, int]  # (class_id, cx, cy)
EDGE_TOLERANCE = 1e-6  # px: a coordinate this close to a cell edge may lie on it
MAX_LISTED_COLUMNS = 256  # cells_in_bounds lists up to this many grid columns


@dataclass(frozen=True)
class CellChange:
    """The piece of (class, cell) becomes `after` (None: no piece); `old_id` is the live one."""

    class_id: int
    cx: int
    cy: int
    old_id: int | None
    after: Piece | None


@dataclass
class Written:
    """What one committed change did: the slide's new version and the rows it flipped."""

    version: int
    killed: list[int] = field(default_factory=list)  # piece ids now dead
    created: list[int] = field(default_factory=list)  # piece ids now live
    rois_killed: list[int] = field(default_factory=list)
    rois_created: list[int] = field(default_factory=list)


def ensure_schema(store: Store) -> None:
    """Create the annotation tables (and the classes table they refer to)."""
    classes.ensure_schema(store)
    store.ensure_schema("annotations", SCHEMA)
    store.ensure_schema("annotation_totals", TOTALS_SCHEMA)


# ---- reading -------------------------------------------------------------------------


def version(store: Store, slide_id: str) -> int:
    """How many changes the slide's annotations have had (0 = never edited)."""
    ensure_schema(store)
    row = store.query_one("SELECT version FROM annotation_versions WHERE slide_id = ?", (slide_id,))
    return row[0] if row else 0


def cells_in_bounds(store: Store, slide_id: str, bounds) -> dict[Key, tuple[int, bytes]]:
    """(id, WKB) of every class's live piece in the cells a bounding box overlaps.

    The columns are listed (up to MAX_LISTED_COLUMNS), so the index is searched for the
    touched cells only, not for every row of those columns.
    """
    ensure_schema(store)
    cx0, cy0, cx1, cy1 = cell_range(bounds)
    columns = list(range(cx0, cx1 + 1))
    if len(columns) <= MAX_LISTED_COLUMNS:
        where, params = f"cx IN ({','.join('?' * len(columns))})", columns
    else:
        where, params = "cx BETWEEN ? AND ?", [cx0, cx1]
    rows = store.query(
        "SELECT class_id, cx, cy, id, wkb FROM annotation_pieces WHERE slide_id = ?"
        f" AND {where} AND cy BETWEEN ? AND ? AND live = 1",
        (slide_id, *params, cy0, cy1),
    )
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def live_rows(store: Store, slide_id: str) -> list[sqlite3.Row]:
    """Rows (id, class_id, cx, cy, wkb, area) of the slide's live pieces."""
    ensure_schema(store)
    return store.query(
        "SELECT id, class_id, cx, cy, wkb, area FROM annotation_pieces"
        " WHERE slide_id = ? AND live = 1",
        (slide_id,),
    )


def all_cells(store: Store, slide_id: str) -> dict[Key, bytes]:
    """WKB of every live piece of the slide, keyed (class_id, cx, cy)."""
    return {(r["class_id"], r["cx"], r["cy"]): r["wkb"] for r in live_rows(store, slide_id)}


def pieces_by_id(store: Store, ids: Sequence[int]) -> list[sqlite3.Row]:
    """Rows (id, class_id, cx, cy, wkb, area) of the given pieces (live or dead)."""
    ensure_schema(store)
    rows = []
    for start in range(0, len(ids), 500):  # SQLite limits the number of parameters
        chunk = ids[start : start + 500]
        rows += store.query(
            "SELECT id, class_id, cx, cy, wkb, area FROM annotation_pieces WHERE id IN"
            f" ({','.join('?' * len(chunk))})",
            chunk,
        )
    return rows


def class_areas(store: Store, slide_id: str) -> dict[int, float]:
    """Labelled area in px² per class (classes without labels omitted)."""
    ensure_schema(store)
    rows = store.query(
        "SELECT class_id, area FROM annotation_totals WHERE slide_id = ? AND pieces > 0",
        (slide_id,),
    )
    return {r[0]: r[1] for r in rows}


def class_area(store: Store, slide_id: str, class_id: int) -> float:
    """Labelled area in px² of one class on a slide (0 when it has none): one lookup."""
    ensure_schema(store)
    row = store.query_one(
        "SELECT area FROM annotation_totals WHERE slide_id = ? AND class_id = ? AND pieces > 0",
        (slide_id, class_id),
    )
    return row[0] if row else 0.0


def rois(store: Store, slide_id: str) -> list[sqlite3.Row]:
    """Rows (id, wkb, area, coords) of the slide's ROIs, oldest first."""
    ensure_schema(store)
    return store.query(
        "SELECT id, wkb, area, coords FROM annotation_rois WHERE slide_id = ? AND live = 1"
        " ORDER BY id",
        (slide_id,),
    )


def roi_wkb(store: Store, slide_id: str, roi_id: int) -> bytes | None:
    """A live ROI's WKB, or None when the slide has no such ROI."""
    return _live_roi_field(store, slide_id, roi_id, "wkb")


def roi_coords(store: Store, slide_id: str, roi_id: int) -> str | None:
    """A live ROI's GeoJSON polygon coordinates, or None when the slide has no such ROI."""
    return _live_roi_field(store, slide_id, roi_id, "coords")


def _live_roi_field(store: Store, slide_id: str, roi_id: int, column: str):
    ensure_schema(store)
    row = store.query_one(
        f"SELECT {column} FROM annotation_rois WHERE slide_id = ? AND id = ? AND live = 1",
        (slide_id, roi_id),
    )
    return row[0] if row else None


def load_label_pieces(store: Store, slide_id: str) -> dict[int, list[bytes]]:
    """WKB pieces per class of a slide (read in a greenlet, merge in compute)."""
    pieces: dict[int, list[bytes]] = {}
    for row in live_rows(store, slide_id):
        pieces.setdefault(row["class_id"], []).append(row["wkb"])
    return pieces


def merge_label_pieces(pieces: dict[int, list[bytes]]) -> dict[int, BaseGeometry]:
    """class_id -> one valid (Multi)Polygon from its WKB pieces (thread-safe, no store)."""
    merged = {}
    for class_id, blobs in pieces.items():
        geom = merge_cells(shapely.from_wkb(blobs))
        if not geom.is_empty:
            merged[class_id] = geom
    return merged


def merge_cells(pieces: Sequence[BaseGeometry]) -> BaseGeometry:
    """One valid (Multi)Polygon from one class's cell pieces (they never overlap).

    A shape can continue in the next cell only where it reaches a cell edge, so only the
    polygons that reach one are unioned, and without their holes that stay clear of every
    cell edge (put back afterwards): thousands of small shapes inside cells, or holes in a
    large one, cost no overlay. Same area and topology as `geometry.merge_pieces`; the
    result may keep vertices on former cell edges.
    """
    polys = shapely.get_parts(shapely.get_parts(np.asarray(pieces, dtype=object)))
    polys = polys[~shapely.is_empty(polys)]
    if not len(polys):
        return Polygon()
    crossing = _on_cell_edge(shapely.bounds(polys)).any(axis=1)
    inner = list(polys[~crossing])
    if not crossing.any():
        return _collect(inner)
    shells, aside = _set_holes_aside(polys[crossing])
    parts = list(shapely.get_parts(repair(shapely.union_all(shells))))
    if aside:
        restored = _put_holes_back(parts, aside)
        if restored is None:  # numerically ambiguous: the plain overlay of everything
            return merge_pieces(polys)
        parts = restored
    return _collect(inner + parts)


def _on_cell_edge(bounds: np.ndarray) -> np.ndarray:
    """Which bounding-box coordinates lie on a cell edge (within float rounding)."""
    offset = np.mod(bounds, CELL)
    return np.minimum(offset, CELL - offset) < EDGE_TOLERANCE


def _set_holes_aside(polys: np.ndarray) -> tuple[list[Polygon], list]:
    """The polygons without their holes that stay clear of cell edges, and those holes."""
    shells, aside = [], []
    for poly in polys:
        holes = poly.interiors
        if not holes:
            shells.append(poly)
            continue
        clear = ~_on_cell_edge(shapely.bounds(np.asarray(holes, dtype=object))).any(axis=1)
        if not clear.any():
            shells.append(poly)
            continue
        pairs = list(zip(holes, np.asarray(clear), strict=True))
        shells.append(Polygon(poly.exterior, [h for h, c in pairs if not c]))
        aside += [h for h, c in pairs if c]
    return shells, aside


def _put_holes_back(parts: list[Polygon], holes: list) -> list[Polygon] | None:
    """Each hole back into the merged polygon that covers it (it lay inside one piece);
    None when a hole is not inside exactly one of them."""
    inside = shapely.point_on_surface(shapely.polygons(holes))
    found = shapely.STRtree(parts).query(inside, predicate="within")  # (hole, part) pairs
    if len(found[0]) != len(holes) or len(np.unique(found[0])) != len(holes):
        return None
    extra: dict[int, list] = {}
    for hole, part in zip(*found, strict=True):
        extra.setdefault(int(part), []).append(holes[hole])
    out = []
    for index, part in enumerate(parts):
        if index in extra:
            part = Polygon(part.exterior, [*part.interiors, *extra[index]])
        out.append(part)
    return out


def _collect(polys: list[Polygon]) -> BaseGeometry:
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def label_geometries(store: Store, slide_id: str) -> dict[int, BaseGeometry]:
    """class_id -> valid (Multi)Polygon in level-0 px; classes never overlap; empty omitted.

    Reads the store, so call it from a greenlet (or a script); in the server, prefer
    `load_label_pieces` in the greenlet and `merge_label_pieces` in `compute`.
    """
    return merge_label_pieces(load_label_pieces(store, slide_id))


def roi_geometries(store: Store, slide_id: str) -> list[Polygon]:
    """The slide's ROIs as polygons in level-0 px, oldest first."""
    return [from_wkb(r["wkb"]) for r in rois(store, slide_id)]


# ---- writing (inside a transaction) --------------------------------------------------


def write_changes(
    conn: sqlite3.Connection,
    slide_id: str,
    cells: list[CellChange],
    new_rois: Sequence[Piece] = (),
    dead_rois: Sequence[int] = (),
) -> Written:
    """Apply the changes (old rows die, new rows are inserted) and bump the version."""
    killed = [c.old_id for c in cells if c.old_id is not None]
    set_live(conn, "annotation_pieces", killed, False)
    created = [
        conn.execute(
            "INSERT INTO annotation_pieces (slide_id, class_id, cx, cy, live, wkb, area)"
            " VALUES (?, ?, ?, ?, 1, ?, ?)",
            (slide_id, c.class_id, c.cx, c.cy, c.after.wkb, c.after.area),
        ).lastrowid
        or 0  # sqlite always gives an INSERT's row id
        for c in cells
        if c.after is not None
    ]
    set_live(conn, "annotation_rois", dead_rois, False)
    rois_created = [
        conn.execute(
            "INSERT INTO annotation_rois (slide_id, live, wkb, area, coords)"
            " VALUES (?, 1, ?, ?, ?)",
            (slide_id, p.wkb, p.area, p.coords),
        ).lastrowid
        or 0  # sqlite always gives an INSERT's row id
        for p in new_rois
    ]
    return Written(bump_version(conn, slide_id), killed, created, list(dead_rois), rois_created)


def set_live(conn: sqlite3.Connection, table: str, ids: Sequence[int], live: bool) -> None:
    """Mark rows of annotation_pieces or annotation_rois live or dead."""
    assert table in ("annotation_pieces", "annotation_rois")
    conn.executemany(f"UPDATE {table} SET live = ? WHERE id = ?", [(int(live), i) for i in ids])


def bump_version(conn: sqlite3.Connection, slide_id: str) -> int:
    """Increment and return the slide's annotation version."""
    conn.execute(
        "INSERT INTO annotation_versions (slide_id, version) VALUES (?, 1)"
        " ON CONFLICT (slide_id) DO UPDATE SET version = version + 1",
        (slide_id,),
    )
    return conn.execute(
        "SELECT version FROM annotation_versions WHERE slide_id = ?", (slide_id,)
    ).fetchone()[0]


def replace_label_geometry(
    store: Store, slide_id: str, class_id: int, geometry: BaseGeometry
) -> None:
    """Set a class's labels on a slide to `geometry` (taken from every other class).

    A direct write for tests and scripts: no Socket.IO event, no clipping to the slide
    (pass level-0 pixel geometry inside it), shapely runs inline. The slide's undo
    history is cleared, since its steps no longer describe how the labels came about.
    """
    from server.annotations import history  # history builds on this module

    ensure_schema(store)
    history.ensure_schema(store)
    if classes.get_class(store, class_id) is None:
        raise KeyError(f"unknown class {class_id}")
    geometry = repair(polygonal(geometry))
    rows = {(r["class_id"], r["cx"], r["cy"]): r for r in live_rows(store, slide_id)}
    others = {k: from_wkb(r["wkb"]) for k, r in rows.items() if k[0] != class_id}
    painted = apply_shape(others, geometry, class_id) if not geometry.is_empty else {}
    changes = [
        CellChange(*k, rows[k]["id"] if k in rows else None, None if g is None else make_piece(g))
        for k, g in painted.items()
    ]
    changes += [
        CellChange(*k, r["id"], None)
        for k, r in rows.items()
        if k[0] == class_id and k not in painted
    ]
    with store.transaction() as conn:
        write_changes(conn, slide_id, changes)
        history.clear(conn, slide_id)
