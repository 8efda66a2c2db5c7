"""Magic wand (GET /api/slides/<id>/wand) on the real demo slide: glass, epidermis,
tolerance, the window bound and bad input."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
from PIL import Image, ImageDraw

from server.slides.wand import WINDOW, rgb_to_lab
from tests.helpers import DEMO_SLIDE, slide_id_by_name

GLASS = (400, 400)  # white glass, top left of the tissue
EPIDERMIS = (1200, 1400)  # the dark purple band in the middle of the section


@pytest.fixture(scope="module")
def slide_id(demo_server) -> str:
    return slide_id_by_name(demo_server, DEMO_SLIDE.name)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        return np.asarray(slide.read_region((0, 0), 0, slide.dimensions).convert("RGB"))


def wand(server, slide_id: str, **params) -> dict:
    response = server.get(f"/api/slides/{slide_id}/wand", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def inside(polygon: list[list[float]], shape: tuple[int, int]) -> np.ndarray:
    """Bool mask (level 0) of the pixels the polygon covers."""
    image = Image.new("1", (shape[1], shape[0]), 0)
    ImageDraw.Draw(image).polygon([tuple(p) for p in polygon], fill=1)
    return np.asarray(image)


def polygon_area(points: list[list[float]]) -> float:
    xy = np.asarray(points)
    x, y = xy[:, 0], xy[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def test_glass_gives_a_large_bright_region(demo_server, slide_id, pixels):
    body = wand(demo_server, slide_id, x=GLASS[0], y=GLASS[1], downsample=4, tolerance=20)
    polygon = body["polygon"]
    assert len(polygon) >= 3
    assert body["area_px"] == pytest.approx(polygon_area(polygon), rel=1e-3)
    assert body["area_px"] > 1_000_000  # glass spans a large part of the 2220 × 2967 slide
    mask = inside(polygon, pixels.shape[:2])
    assert mask[GLASS[1], GLASS[0]]
    assert pixels[mask].mean() > 225  # bright
    xs, ys = np.asarray(polygon).T
    assert xs.min() >= 0 and ys.min() >= 0
    assert xs.max() <= pixels.shape[1] and ys.max() <= pixels.shape[0]


def test_epidermis_region_has_the_click_colour(demo_server, slide_id, pixels):
    x, y = EPIDERMIS
    body = wand(demo_server, slide_id, x=x, y=y, downsample=1, tolerance=20)
    mask = inside(body["polygon"], pixels.shape[:2])
    assert mask[y, x]
    assert 2_000 < mask.sum() < 2_000_000
    click = rgb_to_lab(pixels[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3)).mean(axis=0)
    region = rgb_to_lab(pixels[mask]).mean(axis=0)
    assert np.linalg.norm(region - click) < 20  # ΔE of the region's mean to the click
    glass = rgb_to_lab(np.array([[246, 246, 246]], np.uint8))[0]
    assert np.linalg.norm(region - glass) > 40  # and far from the glass around the tissue


def test_tolerance_grows_the_area(demo_server, slide_id):
    x, y = EPIDERMIS
    areas = [
        wand(demo_server, slide_id, x=x, y=y, downsample=2, tolerance=t)["area_px"]
        for t in (0, 20, 40)
    ]
    assert 0 < areas[0] < areas[1] < areas[2]
    assert areas[0] < 1000  # tolerance 0: the click's own colour only, a few pixels


def test_window_bounds_the_region(demo_server, slide_id):
    # At downsample 1 the window is 1024 level-0 pixels a side around the click.
    body = wand(demo_server, slide_id, x=GLASS[0], y=GLASS[1], downsample=1, tolerance=20)
    xs, ys = np.asarray(body["polygon"]).T
    assert xs.max() - xs.min() <= WINDOW + 1e-6
    assert ys.max() - ys.min() <= WINDOW + 1e-6


def test_defaults(demo_server, slide_id):
    default = wand(demo_server, slide_id, x=EPIDERMIS[0], y=EPIDERMIS[1])
    explicit = wand(
        demo_server, slide_id, x=EPIDERMIS[0], y=EPIDERMIS[1], downsample=1, tolerance=20
    )
    assert default == explicit


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"y": 10}, "x"),
        ({"x": "left", "y": 10}, "x"),
        ({"x": 5000, "y": 10}, "x"),
        ({"x": -1, "y": 10}, "x"),
        ({"x": 10, "y": 10, "tolerance": 101}, "tolerance"),
        ({"x": 10, "y": 10, "tolerance": -1}, "tolerance"),
        ({"x": 10, "y": 10, "downsample": 0}, "downsample"),
        ({"x": 10, "y": 10, "downsample": "nan"}, "downsample"),
        ({"x": 10, "y": 10, "downsample": 1e9}, "downsample"),
    ],
)
def test_bad_params_are_refused(demo_server, slide_id, params, field):
    response = demo_server.get(f"/api/slides/{slide_id}/wand", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]
    assert field in body["fields"]


def test_unknown_slide_is_404(demo_server):
    response = demo_server.get("/api/slides/0123456789abcdef/wand", params={"x": 1, "y": 1})
    assert response.status_code == 404
