"""The detected tissue of a slide as an overlay image, at a chosen sensitivity.

`GET /api/slides/<id>/tissue.png?sensitivity=0.5` answers the thumbnail tissue detection
that a "tissue" region uses (server/inference/regions.py), as a transparent PNG of the
thumbnail's size covering the whole slide; `X-Tissue-Fraction` says how much of it is
tissue. The frontend lays it over the slide while the user tunes the sensitivity.
"""

from __future__ import annotations

import io
from collections import OrderedDict

from flask import Blueprint, Response, request
from PIL import Image

from server.api.slides import readable_slide
from server.context import current_context
from server.inference.regions import TISSUE_THUMBNAIL, parse_sensitivity, tissue_overlay
from server.jobs import compute
from server.slides.library import SlideEntry

bp = Blueprint("tissue", __name__)

_THUMBNAILS: OrderedDict[tuple[str, float], Image.Image] = OrderedDict()
_KEEP = 4  # thumbnails kept: moving the slider re-detects without re-reading the slide


def _thumbnail(entry: SlideEntry) -> Image.Image:
    """The slide's detection thumbnail (the one planning reads), kept for a few slides."""
    key = (entry.id, entry.mtime)
    thumb = _THUMBNAILS.get(key)
    if thumb is None:
        slide = current_context().tiles.handles.get(entry).slide
        thumb = compute(slide.get_thumbnail, (TISSUE_THUMBNAIL, TISSUE_THUMBNAIL))
        _THUMBNAILS[key] = thumb
        while len(_THUMBNAILS) > _KEEP:
            _THUMBNAILS.popitem(last=False)
    _THUMBNAILS.move_to_end(key)
    return thumb


def _png(thumbnail: Image.Image, sensitivity: float) -> tuple[bytes, float]:
    image, fraction = tissue_overlay(thumbnail, sensitivity)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue(), fraction


@bp.get("/api/slides/<slide_id>/tissue.png")
def tissue_png(slide_id: str):
    """The detected tissue at `sensitivity` (0–1, default 0.5) as a transparent overlay of
    the whole slide; `X-Tissue-Fraction` is the share of the slide that is tissue."""
    entry = readable_slide(slide_id)
    sensitivity = parse_sensitivity(request.args.get("sensitivity"))
    data, fraction = compute(_png, _thumbnail(entry), sensitivity)
    response = Response(data, mimetype="image/png")
    response.headers["X-Tissue-Fraction"] = f"{fraction:.6f}"
    response.headers["X-Tissue-Sensitivity"] = f"{sensitivity:g}"
    response.headers["Cache-Control"] = "no-cache"
    return response
