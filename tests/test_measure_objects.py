"""Objects and measurements, block by block, against skimage's regionprops on the whole image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import label, regionprops

from server.measure.objects import Objects, iter_objects, scan_objects


@pytest.fixture(scope="module")
def image() -> tuple[np.ndarray, np.ndarray]:
    """Three classes of blobs of all sizes plus speckle, and a value per pixel."""
    rng = np.random.default_rng(0)
    noise = ndimage.gaussian_filter(rng.normal(size=(230, 310)), 3)
    labels = np.digitize(noise, [-0.05, 0.05]).astype(np.uint8)
    labels[rng.random(labels.shape) < 0.01] = 3
    return labels, rng.random(labels.shape)


def measured(labels: np.ndarray, values: np.ndarray | None, block: int) -> dict:
    def read(x: int, y: int, w: int, h: int):
        window = (slice(y, y + h), slice(x, x + w))
        return labels[window], None if values is None else values[window]

    found: dict = {}
    for batch in iter_objects(read, labels.shape[1], labels.shape[0], block):
        assert isinstance(batch, Objects)
        for i in range(len(batch)):
            key = (*map(int, batch.bbox[i]), int(batch.area[i]), int(batch.label[i]))
            assert key not in found, "an object was reported twice"
            found[key] = batch, i
    return found


@pytest.mark.parametrize("block", [23, 64, 4096])
def test_objects_match_regionprops_whatever_the_block_size(image, block):
    labels, values = image
    found = measured(labels, values, block)
    props = regionprops(label(labels, background=0, connectivity=1), intensity_image=values)
    assert len(found) == len(props) > 500
    perimeter_off = 0
    for p in props:
        r0, c0, r1, c1 = p.bbox
        batch, i = found[(c0, r0, c1, r1, int(p.area), int(labels[tuple(p.coords[0])]))]
        assert (batch.centroid_y[i], batch.centroid_x[i]) == pytest.approx(p.centroid, abs=1e-9)
        assert batch.eccentricity[i] == pytest.approx(p.eccentricity, abs=1e-9)
        assert batch.mean_value[i] == pytest.approx(p.intensity_mean, abs=1e-9)
        assert batch.equivalent_diameter[i] == pytest.approx(p.equivalent_diameter_area)
        assert batch.perimeter[i] == pytest.approx(p.perimeter, rel=2e-3, abs=2.0)
        perimeter_off += batch.perimeter[i] != pytest.approx(p.perimeter, abs=1e-9)
    # Only objects whose pixels meet diagonally, joined by a path outside a block's halo, differ.
    assert perimeter_off <= len(props) // 100


def test_an_object_crossing_many_blocks_is_one_object():
    labels = np.zeros((100, 100), dtype=np.uint8)
    labels[10:90, 10:14] = 2  # a U: its arms meet only at the bottom, two bands below
    labels[10:90, 60:64] = 2
    labels[86:90, 10:64] = 2
    labels[40:50, 30:40] = 1
    found = measured(labels, None, 16)
    assert sorted((k[5], k[4]) for k in found) == [(1, 100), (2, 80 * 4 * 2 + 4 * 46)]
    (batch, i), *_ = [v for k, v in found.items() if k[5] == 2]
    assert tuple(batch.bbox[i]) == (10, 10, 64, 90)
    assert np.isnan(batch.mean_value[i])


def test_form_factor_is_near_one_for_a_disc_and_small_for_a_line():
    yy, xx = np.mgrid[:200, :200]
    labels = ((xx - 60) ** 2 + (yy - 100) ** 2 < 40**2).astype(np.uint8)
    labels[20:22, 120:190] = 1
    found = measured(labels, None, 50)
    by_area = sorted(found.values(), key=lambda v: -v[0].area[v[1]])
    (disc, i), (line, j) = by_area
    assert disc.form_factor[i] == pytest.approx(1.0, abs=0.08)
    assert disc.eccentricity[i] < 0.05 and line.eccentricity[j] > 0.99
    assert line.form_factor[j] < 0.15


@pytest.mark.parametrize("block", [23, 1000])
def test_the_object_map_names_every_pixel_s_object(image, block):
    labels, _ = image

    def read(x: int, y: int, w: int, h: int):
        return labels[y : y + h, x : x + w], None

    objects, object_map = scan_objects(read, labels.shape[1], labels.shape[0], block)
    numbers = np.full(labels.shape, -1)
    for x, y, block_labels, block_numbers in object_map.blocks():
        h, w = block_labels.shape
        numbers[y : y + h, x : x + w] = block_numbers
    reference = label(labels, background=0, connectivity=1)
    assert ((numbers >= 0) == (reference > 0)).all()
    inside = reference > 0
    pairs = set(zip(numbers[inside].tolist(), reference[inside].tolist(), strict=True))
    assert len(pairs) == len(objects) == reference.max()  # one to one
    assert (np.bincount(numbers[numbers >= 0], minlength=len(objects)) == objects.area).all()
