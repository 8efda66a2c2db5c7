"""HTTP API for one slide's annotations: read, edit, undo/redo, import/export, masks.

The collection has labels as one GeoJSON Feature per class (`class-<id>`, the default
`form=classes`) or per polygon and grid cell (`label-<class>-<cx>-<cy>-<hash>`,
`form=parts`), ROIs one per ROI (`roi-<id>`), in level-0 pixels. Every change answers,
once committed, with the version, undo state and the change only: polygons added and
removed, changed classes' totals, and its bounds (see server/annotations/service.py).
"""

from __future__ import annotations

import json
import math

from flask import Blueprint, Response, jsonify, request

from server.annotations.classes import ClassError
from server.annotations.edits import parse_client_id
from server.annotations.masks import encode_png, encode_tiff
from server.annotations.service import FORMS, AnnotationService
from server.api.slides import readable_slide
from server.context import current_context
from server.downloads import attachment
from server.errors import NotFound, UserError
from server.jobs import compute
from server.slides.library import SlideEntry
from server.store import fits_integer

bp = Blueprint("annotations", __name__)

IMPORT_CLASSES_HINT = "Delete unused classes, or import a file that names fewer classes."


def _service() -> AnnotationService:
    return current_context().annotations


def _json_text(text: str) -> Response:
    return Response(text, mimetype="application/json")


def _json_body(message: str) -> object:
    """The parsed JSON body; 413 when over the size limit, 400 when not JSON."""
    request.get_data(cache=True)  # raises 413 (RequestEntityTooLarge) before parsing
    body = request.get_json(silent=True)
    if body is None:
        raise UserError(message)
    return body


def _stem(entry: SlideEntry) -> str:
    """The slide's file name without its extension (download names start with it)."""
    return entry.name.rsplit(".", 1)[0]


def _optional_body() -> dict:
    body = request.get_json(silent=True) if request.get_data(cache=True) else None
    return body if isinstance(body, dict) else {}


@bp.get("/api/slides/<slide_id>/annotations")
def get_annotations(slide_id: str):
    """The slide's labels and ROIs as a GeoJSON FeatureCollection (+ version, undo state)."""
    entry = readable_slide(slide_id)
    return _json_text(_service().collection(entry, request.args.get("form", "classes")))


@bp.post("/api/slides/<slide_id>/annotations/edits")
def post_edit(slide_id: str):
    """Apply a brush/eraser/polygon/roi edit; answered after it is committed."""
    entry = readable_slide(slide_id)
    body = _json_body("The edit must be JSON")
    return _json_text(_service().edit(entry, body))


@bp.delete("/api/slides/<slide_id>/rois/<int:roi_id>")
def delete_roi(slide_id: str, roi_id: int):
    """Remove one ROI."""
    entry = readable_slide(slide_id)
    client_id = parse_client_id(_optional_body().get("client_id") or request.args.get("client_id"))
    if not fits_integer(roi_id):
        raise NotFound(f"ROI {roi_id} not found on this slide")
    return _json_text(_service().delete_roi(entry, roi_id, client_id))


@bp.post("/api/slides/<slide_id>/annotations/undo")
def undo(slide_id: str):
    """Revert the newest change of this slide (409 when there is none)."""
    entry = readable_slide(slide_id)
    return _json_text(_service().undo(entry, parse_client_id(_optional_body().get("client_id"))))


@bp.post("/api/slides/<slide_id>/annotations/redo")
def redo(slide_id: str):
    """Re-apply the newest undone change (409 when there is none)."""
    entry = readable_slide(slide_id)
    client_id = parse_client_id(_optional_body().get("client_id"))
    return _json_text(_service().undo(entry, client_id, redo=True))


@bp.put("/api/slides/<slide_id>/annotations")
def put_annotations(slide_id: str):
    """Replace all labels and ROIs from GeoJSON (QuPath accepted); creates missing classes.

    Where features overlap, the later feature takes the pixels, as a sequence of edits would.
    """
    entry = readable_slide(slide_id)
    doc = _json_body("The body must be GeoJSON (a FeatureCollection)")
    client_id = parse_client_id(request.args.get("client_id"))
    form = request.args.get("form", "classes")
    if form not in FORMS:  # refused before anything is replaced
        raise UserError(f"Unknown form {form!r}", hint="Use form=classes or form=parts.")
    try:
        return _json_text(_service().replace(entry, doc, client_id, form))
    except ClassError as exc:  # e.g. more classes than masks can hold; nothing was written
        raise UserError(str(exc), hint=IMPORT_CLASSES_HINT) from exc


@bp.get("/api/slides/<slide_id>/annotations/export.geojson")
def export_geojson(slide_id: str):
    """QuPath-importable GeoJSON of the labels (one feature per class) and ROIs."""
    entry = readable_slide(slide_id)
    response = _json_text(_service().export_geojson(entry))
    return attachment(response, f"{_stem(entry)}-annotations.geojson")


@bp.get("/api/slides/<slide_id>/annotations/mask.<fmt>")
def export_mask(slide_id: str, fmt: str):
    """uint8 label mask (PNG or TIFF) at `downsample`; pixel = class position + 1."""
    if fmt not in ("png", "tiff", "tif"):
        raise NotFound(f"Unknown mask format '{fmt}'", hint="Use mask.png or mask.tiff.")
    entry = readable_slide(slide_id)
    try:
        downsample = float(request.args.get("downsample", 1))
    except ValueError as exc:
        raise UserError("downsample must be a number") from exc
    mask, legend = _service().mask(entry, downsample)
    if fmt == "png":
        data, mimetype = compute(encode_png, mask), "image/png"
    else:
        data, mimetype = compute(encode_tiff, mask, entry.details.mpp, downsample), "image/tiff"
    response = Response(data, mimetype=mimetype)
    response.headers["X-Slidelab-Legend"] = json.dumps(legend)
    response.headers["Access-Control-Expose-Headers"] = "X-Slidelab-Legend"
    return attachment(response, f"{_stem(entry)}-mask.{fmt}")


@bp.get("/api/slides/<slide_id>/annotations/shape")
def get_shape(slide_id: str):
    """The connected shape of the label under ?x=&y= (level-0 px); 404 when none."""
    entry = readable_slide(slide_id)
    x, y = (_coordinate(name) for name in ("x", "y"))
    return jsonify(_service().shape_at(entry, x, y))


def _coordinate(name: str) -> float:
    """A finite number from the query, else a UserError naming the parameter."""
    text = request.args.get(name)
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"{name} must be a number (level-0 pixels)", field=name)
    return value


@bp.get("/api/slides/<slide_id>/annotations/summary")
def summary(slide_id: str):
    """Labelled area per class (px² and µm²) and the ROI count."""
    return jsonify(_service().summary(readable_slide(slide_id)))
