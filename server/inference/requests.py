"""Checks of an inference request before anything is queued: app, memory, slide, region.

Each answers the parsed value or raises UserError (a 400) with a message the UI shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
import torch
from shapely.geometry.base import BaseGeometry

from server import apps
from server.annotations import repository
from server.errors import UserError
from server.inference.regions import RegionError, RegionSpec, clip_bbox, parse_region
from server.slides.library import SlideEntry, SlideLibrary
from server.store import Store
from server.training import memory


def checked_app(data_dir: Path, app_id: Any) -> dict[str, Any]:
    """The config of an existing, undamaged app (run in a compute thread by callers)."""
    if not isinstance(app_id, str) or not app_id:
        raise UserError("app_id is required")
    try:
        return apps.check_app(data_dir, app_id)
    except apps.AppNotFound as exc:
        raise UserError(f"Unknown app {app_id!r}", "Choose an app from the list.") from exc
    except apps.AppInvalid as exc:
        raise UserError(
            f"The app file is damaged: {exc}",
            "Delete the app and import or train it again.",
        ) from exc


def check_memory(
    config: dict[str, Any], device: torch.device, batch_size: int, window: int
) -> None:
    """400 when a batch of windows of this app cannot fit in the device's memory now."""
    need = memory.inference_estimate(
        str(config.get("architecture")),
        str(config.get("encoder")),
        len(config["classes"]),
        batch_size,
        window,
    )
    room = memory.available(device.type)
    if room is not None and need > room:
        where = "GPU memory" if device.type == "cuda" else "memory"
        raise UserError(
            f"Applying this app needs about {memory.gib(need)} of {where} and "
            f"{memory.gib(room)} is available",
            "Close other programs or wait for running jobs to finish, then try again.",
        )


def readable_slide(library: SlideLibrary, slide_id: Any) -> SlideEntry:
    """The slide to apply an app to: known and readable."""
    entry = library.get(slide_id) if isinstance(slide_id, str) else None
    if entry is None:
        raise UserError(f"Unknown slide {slide_id!r}")
    if not entry.readable:
        raise UserError(f"Slide '{entry.name}' cannot be read: {entry.error}")
    return entry


def slide_region(region: Any, entry: SlideEntry) -> RegionSpec:
    """The parsed region, a bbox clipped to the slide; 400 when it misses the slide."""
    info = entry.details
    spec = parse_region(region)
    try:
        return clip_bbox(spec, info.width, info.height)
    except RegionError as exc:
        raise UserError(
            str(exc),
            f"Give the box as [x, y, width, height] in level-0 pixels overlapping the "
            f"slide (0 ≤ x < {info.width}, 0 ≤ y < {info.height}).",
        ) from exc


def roi_shape(store: Store, entry: SlideEntry, spec: RegionSpec) -> BaseGeometry | None:
    """The ROI a region names (None for a bbox region)."""
    if spec.kind != "roi":
        return None
    try:
        wkb = repository.roi_wkb(store, entry.id, int(spec.roi_id))
    except (TypeError, ValueError, OverflowError):  # OverflowError: beyond 64 bits
        wkb = None
    if wkb is None:
        raise UserError(f"Slide '{entry.name}' has no ROI {spec.roi_id!r}")
    return shapely.from_wkb(wkb)
