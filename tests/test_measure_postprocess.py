"""Post-processing steps, block by block, against the same operations on the whole image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import label, regionprops
from skimage.morphology import remove_small_objects

from server.errors import UserError
from server.measure.postprocess import apply_step, parse_steps, run_steps

CLASS_IDS = [7, 9, 11]  # the app's class ids; labels 1, 2, 3
PIXEL_UM = 0.5  # µm per pixel: one pixel is 0.25 µm²
BLOCK = 37  # small, so objects and discs cross many block borders


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = ndimage.gaussian_filter(rng.normal(size=(160, 210)), 2.5)
    image = np.digitize(noise, [-0.08, 0.0, 0.08]).astype(np.uint8)  # 0..3
    image[rng.random(image.shape) < 0.02] = 2
    return image


def stepped(step: dict, labels: np.ndarray) -> np.ndarray:
    (parsed,) = parse_steps([step], CLASS_IDS)
    target = np.zeros_like(labels)
    apply_step(parsed, labels, target, CLASS_IDS, PIXEL_UM, BLOCK)
    return target


def test_remove_small_objects_is_skimage_s_on_the_class(labels):
    out = stepped({"op": "remove_small_objects", "class_id": 9, "min_area_um2": 2.5}, labels)
    kept = remove_small_objects(labels == 2, max_size=9, connectivity=1)  # < 10 px = 2.5 µm²
    expected = np.where((labels == 2) & ~kept, 0, labels)
    assert (out == expected).all()
    assert (labels != expected).sum() > 100  # the speckle went


def test_fill_holes_fills_enclosed_areas_up_to_the_size(labels):
    out = stepped({"op": "fill_holes", "class_id": 7, "max_area_um2": 5}, labels)
    mask = labels == 1
    holes = label(ndimage.binary_fill_holes(mask) & ~mask, connectivity=1)
    small = [p.label for p in regionprops(holes) if p.area <= 20]
    expected = np.where(np.isin(holes, small), 1, labels)
    assert (out == expected).all()
    assert (out != labels).sum() > 20


@pytest.mark.parametrize("op", ["open", "close"])
def test_open_and_close_match_the_whole_image(labels, op):
    out = stepped({"op": op, "class_id": 11, "radius_um": 1.5}, labels)  # 3 px
    yy, xx = np.mgrid[-3:4, -3:4]
    disc = xx * xx + yy * yy <= 9
    mask = labels == 3
    if op == "open":
        opened = ndimage.binary_dilation(ndimage.binary_erosion(mask, disc, border_value=1), disc)
        expected = np.where(mask & ~opened, 0, labels)
    else:
        dilated = ndimage.binary_dilation(mask, disc)
        closed = ndimage.binary_erosion(dilated, disc, border_value=1) | mask
        expected = np.where(closed, 3, labels)
    assert (out == expected).all()
    assert (out != labels).sum() > 50


def test_relabel_moves_objects_by_their_measures(labels):
    step = {"op": "relabel", "class_id": 9, "to_class_id": None, "where": {"area_um2": [0, 1]}}
    unclassified = stepped(step, labels)
    sizes = {p.label: p.area for p in regionprops(label(labels == 2, connectivity=1))}
    objects = label(labels == 2, connectivity=1)
    tiny = np.isin(objects, [k for k, area in sizes.items() if area * 0.25 <= 1])
    assert (unclassified == np.where(tiny, 0, labels)).all()
    round_ = {"op": "relabel", "class_id": 7, "to_class_id": 11, "where": {"form_factor": [0.6, 1]}}
    moved = stepped(round_, labels)
    assert set(np.unique(moved[labels == 1])) == {1, 3}
    assert (moved[labels != 1] == labels[labels != 1]).all()


def test_steps_run_in_order(labels):
    steps = parse_steps(
        [
            {"op": "remove_small_objects", "class_id": 9, "min_area_um2": 2.5},
            {"op": "close", "class_id": 9, "radius_um": 1},
        ],
        CLASS_IDS,
    )
    out = run_steps(steps, labels, lambda: np.zeros_like(labels), CLASS_IDS, PIXEL_UM, BLOCK)
    first = stepped(steps[0], labels)
    assert (out == stepped(steps[1], first)).all()


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ({"op": "remove_small_objects"}, "postprocessing"),
        ([{"op": "erode", "class_id": 7}], "postprocessing[0].op"),
        ([{"op": "open", "class_id": 8, "radius_um": 1}], "postprocessing[0].class_id"),
        ([{"op": "open", "class_id": 7, "radius_um": -1}], "postprocessing[0].radius_um"),
        (
            [{"op": "fill_holes", "class_id": 7, "max_area_um2": "big"}],
            "postprocessing[0].max_area_um2",
        ),
        ([{"op": "relabel", "class_id": 7, "to_class_id": 9}], "postprocessing[0].where"),
        (
            [{"op": "relabel", "class_id": 7, "to_class_id": 9, "where": {"area_um2": [5, 1]}}],
            "postprocessing[0].where.area_um2",
        ),
    ],
)
def test_bad_steps_are_refused_with_the_field(steps, field):
    with pytest.raises(UserError) as refused:
        parse_steps(steps, CLASS_IDS)
    assert field in refused.value.fields
