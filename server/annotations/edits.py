"""Edit requests: validation (with the answer each mistake gets) and the shapes they paint.

`validate_edit` and `validate_shape_edit` run in the greenlet; `tool_shape`, `paint` and
`replacement_shape` run in compute threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from server.annotations import classes
from server.annotations.geometry import (
    GeometryError,
    Piece,
    TooManyPoints,
    apply_shape,
    check_points,
    clip_to_slide,
    from_wkb,
    make_piece,
    polygon_shape,
    polygonal,
    repair,
    rings_work,
    stroke_shape,
)
from server.annotations.parts import Delta, changes_delta
from server.annotations.repository import CellChange
from server.errors import TooLarge, UserError
from server.slides.library import SlideEntry
from server.store import Store

TOOLS = ("brush", "eraser", "polygon", "roi")
SHAPE_TOOL = "shape"  # an edit of one whole connected shape (shapes.py)
SHAPE_ACTIONS = ("delete", "recolor", "replace")
MAX_EDIT_POINTS = 50_000
MAX_CLIENT_ID = 200


@dataclass
class Edit:
    """A validated edit request."""

    tool: str
    points: np.ndarray
    radius: float | None
    class_id: int | None
    client_id: str | None


def validate_edit(store: Store, entry: SlideEntry, body: object) -> Edit:
    """The edit a request body asks for, else a UserError saying what is wrong."""
    if not isinstance(body, dict):
        raise UserError("The edit must be a JSON object")
    tool = body.get("tool")
    if tool not in TOOLS:
        raise UserError(f"Unknown tool {tool!r}", hint="Use brush, eraser, polygon, roi or shape.")
    radius = None
    if tool in ("brush", "eraser"):
        radius = _radius(body.get("radius"), entry)
    points = _points(body.get("points"), 1 if radius else 3)
    class_id = None
    if tool in ("brush", "polygon"):
        class_id = body.get("class_id")
        if not isinstance(class_id, int) or isinstance(class_id, bool):
            raise UserError(f"The {tool} needs a class_id (an integer)")
        if classes.get_class(store, class_id) is None:
            raise UserError(f"Unknown class {class_id}", hint="Reload the class list.")
    return Edit(tool, points, radius, class_id, parse_client_id(body.get("client_id")))


def _radius(value: object, entry: SlideEntry) -> float:
    limit = max(entry.details.width, entry.details.height)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise UserError("The brush needs a radius (a number of level-0 pixels)")
    if not value > 0:  # also NaN; no math.isfinite: it overflows on huge integers
        raise UserError(f"The radius must be a positive number, got {value}")
    if value > limit:
        raise UserError(f"A radius of {value} px is larger than the slide ({limit} px)")
    return float(value)


def _points(value: object, minimum: int) -> np.ndarray:
    try:
        return check_points(value, minimum, MAX_EDIT_POINTS)
    except TooManyPoints as exc:
        raise TooLarge(str(exc), hint="Split the stroke into smaller ones.") from exc


def parse_client_id(value: object) -> str | None:
    """The optional client_id an answer and event echo back."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_CLIENT_ID:
        raise UserError(f"client_id must be a string of at most {MAX_CLIENT_ID} characters")
    return value


def tool_shape(edit: Edit, width: int, height: int) -> BaseGeometry:
    """The area an edit covers, clipped to the slide.

    TooMuchWork (before any buffering or repair) when its estimated work is over a limit.
    """
    if edit.radius is not None:  # brush and eraser
        shape = stroke_shape(edit.points, edit.radius, (width, height))
    else:
        shape = polygon_shape(edit.points, (width, height))
    return clip_to_slide(shape, width, height)


def paint(rows: dict, shape: BaseGeometry, class_id: int | None) -> tuple[list[CellChange], Delta]:
    """Cell changes painting `shape` with `class_id` (None erases) over the `rows` under it,
    and their delta (the polygons that appear and disappear)."""
    cells = {key: from_wkb(wkb) for key, (_, wkb) in rows.items()}
    changed = apply_shape(cells, shape, class_id)
    changes = [
        CellChange(
            *key, rows[key][0] if key in rows else None, None if g is None else make_piece(g)
        )
        for key, g in changed.items()
    ]
    return changes, changes_delta((key, cells.get(key), g) for key, g in changed.items())


def roi_pieces(shape: BaseGeometry) -> list[Piece]:
    """Each polygon of an ROI shape (clipping may split it) as its own stored ROI."""
    return [make_piece(p, with_coords=True) for p in shapely.get_parts(shape) if not p.is_empty]


@dataclass
class ShapeEdit:
    """A validated edit of the connected shape under `at` (tool "shape")."""

    at: tuple[float, float]
    action: str
    class_id: int | None
    rings: list[np.ndarray] | None  # replace: the new outline, then its holes
    client_id: str | None


def is_shape_edit(body: object) -> TypeGuard[dict]:
    """Whether a request body asks for the shape tool."""
    return isinstance(body, dict) and body.get("tool") == SHAPE_TOOL


def validate_shape_edit(store: Store, body: dict) -> ShapeEdit:
    """The shape edit a request body asks for, else a UserError saying what is wrong.

    `{tool: "shape", at: [x, y], action: "delete"}`, `{..., action: "recolor", class_id}`,
    `{..., action: "replace", points | geometry, class_id?}`.
    """
    try:
        at = check_points([body.get("at")], 1, 1)[0]
    except GeometryError as exc:
        raise UserError(
            "The shape tool needs at: [x, y], a point of the shape in level-0 pixels",
            field="at",
        ) from exc
    action = body.get("action")
    if action not in SHAPE_ACTIONS:
        raise UserError(
            f"Unknown shape action {action!r}",
            hint="Use delete, recolor or replace.",
            field="action",
        )
    class_id = body.get("class_id")
    if action == "recolor" or class_id is not None:
        if not isinstance(class_id, int) or isinstance(class_id, bool):
            message = f"{action.capitalize()} needs a class_id (an integer)"
            raise UserError(message, field="class_id")
        if classes.get_class(store, class_id) is None:
            raise UserError(f"Unknown class {class_id}", hint="Reload the class list.")
    rings = _replacement_rings(body) if action == "replace" else None
    client_id = parse_client_id(body.get("client_id"))
    return ShapeEdit((float(at[0]), float(at[1])), action, class_id, rings, client_id)


def _replacement_rings(body: dict) -> list[np.ndarray]:
    """The new outline of a replace: `points` (one ring) or a GeoJSON Polygon `geometry`."""
    if body.get("points") is not None:
        return [_points(body["points"], 3)]
    geometry = body.get("geometry")
    if (
        not isinstance(geometry, dict)
        or geometry.get("type") != "Polygon"
        or not isinstance(geometry.get("coordinates"), list)
        or not geometry["coordinates"]
    ):
        raise UserError(
            "Replace needs the new outline: points [[x, y], ...] or a GeoJSON Polygon geometry",
            field="geometry",
        )
    rings = geometry["coordinates"]
    total = sum(len(r) for r in rings if isinstance(r, list))
    if total > MAX_EDIT_POINTS:
        raise TooLarge(
            f"An edit may have at most {MAX_EDIT_POINTS} points, this one has {total}",
            hint="Simplify the outline.",
        )
    return [_points(ring, 3) for ring in rings]


def replacement_shape(rings: list[np.ndarray], width: int, height: int) -> BaseGeometry:
    """The polygon a replace paints (holes kept, self-crossings repaired), clipped to the
    slide. TooMuchWork (before any repair) when its estimated work is over a limit."""
    rings_work(rings, (width, height)).check("This shape")
    shape = repair(Polygon(rings[0], rings[1:]))
    return clip_to_slide(polygonal(shape.simplify(0.05, preserve_topology=True)), width, height)
