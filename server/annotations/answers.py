"""Answers as JSON text: edit answers (the change only) and the two collection forms.

An edit/undo/redo/ROI-delete answer carries what changed: the label polygons that
appeared (features `label-<class>-<cx>-<cy>-<hash>`, see parts.py) and the ids of those
that disappeared, the new ROIs and removed ROI ids, each changed class's new total area
(from the running totals) and the box of the change, so its size and cost depend on the
edit, not on what the slide already holds.
"""

from __future__ import annotations

import json

from server.annotations import classes, history
from server.annotations import repository as repo
from server.annotations.parts import Delta, Part
from server.slides.library import SlideEntry


def um2(area_px: float, entry: SlideEntry) -> float | None:
    """An area in µm² from px² and the slide's µm/px (None when unknown)."""
    mpp = entry.details.mpp
    return area_px * mpp * mpp if mpp else None


def json_bool(value: bool) -> str:
    """JSON's spelling of a bool."""
    return "true" if value else "false"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def class_feature(entry: SlideEntry, cls: dict, texts: list[str], area: float) -> str | None:
    """The Feature of one class's labels (`class-<id>`), None when it has none.

    Its MultiPolygon lists the class's polygons cell by cell (geometry.CELL grid), so two
    of its polygons may share an edge along a grid line: fill them as one path.
    """
    if not texts:
        return None
    props = {
        "kind": "label",
        "class_id": cls["id"],
        "name": cls["name"],
        "color": cls["color"],
        "area_px": area,
        "area_um2": um2(area, entry),
    }
    return "".join(
        [
            f'{{"type":"Feature","id":"class-{cls["id"]}",',
            '"geometry":{"type":"MultiPolygon","coordinates":[',
            ",".join(texts),
            ']},"properties":',
            _compact(props),
            "}",
        ]
    )


def part_feature(part: Part) -> str:
    """The Feature of one label polygon inside one grid cell."""
    props = {
        "kind": "label",
        "class_id": part.class_id,
        "cell": [part.cx, part.cy],
        "area_px": part.area,
    }
    return (
        f'{{"type":"Feature","id":"{part.id}","geometry":{{"type":"Polygon","coordinates":'
        + part.text
        + '},"properties":'
        + _compact(props)
        + "}"
    )


def roi_feature(roi_id: int, coords: str) -> str:
    """The Feature of one ROI (`roi-<id>`)."""
    props = _compact({"kind": "roi", "roi_id": roi_id})
    return (
        f'{{"type":"Feature","id":"roi-{roi_id}","geometry":{{"type":"Polygon","coordinates":'
        + coords
        + '},"properties":'
        + props
        + "}"
    )


def class_entries(store, entry: SlideEntry, class_ids) -> list[dict]:
    """{class_id, name, color, area_px, area_um2} of each existing class, from the totals."""
    out = []
    for class_id in sorted(class_ids):
        cls = classes.get_class(store, class_id)
        if cls is None:
            continue
        area = repo.class_area(store, entry.id, class_id)
        out.append(
            {
                "class_id": class_id,
                "name": cls["name"],
                "color": cls["color"],
                "area_px": area,
                "area_um2": um2(area, entry),
            }
        )
    return out


def change_text(
    store,
    entry: SlideEntry,
    version: int,
    delta: Delta,
    rois: list[str],
    rois_removed: list[str],
) -> tuple[str, str, dict]:
    """An edit's answer as JSON text, plus its features (text) and other fields for the event.

    `rois`: Feature texts of ROIs that appeared; `rois_removed`: ids of ROIs that went.
    """
    can_undo, can_redo = history.can_undo_redo(store, entry.id)
    features = ",".join([*(part_feature(p) for p in delta.added), *rois])
    rest = {
        "removed": [part_id for _, part_id in delta.removed] + rois_removed,
        "classes": class_entries(store, entry, delta.class_ids),
        "bounds": delta.bounds,
    }
    text = "".join(
        [
            f'{{"version":{version},"can_undo":{json_bool(can_undo)},',
            f'"can_redo":{json_bool(can_redo)},"features":[',
            features,
            "],",
            _compact(rest)[1:],
        ]
    )
    return text, features, rest
