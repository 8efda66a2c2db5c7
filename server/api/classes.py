"""HTTP API for label classes (global): list, create, rename/recolour, reorder, delete.

Every change is broadcast as Socket.IO `classes:changed` with the full ordered list.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from server.annotations import classes
from server.context import current_context
from server.errors import UserError, not_found

bp = Blueprint("classes", __name__)


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserError("The request body must be a JSON object")
    return body


def _broadcast() -> list[dict]:
    ctx = current_context()
    ordered = classes.list_classes(ctx.store)
    ctx.emit("classes:changed", ordered)
    return ordered


@bp.get("/api/classes")
def list_classes():
    """All classes ordered by position."""
    return jsonify(classes.list_classes(current_context().store))


@bp.post("/api/classes")
def create_class():
    """Add a class `{name, color?}`; 201 with the class."""
    body = _body()
    created = classes.create_class(current_context().store, body.get("name"), body.get("color"))
    _broadcast()
    return jsonify(created), 201


@bp.patch("/api/classes/<int:class_id>")
def update_class(class_id: int):
    """Rename and/or recolour a class `{name?, color?}`."""
    body = _body()
    try:
        updated = classes.update_class(
            current_context().store, class_id, body.get("name"), body.get("color")
        )
    except KeyError as exc:
        raise not_found("Class") from exc
    _broadcast()
    return jsonify(updated)


@bp.post("/api/classes/order")
def reorder():
    """Set the order `{ids: [...]}` (every class once); the full ordered list."""
    classes.reorder_classes(current_context().store, _body().get("ids"))
    return jsonify(_broadcast())


@bp.delete("/api/classes/<int:class_id>")
def delete_class(class_id: int):
    """Delete a class and its labels on every slide."""
    ctx = current_context()
    if classes.get_class(ctx.store, class_id) is None:
        raise not_found("Class")
    ctx.annotations.delete_class(class_id)
    return jsonify({"deleted": class_id})
