"""Edit requests: validation (with the answer each mistake gets) and the shapes they paint.

`validate_edit` runs in the greenlet; `tool_shape` and `paint` run in compute threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from server.annotations import classes
from server.annotations.geometry import (
    Piece,
    TooManyPoints,
    apply_shape,
    check_points,
    clip_to_slide,
    from_wkb,
    make_piece,
    polygon_shape,
    stroke_shape,
)
from server.annotations.parts import Delta, changes_delta
from server.annotations.repository import CellChange
from server.errors import TooLarge, UserError
from server.slides.library import SlideEntry
from server.store import Store

TOOLS = ("brush", "eraser", "polygon", "roi")
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
        raise UserError(f"Unknown tool {tool!r}", hint="Use brush, eraser, polygon or roi.")
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
