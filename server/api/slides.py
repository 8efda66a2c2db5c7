"""Slide list, metadata, thumbnails, associated images and Deep Zoom tiles."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from server import __version__
from server.context import current_context
from server.errors import Conflict, NotFound, UserError, not_found
from server.jobs import compute
from server.slides.fastpath import CACHE_CONTROL, tile_etag
from server.slides.handles import OVERLAP, TILE_SIZE
from server.slides.library import SlideEntry
from server.slides.metadata import slide_bounds
from server.slides.tiles import TileOutOfRange
from server.slides.wand import DEFAULT_TOLERANCE, magic_wand

bp = Blueprint("slides", __name__)


def readable_slide(slide_id: str) -> SlideEntry:
    """The readable slide with this id, else a 404 (unknown) or 409 (unreadable)."""
    entry = current_context().library.get(slide_id)
    if entry is None or entry.outside:
        raise not_found("Slide")
    if not entry.readable:
        raise Conflict(f"Slide '{entry.name}' cannot be read: {entry.error}")
    return entry


def _image(data: bytes, etag: str | None = None, mimetype: str = "image/jpeg") -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = CACHE_CONTROL
    if etag:
        response.set_etag(etag)
    return response


def _etag(entry: SlideEntry, *parts: object) -> str:
    return tile_etag(current_context(), entry.id, entry.mtime, entry.size, *parts)


@bp.get("/api/health")
def health():
    """Liveness and version; the frontend uses it to show the connection state."""
    return jsonify({"ok": True, "version": __version__})


@bp.get("/api/slides")
def list_slides():
    """All slides under the roots, unreadable ones with their reason."""
    return jsonify([e.summary() for e in current_context().library.list()])


@bp.post("/api/slides/rescan")
def rescan():
    """Walk the slide roots again and return the new list."""
    library = current_context().library
    entries = compute(library.scan)
    return jsonify([e.summary() for e in entries])


@bp.get("/api/slides/<slide_id>")
def slide_detail(slide_id: str):
    """Metadata: summary, levels, µm/px, associated images, OpenSlide properties."""
    entry = readable_slide(slide_id)
    ctx = current_context()
    opened = ctx.tiles.handles.get(entry)
    props = dict(opened.slide.properties)
    body = entry.summary() | entry.details.as_dict()
    body["properties"] = props
    body["deepzoom"] = {
        "tile_size": TILE_SIZE,
        "overlap": OVERLAP,
        "levels": opened.deepzoom.level_count,
        "bounds": slide_bounds(opened.slide),
    }
    return jsonify(body)


@bp.get("/api/slides/<slide_id>/thumbnail")
def thumbnail(slide_id: str):
    """A JPEG thumbnail; `size` (16–2048, default 256) bounds its longer side."""
    entry = readable_slide(slide_id)
    try:
        size = int(request.args.get("size", 256))
    except ValueError as exc:
        raise UserError("size must be an integer") from exc
    if not 16 <= size <= 2048:
        raise UserError("size must be between 16 and 2048")
    etag = _etag(entry, "thumb", size)
    if request.if_none_match.contains(etag):
        return Response(status=304)
    return _image(current_context().tiles.thumbnail(entry, size), etag)


@bp.get("/api/slides/<slide_id>/associated/<name>")
def associated(slide_id: str, name: str):
    """An associated image (label, macro, thumbnail) as JPEG."""
    entry = readable_slide(slide_id)
    try:
        data = current_context().tiles.associated(entry, name)
    except KeyError as exc:
        raise not_found(f"Associated image '{name}'") from exc
    return _image(data)


def _float_arg(name: str, default: float | None = None) -> float:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            raise UserError(f"{name} is required", field=name)
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise UserError(f"{name} must be a number", field=name) from exc


@bp.get("/api/slides/<slide_id>/wand")
def wand(slide_id: str):
    """Magic wand: the connected area of similar colour around (x, y) seen at `downsample`,
    `{polygon, area_px}` in level-0 pixels (server/slides/wand.py)."""
    entry = readable_slide(slide_id)
    x, y = _float_arg("x"), _float_arg("y")
    downsample = _float_arg("downsample", 1.0)
    tolerance = _float_arg("tolerance", DEFAULT_TOLERANCE)
    opened = current_context().tiles.handles.get(entry)
    result = compute(magic_wand, opened.slide, x, y, downsample, tolerance)
    return jsonify(result.as_dict())


@bp.get("/slides/<slide_id>.dzi")
def dzi(slide_id: str):
    """The Deep Zoom descriptor."""
    entry = readable_slide(slide_id)
    return Response(current_context().tiles.dzi(entry), mimetype="application/xml")


@bp.get("/slides/<slide_id>_files/<int:level>/<int:col>_<int:row>.<fmt>")
def tile(slide_id: str, level: int, col: int, row: int, fmt: str):
    """One Deep Zoom tile as JPEG, cached; 404 outside the pyramid."""
    if fmt not in ("jpeg", "jpg"):
        raise not_found("Tile format")
    entry = readable_slide(slide_id)
    etag = _etag(entry, level, col, row)
    if request.if_none_match.contains(etag):
        return Response(status=304)
    try:
        data = current_context().tiles.tile(entry, level, col, row)
    except TileOutOfRange as exc:
        raise NotFound(str(exc)) from exc
    return _image(data, etag)
