"""HTTP API for inference: start (and live preview), results, overlay tiles, stats, exports.

See docs in /tmp/api-training-inference.md (mirrored in docs/architecture.md): results
are `{id, state, progress, eta_s, app_id, slide_id, region, classes, error, created}`;
the overlay is a Deep Zoom source with the slide's own geometry, PNG tiles rendered at
`?threshold=T` (0..1) in `mode=classes|heatmap|uncertainty` (`class=<index>` for the
heat map); a result also carries `uncertainty_colors`, the uncertainty map's colour stops.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, send_file

from server.api.http import threshold_arg
from server.api.slides import readable_slide
from server.context import current_context
from server.downloads import attachment
from server.errors import TooLarge, UserError
from server.inference import accept, suggestions, uncertainty
from server.inference.jobs import InferenceJobs
from server.inference.viewing import ResultViewer

bp = Blueprint("results", __name__)

MODES = ("classes", "heatmap", "uncertainty")
MAX_SLIDES_PER_REQUEST = 1000  # slides one apply request may queue


def _jobs() -> InferenceJobs:
    return current_context().inference


def _viewer() -> ResultViewer:
    return current_context().results


def _describe(row: dict) -> dict:
    return {**_jobs().describe(row), "uncertainty_colors": uncertainty.colour_stops()}


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserError("Expected a JSON object")
    return body


@bp.post("/api/inference")
def start_inference():
    """Queue one slide (`slide_id`) or several (`slide_ids`) → 201 {result_id(s)}."""
    body = _body()
    service = _jobs()
    region = body.get("region")
    if "slide_ids" in body:
        slide_ids = body["slide_ids"]
        if not isinstance(slide_ids, list) or not slide_ids:
            raise UserError("slide_ids must be a non-empty list")
        if len(slide_ids) > MAX_SLIDES_PER_REQUEST:
            raise TooLarge(
                f"{len(slide_ids)} slides in one request (at most {MAX_SLIDES_PER_REQUEST})",
                "Apply the app to the slides in several requests.",
            )
        for slide_id in slide_ids:  # check all before queueing any
            service.check_slide(slide_id)
        ids = [service.submit(body.get("app_id"), s, region, several=True) for s in slide_ids]
        return jsonify({"result_ids": ids}), 201
    return jsonify(
        {"result_id": service.submit(body.get("app_id"), body.get("slide_id"), region)}
    ), 201


@bp.post("/api/preview")
def start_preview():
    """Run a training run's current weights on a view → {result_id} (re-used per run+slide)."""
    body = _body()
    rid = _jobs().preview(body.get("run_id"), body.get("slide_id"), body.get("bbox"))
    return jsonify({"result_id": rid})


@bp.get("/api/results")
def list_results():
    """Results, newest first; `slide_id` filters, `preview=1` includes live previews."""
    service = _jobs()
    rows = service.table.list(request.args.get("slide_id"), request.args.get("preview") == "1")
    return jsonify([_describe(r) for r in rows])


@bp.get("/api/results/<rid>")
def get_result(rid: str):
    """One result."""
    return jsonify(_describe(_jobs().get(rid)))


@bp.post("/api/results/<rid>/cancel")
def cancel_result(rid: str):
    """Cancel a queued or running result."""
    service = _jobs()
    return jsonify(service.describe(service.cancel(rid)))


@bp.delete("/api/results/<rid>")
def delete_result(rid: str):
    """Delete a result and its files."""
    _jobs().delete(rid)
    return jsonify({"deleted": rid})


@bp.get("/api/results/<rid>/stats")
def result_stats(rid: str):
    """Areas per class at `threshold`, and the region's uncertainty."""
    return jsonify(_viewer().stats(rid, threshold_arg()))


@bp.get("/api/results/<rid>/suggestions")
def result_suggestions(rid: str):
    """Windows to label next: uncertain, inside the region, not yet labelled, diverse."""
    try:
        n = int(request.args.get("n", 5))
    except ValueError as exc:
        raise UserError("n must be an integer from 1 to 50") from exc
    size_arg = request.args.get("size")
    try:
        size = float(size_arg) if size_arg not in (None, "") else None
    except ValueError as exc:
        raise UserError("size must be a positive number of level-0 pixels") from exc
    return jsonify(suggestions.for_result(current_context(), rid, n, size))


@bp.post("/api/results/<rid>/accept")
def accept_result(rid: str):
    """The predicted classes in a region become labels: one undoable annotation edit."""
    request.get_data(cache=True)  # 413 over the body limit before parsing
    body = request.get_json(silent=True)
    entry = readable_slide(_viewer().get(rid)["slide_id"])
    return Response(accept.accept(current_context(), rid, entry, body), mimetype="application/json")


@bp.get("/api/results/<rid>/export.<kind>")
def result_export(rid: str, kind: str):
    """GeoJSON, label TIFF or CSV at `threshold`, as an attachment."""
    resolution = request.args.get("resolution", "app")
    path, name, mimetype = _viewer().export(rid, kind, threshold_arg(), resolution)
    return attachment(send_file(path, mimetype=mimetype), name)


@bp.get("/results/<rid>.dzi")
def overlay_dzi(rid: str):
    """The overlay's Deep Zoom descriptor."""
    return Response(_viewer().dzi(rid), mimetype="application/xml")


@bp.get("/results/<rid>_files/<int:level>/<int:col>_<int:row>.png")
def overlay_tile(rid: str, level: int, col: int, row: int):
    """One RGBA PNG overlay tile at `threshold`, `mode`, `class`."""
    threshold = threshold_arg()
    mode = request.args.get("mode", "classes")
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}")
    try:
        cls = int(request.args.get("class", 0))
    except ValueError as exc:
        raise UserError("class must be a class index") from exc
    png, cacheable = _viewer().tile(rid, level, col, row, threshold, mode, cls)
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600" if cacheable else "no-store"
    return response
