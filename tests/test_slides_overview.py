"""Coarse Deep Zoom tiles of unpyramided slides come from an overview and look the same."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator

from server.slides.overview import OverviewDeepZoom
from tests.helpers import DEMO_SLIDE, SHARED_SLIDES

OPTIONS = {"tile_size": 254, "overlap": 1, "limit_bounds": True}


@pytest.mark.parametrize(
    "path", [DEMO_SLIDE, SHARED_SLIDES / "ome_tiff_cmu1_pyramid.ome.tif"], ids=["svs", "ome"]
)
def test_overview_tiles_match_openslide_deepzoom(path):
    slide = openslide.OpenSlide(path)
    ours, reference = OverviewDeepZoom(slide, **OPTIONS), DeepZoomGenerator(slide, **OPTIONS)
    assert ours.level_count == reference.level_count == 13
    for level in range(0, 11):  # levels 0–10 read ≥ 4× their area: served from the overview
        for address in [(0, 0), tuple(n - 1 for n in reference.level_tiles[level])]:
            a = np.asarray(ours.get_tile(level, address), dtype=np.int16)
            b = np.asarray(reference.get_tile(level, address), dtype=np.int16)
            # OpenSlide's thumbnail() keeps the aspect ratio and may drop a pixel on tiny tiles.
            assert all(abs(i - j) <= 1 for i, j in zip(a.shape, b.shape, strict=True))
            if level >= 5:
                assert a.shape == b.shape
                assert np.abs(a - b).mean() < 4, (level, address)
    image, scale = ours.overview()
    assert max(image.size) == 2048 and scale == pytest.approx(2967 / 2048, rel=1e-3)


def test_pyramidal_slides_never_build_an_overview():
    slide = openslide.OpenSlide(SHARED_SLIDES / "generic_tiff_cmu1_pyramid_vips.tif")
    dz = OverviewDeepZoom(slide, **OPTIONS)
    for level in range(dz.level_count):
        dz.get_tile(level, (0, 0))
    assert dz._overview is None
