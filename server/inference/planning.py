"""From a request to a Plan: the region on the slide, the app's grid, the tiles to run.

Runs in a compute thread (it opens the slide and, for tissue, reads a thumbnail).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import openslide

from server.inference.pipeline import Plan
from server.inference.regions import (
    TISSUE_THUMBNAIL,
    PolygonMask,
    Region,
    RegionError,
    RegionSpec,
    clip_rect,
    tissue_mask,
)
from server.inference.tiler import Grid, TileGeometry
from server.slides import raster

log = logging.getLogger(__name__)


@dataclass
class SlideFacts:
    """What planning needs to know about a slide."""

    path: str
    width: int
    height: int
    mpp: float | None
    bounds: tuple[float, float, float, float] | None = None  # non-empty area, when recorded


def scale_for(app_mpp: float, slide_mpp: float | None) -> tuple[float, list[str]]:
    """Level-0 pixels per app pixel, and warnings (no slide µm/px → level 0 as is)."""
    if not slide_mpp:
        return 1.0, [
            "The slide does not record its resolution (µm/px): the app ran on level-0 "
            "pixels as they are, and areas are given in pixels only."
        ]
    return raster.downsample(app_mpp, slide_mpp), []


def resolve_region(
    spec: RegionSpec, facts: SlideFacts, slide: openslide.OpenSlide, roi=None
) -> Region:
    """The level-0 rectangle and mask of a region request; RegionError when it is empty."""
    full = facts.bounds or (0.0, 0.0, float(facts.width), float(facts.height))
    if spec.kind == "whole":
        return Region(*full)
    if spec.kind == "bbox" and spec.bbox is not None:
        return Region(*clip_rect(spec.bbox, (0.0, 0.0, float(facts.width), float(facts.height))))
    if spec.kind == "roi":
        if roi is None or roi.is_empty:
            raise RegionError("The ROI is empty")
        x0, y0, x1, y1 = roi.bounds
        rect = clip_rect((x0, y0, x1 - x0, y1 - y0), full)
        return Region(*rect, mask=PolygonMask(roi))
    thumb = slide.get_thumbnail((TISSUE_THUMBNAIL, TISSUE_THUMBNAIL))
    mask = tissue_mask(thumb, (facts.width, facts.height), spec.sensitivity)
    box = mask.bbox()
    if box is None:
        raise RegionError("No tissue was found on this slide; apply the app to the whole slide")
    return Region(*clip_rect(box, full), mask=mask)


def make_plan(
    spec: RegionSpec, facts: SlideFacts, app_mpp: float, geometry: TileGeometry, roi=None
) -> Plan:
    """Open the slide, resolve the region and plan the tiles at the app's resolution."""
    scale, warnings = scale_for(app_mpp, facts.mpp)
    with openslide.OpenSlide(facts.path) as slide:
        region = resolve_region(spec, facts, slide, roi)
    grid = Grid.for_region(region.x, region.y, region.w, region.h, scale)
    plan = Plan.build(grid, geometry, region.mask)
    plan.warnings = warnings + region.warnings
    for warning in plan.warnings:
        log.warning("%s: %s", facts.path, warning)
    if not plan.tiles:
        raise RegionError("The region holds no pixels to classify")
    return plan
