"""The annotation service: edits, undo/redo, import, class deletes, serialised per slide.

Every change of a slide runs under that slide's semaphore (read, compute, write), so
two clients' edits never interleave. Shapely work runs in `compute` threads; the
store is read and written by the greenlet, and the change is committed before the
answer is built. An answer carries the change only (answers.py): the polygons that
appeared or disappeared in the cells the edit touched (parts.py) and each changed
class's running total, so neither its size nor its cost grows with the slide's labels.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np
from shapely.geometry.base import BaseGeometry

from server.annotations import classes, history
from server.annotations import repository as repo
from server.annotations.answers import (
    change_text,
    class_entries,
    class_feature,
    json_bool,
    part_feature,
    roi_feature,
    um2,
)
from server.annotations.cache import LabelTextCache, SlideLabels
from server.annotations.edits import (
    ShapeEdit,
    is_shape_edit,
    paint,
    replacement_shape,
    roi_pieces,
    tool_shape,
    validate_edit,
    validate_shape_edit,
)
from server.annotations.geojson import (
    ImportedLabels,
    export_collection,
    geometry_text,
    parse_collection,
)
from server.annotations.geometry import (
    CELL,
    MAX_CELLS,
    Key,
    Piece,
    TooMuchWork,
    apply_shape,
    cell_range,
    from_wkb,
    make_piece,
    rings_work,
    split_into_cells,
)
from server.annotations.masks import MAX_DOWNSAMPLE, MAX_MASK_PIXELS, mask_size, rasterise
from server.annotations.parts import Delta, changes_delta, wkb_changes_delta
from server.annotations.repository import CellChange
from server.annotations.shapes import (
    Found,
    Rows,
    connected_shape,
    shape_changes,
    window_bounds,
    window_cells,
)
from server.context import Context
from server.errors import Conflict, NotFound, UserError
from server.events import room
from server.jobs import Lock, compute, spawn
from server.slides.library import SlideEntry

log = logging.getLogger(__name__)

# Above this size an `annotations:changed` event says "reload" (features null) instead of
# carrying the change, so the event loop never parses megabytes to forward one edit.
MAX_EVENT_FEATURES_BYTES = 256_000
# The GeoJSON export merges each class into one geometry: bounded by the stored geometry
# (16 bytes of WKB per vertex, so about 8 million vertices).
MAX_EXPORT_WKB_BYTES = 128 * 2**20
MAX_IMPORT_CELLS = 2 * MAX_CELLS  # distinct grid cells one GeoJSON import may cover
FORMS = ("classes", "parts")  # the collection's forms: a feature per class, or per polygon


def ensure_schema(store) -> None:
    """All annotation tables."""
    repo.ensure_schema(store)
    history.ensure_schema(store)


class AnnotationService:
    """Annotation changes of all slides; ctx.annotations."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self._locks: dict[str, Lock] = {}
        self.cache = LabelTextCache()
        ensure_schema(self.store)

    def lock(self, slide_id: str) -> Lock:
        """The semaphore that serialises changes of one slide."""
        if slide_id not in self._locks:
            self._locks[slide_id] = Lock(1)
        return self._locks[slide_id]

    # ---- edits ---------------------------------------------------------------------

    def edit(self, entry: SlideEntry, body: object) -> str:
        """Apply one brush/eraser/polygon/ROI/shape edit; the committed answer as JSON text."""
        if is_shape_edit(body):
            return self.edit_shape(entry, validate_shape_edit(self.store, body))
        edit = validate_edit(self.store, entry, body)
        info = entry.details
        shape = compute(tool_shape, edit, info.width, info.height)
        with self.lock(entry.id):
            if edit.tool == "roi":
                if shape.is_empty:
                    raise UserError("The ROI lies outside the slide")
                return self._add_rois(entry, shape, edit.client_id)
            if shape.is_empty:
                return self._unchanged(entry)
            rows = repo.cells_in_bounds(self.store, entry.id, shape.bounds)
            target = edit.class_id if edit.tool in ("brush", "polygon") else None
            cells, delta = compute(paint, rows, shape, target)
            return self._commit(entry, edit.tool, cells, delta, edit.client_id)

    def edit_shape(self, entry: SlideEntry, edit: ShapeEdit) -> str:
        """Delete, recolor or replace the connected shape under `edit.at` (one step)."""
        info = entry.details
        new_shape = None
        if edit.rings is not None:
            new_shape = compute(replacement_shape, edit.rings, info.width, info.height)
            if new_shape.is_empty:
                raise UserError(
                    "The new outline lies outside the slide", hint="Delete the shape instead."
                )
        with self.lock(entry.id):
            found, rows = self._find_shape(entry, edit.at)
            if edit.action == "recolor" and edit.class_id == found.class_id:
                return self._unchanged(entry)
            if new_shape is not None:
                x0, y0, x1, y1 = window_bounds(found.window)
                a0, b0, a1, b1 = new_shape.bounds
                box = (min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1))
                rows = repo.cells_in_bounds(self.store, entry.id, box)
            cells, delta = compute(
                shape_changes, rows, found, edit.action, edit.class_id, new_shape
            )
            return self._commit(entry, f"shape-{edit.action}", cells, delta, edit.client_id)

    def shape_at(self, entry: SlideEntry, x: float, y: float) -> dict:
        """The connected shape of the label under (x, y): class, merged polygon, area."""
        found, _ = self._find_shape(entry, (x, y))
        cls = classes.get_class(self.store, found.class_id) or {}
        return {
            "class_id": found.class_id,
            "name": cls.get("name"),
            "color": cls.get("color"),
            "polygon": json.loads(compute(geometry_text, found.polygon)),
            "area_px": found.area,
            "area_um2": um2(found.area, entry),
            "bounds": list(found.polygon.bounds),
            "vertices": len(found.polygon.exterior.coords)
            - 1
            + sum(len(r.coords) - 1 for r in found.polygon.interiors),
            "version": repo.version(self.store, entry.id),
        }

    def _find_shape(self, entry: SlideEntry, at: tuple[float, float]) -> tuple[Found, Rows]:
        """The shape under `at` and the pieces of the cells around it; NotFound when no
        label covers the point. Reads larger windows of cells until the shape ends."""
        x, y = at
        info = entry.details
        if not (0 <= x <= info.width and 0 <= y <= info.height):
            raise NotFound("No label here", hint="The point lies outside the slide.")
        grid = (-(-info.width // CELL), -(-info.height // CELL))
        cx0, cy0, cx1, cy1 = cell_range((x - 1e-6, y - 1e-6, x + 1e-6, y + 1e-6))
        window = (max(cx0, 0), max(cy0, 0), min(cx1, grid[0] - 1), min(cy1, grid[1] - 1))
        while True:
            rows = repo.cells_in_bounds(self.store, entry.id, window_bounds(window))
            found = compute(connected_shape, rows, (x, y), window, grid)
            if found is None:
                raise NotFound("No label here", hint="Click inside a labelled area.")
            if found.complete:
                return found, rows
            if window_cells(found.window) > MAX_CELLS:
                raise TooMuchWork(
                    f"This shape spans more than {MAX_CELLS:,} grid cells of {CELL} px",
                    "Edit it with the brush and eraser instead.",
                )
            window = found.window

    def paint_shapes(
        self,
        entry: SlideEntry,
        steps: Sequence[tuple[BaseGeometry, int | None]],
        action: str,
        client_id: str | None,
    ) -> str:
        """Paint level-0 shapes in order (class id None erases) as ONE undoable step, e.g.
        predictions accepted as labels; the committed answer, like an edit's."""
        steps = [(shape, class_id) for shape, class_id in steps if not shape.is_empty]
        if not steps:
            return self._unchanged(entry)
        bounds = np.array([shape.bounds for shape, _ in steps])
        box = (*bounds[:, :2].min(axis=0), *bounds[:, 2:].max(axis=0))
        with self.lock(entry.id):
            rows = repo.cells_in_bounds(self.store, entry.id, box)
            cells, delta = compute(_paint_all, rows, steps)
            return self._commit(entry, action, cells, delta, client_id)

    def _add_rois(self, entry: SlideEntry, shape: BaseGeometry, client_id: str | None) -> str:
        pieces = compute(roi_pieces, shape)
        return self._commit(entry, "roi", [], Delta(), client_id, new_rois=pieces)

    def delete_roi(self, entry: SlideEntry, roi_id: int, client_id: str | None) -> str:
        """Remove one ROI (an undoable step)."""
        with self.lock(entry.id):
            if repo.roi_coords(self.store, entry.id, roi_id) is None:
                raise NotFound(f"ROI {roi_id} not found on this slide")
            return self._commit(entry, "roi-delete", [], Delta(), client_id, dead_rois=[roi_id])

    def _commit(
        self,
        entry: SlideEntry,
        action: str,
        cells: list[CellChange],
        delta: Delta,
        client_id: str | None,
        new_rois: Sequence[Piece] = (),
        dead_rois: Sequence[int] = (),
    ) -> str:
        """Write the changes and their history step in one transaction, then answer."""
        if not cells and not new_rois and not dead_rois:
            return self._unchanged(entry)
        with self.store.transaction() as conn:
            existing = _class_ids_now(conn)
            cells = [c for c in cells if c.class_id in existing]
            delta = delta.only_classes(existing)
            written = repo.write_changes(conn, entry.id, cells, new_rois, dead_rois)
            history.record(conn, entry.id, action, written)
        self.cache.committed(entry.id, delta, written.version)
        return self._changed(
            entry, written.version, delta, written.rois_created, written.rois_killed, client_id
        )

    # ---- undo / redo ---------------------------------------------------------------

    def undo(self, entry: SlideEntry, client_id: str | None, redo: bool = False) -> str:
        """Revert the newest step (or re-apply the oldest undone one with redo=True)."""
        with self.lock(entry.id):
            step = history.next_step(self.store, entry.id, redo)
            if step is None:
                raise Conflict("Nothing to redo" if redo else "Nothing to undo")
            die, revive = (step.killed, step.created) if redo else (step.created, step.killed)
            rois_die, rois_revive = (
                (step.rois_killed, step.rois_created)
                if redo
                else (step.rois_created, step.rois_killed)
            )
            delta = compute(
                wkb_changes_delta,
                _flips(repo.pieces_by_id(self.store, die), repo.pieces_by_id(self.store, revive)),
            )
            with self.store.transaction() as conn:
                # Kill first: a revived piece may take the cell of one that dies.
                repo.set_live(conn, "annotation_pieces", die, False)
                repo.set_live(conn, "annotation_pieces", revive, True)
                repo.set_live(conn, "annotation_rois", rois_die, False)
                repo.set_live(conn, "annotation_rois", rois_revive, True)
                history.mark(conn, entry.id, step.seq, undone=not redo)
                version = repo.bump_version(conn, entry.id)
            self.cache.committed(entry.id, delta, version)
            return self._changed(entry, version, delta, rois_revive, rois_die, client_id)

    # ---- import --------------------------------------------------------------------

    def replace(
        self, entry: SlideEntry, doc: object, client_id: str | None, form: str = "classes"
    ) -> str:
        """Replace all labels and ROIs from GeoJSON (one undo step); the new collection.

        Where features overlap, the later one takes the pixels (as a sequence of edits would).
        """
        info = entry.details
        imported: ImportedLabels = compute(_parse_import, doc, info.width, info.height)
        names = list(imported.labels)
        cut = compute(_cut_imported, [imported.labels[n] for n in names], imported.rois)
        with self.lock(entry.id):
            old = {
                (r["class_id"], r["cx"], r["cy"]): r["id"]
                for r in repo.live_rows(self.store, entry.id)
            }
            old_rois = [r["id"] for r in repo.rois(self.store, entry.id)]
            with self.store.transaction() as conn:
                ids, created = _class_ids(conn, names, imported.colors)
                new = {ids[n]: pieces for n, pieces in zip(names, cut[0], strict=True)}
                cells = _replacement(old, new)
                written = repo.write_changes(conn, entry.id, cells, cut[1], old_rois)
                history.record(conn, entry.id, "import", written)
            self.cache.forget(entry.id)
        if created:
            self.ctx.emit("classes:changed", classes.list_classes(self.store))
        self._emit_changed(entry.id, written.version, client_id, None, _RELOAD)
        text = self.collection(entry, form)
        if imported.skipped:
            text = text[:-1] + ',"skipped":' + json.dumps(imported.skipped) + "}"
        return text

    # ---- classes -------------------------------------------------------------------

    def delete_class(self, class_id: int) -> None:
        """Delete a class with its labels on every slide; tells everyone."""
        with self.store.transaction() as conn:
            slides = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT slide_id FROM annotation_pieces"
                    " WHERE class_id = ? AND live = 1",
                    (class_id,),
                )
            ]
            # Cascades to its pieces (live and dead) and to history items naming them.
            classes.delete_class_rows(conn, class_id)
            versions = {s: repo.bump_version(conn, s) for s in slides}
        for slide_id in slides:
            self.cache.forget(slide_id)
        self.ctx.emit("classes:changed", classes.list_classes(self.store))
        for slide_id, version in versions.items():
            gone = {**_RELOAD, "removed": [f"class-{class_id}"]}
            self._emit_changed(slide_id, version, None, None, gone)

    # ---- reading -------------------------------------------------------------------

    def collection(self, entry: SlideEntry, form: str = "classes") -> str:
        """GET: the FeatureCollection of labels and ROIs with version and undo state.

        `form` "classes": one feature per class (`class-<id>`, v1); "parts": one feature per
        polygon and grid cell (the ids edit answers use) plus `classes` with their totals.
        """
        if form not in FORMS:
            raise UserError(f"Unknown form {form!r}", hint="Use form=classes or form=parts.")
        labels = self._labels(entry)
        can_undo, can_redo = history.can_undo_redo(self.store, entry.id)
        listed = classes.list_classes(self.store)
        extra = ""
        if form == "parts":
            features = [part_feature(p) for p in labels.parts()]
            held = [c["id"] for c in listed if c["id"] in labels.classes]
            entries = class_entries(self.store, entry, held)
            extra = '"classes":' + json.dumps(entries, separators=(",", ":")) + ","
        else:
            areas = repo.class_areas(self.store, entry.id)
            features = [
                text
                for c in listed
                if (
                    text := class_feature(
                        entry, c, labels.class_texts(c["id"]), areas.get(c["id"], 0.0)
                    )
                )
                is not None
            ]
        features += [roi_feature(r["id"], r["coords"]) for r in repo.rois(self.store, entry.id)]
        return "".join(
            [
                f'{{"type":"FeatureCollection","form":"{form}",',
                f'"version":{labels.version},"can_undo":{json_bool(can_undo)},',
                f'"can_redo":{json_bool(can_redo)},',
                extra,
                '"features":[',
                ",".join(features),
                "]}",
            ]
        )

    def _labels(self, entry: SlideEntry) -> SlideLabels:
        """The cached labels, at the store's version (a change may land during a reload)."""
        labels = self.cache.get(self.store, entry.id)
        for _ in range(3):
            if labels.version == repo.version(self.store, entry.id):
                break
            labels = self.cache.get(self.store, entry.id)
        return labels

    def summary(self, entry: SlideEntry) -> dict:
        """Labelled area per class (px² and µm²) and the number of ROIs."""
        areas = repo.class_areas(self.store, entry.id)
        return {
            "version": repo.version(self.store, entry.id),
            "classes": [
                {
                    "class_id": c["id"],
                    "name": c["name"],
                    "area_px": areas.get(c["id"], 0.0),
                    "area_um2": um2(areas.get(c["id"], 0.0), entry),
                }
                for c in classes.list_classes(self.store)
            ],
            "rois": len(repo.rois(self.store, entry.id)),
        }

    def export_geojson(self, entry: SlideEntry) -> str:
        """A QuPath-importable FeatureCollection: one feature per class, ROIs as "ROI"."""
        pieces = repo.load_label_pieces(self.store, entry.id)
        labelled = [c for c in classes.list_classes(self.store) if c["id"] in pieces]
        rois = [(r["id"], r["wkb"]) for r in repo.rois(self.store, entry.id)]
        size = sum(len(b) for blobs in pieces.values() for b in blobs)
        size += sum(len(wkb) for _, wkb in rois)
        if size > MAX_EXPORT_WKB_BYTES:  # the labels' size, not the request's: 409
            raise Conflict(
                f"The labels of this slide hold {size / 2**20:,.0f} MiB of geometry; GeoJSON "
                f"exports at most {MAX_EXPORT_WKB_BYTES / 2**20:,.0f} MiB",
                "Export the label mask (PNG or TIFF) instead.",
            )
        return compute(export_collection, pieces, labelled, rois)

    def mask(self, entry: SlideEntry, downsample: float) -> tuple:
        """(uint8 mask, legend) at `downsample`; value = class position + 1."""
        if not 1 <= downsample <= MAX_DOWNSAMPLE:
            raise UserError(f"downsample must be between 1 and {MAX_DOWNSAMPLE}")
        cols, rows = mask_size(entry.details.width, entry.details.height, downsample)
        if cols * rows > MAX_MASK_PIXELS:
            raise UserError(
                f"A mask of {cols}×{rows} pixels is too large",
                hint=f"Choose a larger downsample (at most {MAX_MASK_PIXELS:,} pixels).",
            )
        ordered = classes.list_classes(self.store)
        pieces = repo.load_label_pieces(self.store, entry.id)
        by_value = {i + 1: pieces[c["id"]] for i, c in enumerate(ordered) if c["id"] in pieces}
        legend = {
            str(i + 1): {"id": c["id"], "name": c["name"], "color": c["color"]}
            for i, c in enumerate(ordered)
        }
        info = entry.details
        return compute(rasterise, by_value, info.width, info.height, downsample), legend

    # ---- answers and events --------------------------------------------------------

    def _unchanged(self, entry: SlideEntry) -> str:
        """The answer to an edit that changed nothing (e.g. painted outside the slide)."""
        version = repo.version(self.store, entry.id)
        return change_text(self.store, entry, version, Delta(), [], [])[0]

    def _changed(
        self,
        entry: SlideEntry,
        version: int,
        delta: Delta,
        new_rois: list[int],
        dead_rois: list[int],
        client_id: str | None,
    ) -> str:
        """The answer to a committed change; also sent to the slide's room."""
        rois = [
            roi_feature(roi_id, coords)
            for roi_id in new_rois
            if (coords := repo.roi_coords(self.store, entry.id, roi_id)) is not None
        ]
        gone = [f"roi-{roi_id}" for roi_id in dead_rois]
        text, features, rest = change_text(self.store, entry, version, delta, rois, gone)
        parsed = json.loads(f"[{features}]") if len(features) <= MAX_EVENT_FEATURES_BYTES else None
        self._emit_changed(entry.id, version, client_id, parsed, rest)
        return text

    def _emit_changed(self, slide_id: str, version: int, client_id, features, rest: dict) -> None:
        """Send `annotations:changed` (features None: "reload") to the slide's room."""
        payload = {
            "slide_id": slide_id,
            "version": version,
            "client_id": client_id,
            "features": features,
            **rest,
        }
        # Sent from its own greenlet so the editor's answer does not wait for the fan-out.
        spawn(self.ctx.emit, "annotations:changed", payload, room("slide", slide_id))

    def replay(self, ctx: Context, sid: str, slide_id: str) -> None:
        """On `watch {slide_id}`: tell the client the current version (features null: reload)."""
        payload = {
            "slide_id": slide_id,
            "version": repo.version(self.store, slide_id),
            "client_id": None,
            "features": None,
            **_RELOAD,
        }
        ctx.socketio.emit("annotations:changed", payload, to=sid)


# ---- helpers run in the greenlet -----------------------------------------------------


# The fields of an `annotations:changed` event that says "reload" (features null).
_RELOAD: dict[str, object] = {"removed": [], "classes": [], "bounds": None}


def _class_ids_now(conn: sqlite3.Connection) -> set[int]:
    """The ids of the classes that exist (a class may go while an edit is computed)."""
    return {r[0] for r in conn.execute("SELECT id FROM classes")}


def _flips(dying: list[sqlite3.Row], reviving: list[sqlite3.Row]) -> list[tuple]:
    """(key, WKB before, WKB after) of each cell an undo/redo step flips."""
    changes: dict[tuple[int, int, int], list] = {}
    for index, rows in ((0, dying), (1, reviving)):
        for r in rows:
            changes.setdefault((r["class_id"], r["cx"], r["cy"]), [None, None])[index] = r["wkb"]
    return [(key, before, after) for key, (before, after) in changes.items()]


def _class_ids(conn, names: list[str], colors: dict[str, str | None]) -> tuple[dict, bool]:
    """Ids of the named classes (case-insensitive), creating the missing ones; any created?"""
    ids, created = {}, False
    for name in names:
        row = conn.execute(
            "SELECT id FROM classes WHERE name = ? COLLATE NOCASE", (name,)
        ).fetchone()
        if row is None:
            created = True
        ids[name] = row[0] if row else classes.insert_class(conn, name, colors.get(name))
    return ids, created


def _replacement(old: dict[tuple[int, int, int], int], new: dict[int, dict]) -> list[CellChange]:
    """Cell changes turning the `old` live pieces (key -> id) into exactly the `new` ones."""
    changes = [
        CellChange(class_id, cx, cy, old.get((class_id, cx, cy)), piece)
        for class_id, pieces in new.items()
        for (cx, cy), piece in pieces.items()
    ]
    written = {(c.class_id, c.cx, c.cy) for c in changes}
    changes += [
        CellChange(*key, piece_id, None) for key, piece_id in old.items() if key not in written
    ]
    return changes


# ---- work run in compute threads -----------------------------------------------------


def _parse_import(doc: object, width: int, height: int) -> ImportedLabels:
    """parse_collection, once the work of every polygon is known to be within the limits.

    Each polygon is held to the edit API's limits (`Work.check`), and the whole import to
    MAX_IMPORT_CELLS distinct grid cells, before anything is repaired or unioned.
    """
    cols, rows = -(-width // CELL), -(-height // CELL)
    touched = np.zeros((rows, cols), dtype=bool)
    for index, rings in _import_polygons(doc):
        work = rings_work(rings, (width, height))
        work.check(f"Feature {index + 1}")
        if work.cells:
            coords = np.concatenate(rings)
            low = np.maximum(coords.min(axis=0), 0)
            high = np.minimum(coords.max(axis=0), (width, height))
            cx0, cy0, cx1, cy1 = cell_range((*low, *high))
            touched[cy0 : cy1 + 1, cx0 : cx1 + 1] = True
    cells = int(touched.sum())
    if cells > MAX_IMPORT_CELLS:
        raise TooMuchWork(
            f"This import covers {cells:,} grid cells of {CELL} px (at most {MAX_IMPORT_CELLS:,})",
            "Import the labels of large slides in parts, or simplify them first.",
        )
    return parse_collection(doc, width, height)


def _import_polygons(doc: object) -> Iterator[tuple[int, list[np.ndarray]]]:
    """(feature index, rings) of each readable polygon of a GeoJSON document.

    Anything unreadable is skipped here: parse_collection reports it.
    """
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        doc = doc.get("features")
    elif isinstance(doc, dict):
        doc = [doc]
    for index, feature in enumerate(doc if isinstance(doc, list) else []):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict):
            continue
        kind, coords = geometry.get("type"), geometry.get("coordinates")
        polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
        for polygon in polygons if isinstance(polygons, list) else []:
            rings = _rings(polygon)
            if rings:
                yield index, rings


def _rings(polygon: object) -> list[np.ndarray] | None:
    """A GeoJSON polygon's rings as finite (n, 2) arrays; None when it is not that."""
    if not isinstance(polygon, list) or not polygon:
        return None
    try:
        rings = [np.asarray(ring, dtype=float) for ring in polygon]
    except (TypeError, ValueError, OverflowError):
        return None
    if any(r.ndim != 2 or r.shape[1] != 2 or len(r) == 0 for r in rings):
        return None
    if not all(np.isfinite(r).all() for r in rings):
        return None
    return rings


def _paint_all(
    rows: dict, steps: Sequence[tuple[BaseGeometry, int | None]]
) -> tuple[list[CellChange], Delta]:
    """Cell changes (and their delta) of painting several shapes in order over `rows`."""
    before = {key: from_wkb(wkb) for key, (_, wkb) in rows.items()}
    cells = dict(before)
    changed: dict[Key, BaseGeometry | None] = {}
    for shape, class_id in steps:
        for key, geom in apply_shape(cells, shape, class_id).items():
            changed[key] = geom
            if geom is None:
                cells.pop(key, None)
            else:
                cells[key] = geom
    changed = {k: g for k, g in changed.items() if k in rows or g is not None}
    changes = [
        CellChange(
            *key, rows[key][0] if key in rows else None, None if g is None else make_piece(g)
        )
        for key, g in changed.items()
    ]
    return changes, changes_delta((key, before.get(key), g) for key, g in changed.items())


def _cut_imported(labels: list[BaseGeometry], rois: list[BaseGeometry]) -> tuple:
    """Each imported class geometry as stored cell pieces, and each ROI as a piece."""
    cells = [
        {key: make_piece(piece) for key, piece in split_into_cells(geom).items()} for geom in labels
    ]
    return cells, [make_piece(r, with_coords=True) for r in rois]
