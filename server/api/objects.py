"""HTTP API for a result's objects: per-class counts, sizes and densities, CSV and GeoJSON."""

from __future__ import annotations

from flask import Blueprint, jsonify, send_file

from server.api.http import threshold_arg
from server.context import current_context
from server.downloads import attachment

bp = Blueprint("objects", __name__)


@bp.get("/api/results/<rid>/objects")
def result_objects(rid: str):
    """Objects per class at `threshold` (after the app's post-processing)."""
    return jsonify(current_context().results.objects(rid, threshold_arg()))


@bp.get("/api/results/<rid>/objects.<kind>")
def result_objects_export(rid: str, kind: str):
    """One row (CSV) or feature (GeoJSON) per object with its measurements."""
    path, name, mimetype = current_context().results.objects_export(rid, kind, threshold_arg())
    return attachment(send_file(path, mimetype=mimetype), name)
