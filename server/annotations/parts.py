"""Label parts: the polygons of one class inside one grid cell, each named by its content.

A class's labels are stored per (class, cell) piece (repository.py); a piece may hold
many polygons (e.g. a hundred nuclei). Answers and the `parts` form of the collection
send those polygons one by one, as features with the id
`label-<class>-<cx>-<cy>-<hash>`, where the hash is of the polygon's WKB: a polygon an
edit does not change keeps its id, so an edit's answer lists only the polygons that
appeared or disappeared (`Delta`), whatever else the slide holds.
Pure functions for compute threads (no store, no eventlet).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from server.annotations.geometry import COORD_DECIMALS, Key, from_wkb

ID_BYTES = 8  # 64-bit content hash in part ids
_POLYGON_PREFIX = '{"type":"Polygon","coordinates":'


@dataclass(frozen=True)
class Part:
    """One label polygon: id, class, cell, GeoJSON Polygon coordinates (text) and area px²."""

    id: str
    class_id: int
    cx: int
    cy: int
    text: str
    area: float


@dataclass
class Delta:
    """What a change did to the labels: polygons added and removed, and where."""

    added: list[Part] = field(default_factory=list)
    removed: list[tuple[Key, str]] = field(default_factory=list)  # (class, cx, cy), id
    bounds: list[float] | None = None  # [minx, miny, maxx, maxy] of everything that changed

    def merge(self, other: Delta) -> None:
        """Add another delta (of other cells) to this one."""
        self.added += other.added
        self.removed += other.removed
        if other.bounds is not None:
            self.bounds = _union_bounds(self.bounds, other.bounds)

    @property
    def class_ids(self) -> set[int]:
        """The classes whose labels changed."""
        return {p.class_id for p in self.added} | {key[0] for key, _ in self.removed}

    def only_classes(self, existing: set[int]) -> Delta:
        """This delta without the parts of classes not in `existing` (deleted meanwhile)."""
        return Delta(
            [p for p in self.added if p.class_id in existing],
            [r for r in self.removed if r[0][0] in existing],
            self.bounds,
        )


def part_id(key: Key, wkb: bytes) -> str:
    """The feature id of a polygon of class key[0] in cell (key[1], key[2])."""
    digest = hashlib.blake2b(wkb, digest_size=ID_BYTES).hexdigest()
    return f"label-{key[0]}-{key[1]}-{key[2]}-{digest}"


def polygons(geom: BaseGeometry | None) -> np.ndarray:
    """The non-empty polygons of a piece (an empty array for None)."""
    if geom is None or geom.is_empty:
        return np.empty(0, dtype=object)
    parts = shapely.get_parts(geom)
    return parts[~shapely.is_empty(parts)]


def part_texts(polys: np.ndarray) -> list[str]:
    """GeoJSON Polygon coordinates of each polygon, rounded to 1/100 px (GEOS writes them)."""
    if not len(polys):
        return []
    rounded = shapely.transform(shapely.orient_polygons(polys), _round)
    return [t[len(_POLYGON_PREFIX) : -1] for t in shapely.to_geojson(rounded)]


def _round(coords: np.ndarray) -> np.ndarray:
    return np.round(coords, COORD_DECIMALS)


def cell_delta(key: Key, before: BaseGeometry | None, after: BaseGeometry | None) -> Delta:
    """The polygons that differ between a cell piece before and after a change.

    Polygons are compared by their WKB (exact coordinates), so the work beyond copying
    bytes is in proportion to the polygons that changed.
    """
    old, new = polygons(before), polygons(after)
    old_wkb = list(shapely.to_wkb(old)) if len(old) else []
    new_wkb = list(shapely.to_wkb(new)) if len(new) else []
    old_set, new_set = set(old_wkb), set(new_wkb)
    gone = np.array([w not in new_set for w in old_wkb], dtype=bool)
    came = np.array([w not in old_set for w in new_wkb], dtype=bool)
    added_polys = new[came] if len(new) else new
    texts = part_texts(added_polys)
    areas = shapely.area(added_polys)
    added_wkb = [w for w, c in zip(new_wkb, came, strict=True) if c]
    delta = Delta(
        [
            Part(part_id(key, w), *key, t, float(a))
            for w, t, a in zip(added_wkb, texts, areas, strict=True)
        ],
        [(key, part_id(key, w)) for w, g in zip(old_wkb, gone, strict=True) if g],
    )
    changed = [*(old[gone] if len(old) else []), *added_polys]
    if changed:
        delta.bounds = _outward(shapely.total_bounds(np.asarray(changed, dtype=object)))
    return delta


def changes_delta(changes: Iterable[tuple[Key, BaseGeometry | None, BaseGeometry | None]]) -> Delta:
    """The delta of several cell changes: (key, piece before, piece after)."""
    delta = Delta()
    for key, before, after in changes:
        delta.merge(cell_delta(key, before, after))
    return delta


def wkb_changes_delta(changes: list[tuple[Key, bytes | None, bytes | None]]) -> Delta:
    """`changes_delta` from stored WKB (undo/redo: the rows that die and revive)."""
    return changes_delta(
        (key, None if b is None else from_wkb(b), None if a is None else from_wkb(a))
        for key, b, a in changes
    )


def piece_parts(rows: list[tuple[int, int, int, bytes]]) -> list[list[Part]]:
    """Every polygon of each stored piece (class_id, cx, cy, WKB), for the collection."""
    out = []
    for class_id, cx, cy, wkb in rows:
        key = (class_id, cx, cy)
        polys = polygons(from_wkb(wkb))
        blobs = shapely.to_wkb(polys) if len(polys) else []
        out.append(
            [
                Part(part_id(key, w), class_id, cx, cy, t, float(a))
                for w, t, a in zip(blobs, part_texts(polys), shapely.area(polys), strict=True)
            ]
        )
    return out


def _outward(bounds: np.ndarray) -> list[float]:
    """A box rounded outward to 1/100 px, so it holds the rounded coordinates too."""
    scale = 10**COORD_DECIMALS
    low = np.floor(bounds[:2] * scale) / scale
    high = np.ceil(bounds[2:] * scale) / scale
    return [float(v) for v in (*low, *high)]


def _union_bounds(a: list[float] | None, b: list[float]) -> list[float]:
    if a is None:
        return list(b)
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
