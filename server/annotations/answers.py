"""Answers as JSON text, assembled from the cached GeoJSON of each label piece."""

from __future__ import annotations

import json

from server.annotations import history
from server.annotations.cache import SlideLabels
from server.slides.library import SlideEntry


def um2(area_px: float, entry: SlideEntry) -> float | None:
    """An area in µm² from px² and the slide's µm/px (None when unknown)."""
    mpp = entry.info.mpp
    return area_px * mpp * mpp if mpp else None


def json_bool(value: bool) -> str:
    """JSON's spelling of a bool."""
    return "true" if value else "false"


def label_feature(entry: SlideEntry, cls: dict, labels: SlideLabels) -> str | None:
    """The Feature of one class's labels (`class-<id>`), None when it has none.

    Its MultiPolygon lists the class's pieces cell by cell (geometry.CELL grid), so two
    of its polygons may share an edge along a grid line: fill them as one path.
    """
    coords, area = labels.class_text(cls["id"])
    if not coords:
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
            ",".join(coords),
            ']},"properties":',
            json.dumps(props, separators=(",", ":")),
            "}",
        ]
    )


def roi_feature(roi_id: int, coords: str) -> str:
    """The Feature of one ROI (`roi-<id>`)."""
    props = json.dumps({"kind": "roi", "roi_id": roi_id}, separators=(",", ":"))
    return (
        f'{{"type":"Feature","id":"roi-{roi_id}","geometry":{{"type":"Polygon","coordinates":'
        + coords
        + '},"properties":'
        + props
        + "}"
    )


def answer_text(store, slide_id: str, version: int, features: list[str], removed: list[str]) -> str:
    """An edit's answer: version, undo state, changed features and removed ids."""
    can_undo, can_redo = history.can_undo_redo(store, slide_id)
    return "".join(
        [
            f'{{"version":{version},"can_undo":{json_bool(can_undo)},',
            f'"can_redo":{json_bool(can_redo)},',
            '"features":[',
            ",".join(features),
            '],"removed":',
            json.dumps(removed),
            "}",
        ]
    )
