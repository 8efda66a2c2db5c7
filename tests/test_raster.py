"""One raster module: training and inference read the same pixels for the same box and
resolution, and the three label rasterisations (training labels, label masks, inference
ROIs) mark the same pixels. Real slides through real OpenSlide."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
import shapely
from shapely.geometry import Polygon, box

from server.annotations.masks import rasterise
from server.inference.reader import WindowReader
from server.inference.regions import PolygonMask
from server.inference.tiler import Grid
from server.slides import raster
from server.training.sampler import (
    SlideSource,
    downsample_for,
    load_cache,
    polygon_mask,
    read_rgb,
    to_grid,
)
from tests.helpers import DEMO_SLIDE, SHARED_SLIDES

SLIDES = {
    "demo": DEMO_SLIDE,
    "generic-tiff": SHARED_SLIDES / "generic_tiff_cmu1_pyramid_vips.tif",  # five levels
    "ome-tiff": SHARED_SLIDES / "ome_tiff_cmu1_pyramid.ome.tif",  # one level
}
DEMO_MPP = 0.499


def inference_read(slide: openslide.OpenSlide, x: int, y: int, w: int, h: int, ds: float):
    """The box as inference reads it: the app's grid on the box (as planning makes it for a
    bbox region) and a window at its origin."""
    grid = Grid.for_region(x * ds, y * ds, w * ds, h * ds, ds)
    return WindowReader(slide, grid).read(0, 0, w, h)


@pytest.mark.parametrize("name", sorted(SLIDES))
@pytest.mark.parametrize("ds", [1.0, 1.7, 3.0, 4.008])
def test_training_and_inference_read_identical_pixels(name, ds):
    path = SLIDES[name]
    if not path.exists():
        pytest.skip(f"{path} is not here")
    with openslide.OpenSlide(str(path)) as slide:
        cols, rows = raster.grid_size(*slide.dimensions, ds)
        boxes = [
            (0, 0, 96, 64),  # the top-left corner
            (cols // 3, rows // 2, 160, 128),  # inside
            (cols - 80, rows - 72, 80, 72),  # touching the right and bottom edges
            (cols - 40, 10, 64, 48),  # reaching past the right edge
        ]
        for x, y, w, h in boxes:
            training = read_rgb(slide, x, y, w, h, ds)
            inference = inference_read(slide, x, y, w, h, ds)
            assert training.shape == (h, w, 3)
            assert np.array_equal(training, inference), (name, ds, (x, y, w, h))


def test_edge_pixels_mirror_the_slide():
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        width, height = slide.dimensions  # 2220 × 2967
        ds = 1.7  # 1305.9 columns: the last one lies partly outside
        cols, rows = raster.grid_size(width, height, ds)
        assert (cols, rows) == (1306, 1746)
        pixels = read_rgb(slide, cols - 8, rows - 8, 20, 20, ds)
        # Columns 0..6 lie inside the slide; 7.. are mirrored from them (7 = 6, 8 = 5, ...).
        assert np.array_equal(pixels[:, 7], pixels[:, 6])
        assert np.array_equal(pixels[:, 12], pixels[:, 1])
        assert np.array_equal(pixels[9], pixels[4])
        assert (pixels < 250).any(axis=-1).mean() > 0.5  # tissue, not a white band


def test_a_training_region_is_what_inference_reads_there():
    ds = 1.7
    mpp = DEMO_MPP * ds
    labels = {
        0: box(300, 400, 900, 700),
        1: Polygon([(1000, 1000), (1900, 1100), (1500, 1900)]),
    }
    source = SlideSource("s", "demo", DEMO_SLIDE, DEMO_MPP, labels)
    cache = load_cache([source], mpp, 64, ["a", "b"])
    assert cache.regions
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        for region in cache.regions:
            h, w = region.label.shape
            x, y = region.origin
            assert np.array_equal(region.image, inference_read(slide, x, y, w, h, ds))


def test_overlapping_boxes_agree():
    """Two boxes of one grid agree where they overlap: exactly where level pixels are read as
    they are, within one grey level where they are resampled (rounding of the filter)."""
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        for ds, tolerance in ((1.0, 0), (1.7, 1), (3.0, 1)):
            whole = read_rgb(slide, 100, 100, 600, 500, ds)
            part = read_rgb(slide, 250, 180, 200, 150, ds)
            diff = np.abs(whole[80:230, 150:350].astype(int) - part)
            assert diff.max() <= tolerance, (ds, diff.max())


def test_one_resolution_rule():
    """Within 1 % of the slide's resolution both read level 0 as it is (no resampling)."""
    source = SlideSource("s", "demo", DEMO_SLIDE, DEMO_MPP, {})
    assert downsample_for(source, 0.5) == 1.0
    assert downsample_for(source, 2.0) == pytest.approx(2.0 / DEMO_MPP)
    assert raster.downsample(0.5, DEMO_MPP) == 1.0


def _shapes() -> shapely.MultiPolygon:
    """A holed polygon with an island in its hole, and a slanted quadrilateral (level 0)."""
    holed = Polygon(
        [(103, 97), (741, 120), (700, 655), (90, 610)],
        [[(250, 250), (520, 240), (540, 480), (260, 500)]],
    )
    island = Polygon([(330, 320), (450, 330), (440, 420), (340, 410)])
    slanted = Polygon([(900, 80), (1403, 333), (1111, 901), (847, 598)])
    return shapely.MultiPolygon([holed, island, slanted])


@pytest.mark.parametrize("ds", [1.0, 2.5, 3.3])
def test_the_three_rasterisations_agree(ds):
    geom = _shapes()
    width, height = 1500, 1000
    cols, rows = raster.grid_size(width, height, ds)
    mask = rasterise({7: [shapely.to_wkb(g) for g in geom.geoms]}, width, height, ds) == 7
    training = polygon_mask(to_grid(geom, ds), (rows, cols))
    roi = PolygonMask(geom).window(Grid(0.0, 0.0, ds, cols, rows), 0, 0, cols, rows)
    assert mask.shape == training.shape == roi.shape == (rows, cols)
    assert np.array_equal(mask, training) and np.array_equal(mask, roi)
    # Pixel centres: the area counted is the geometry's, within its outline's pixels.
    assert abs(mask.sum() * ds * ds - geom.area) < geom.length * ds
    # A window of the ROI mask is the same part of the whole.
    part = PolygonMask(geom).window(Grid(0.0, 0.0, ds, cols, rows), 37, 21, 150, 90)
    assert np.array_equal(part, mask[21:111, 37:187])


def test_polygon_mask_counts_pixel_centres_at_a_scale():
    # Level-0 box [10, 30) × [20, 26) on a grid of 4 level-0 px from (2, 2): pixel centres
    # at 2 + 4j + 2 → columns 2..6 (x 12, 16, 20, 24, 28), rows 4 and 5 (y 20, 24).
    mask = raster.polygon_mask(box(10, 20, 30, 26), (10, 10), origin=(2, 2), scale=4)
    assert mask.sum() == 10 and mask[4:6, 2:7].all()
