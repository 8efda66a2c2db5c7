"""Inference building blocks on real data: threshold semantics, pyramid, areas, exports,
tissue detection, and seam-free tiling with a real (briefly fitted) U-Net."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openslide
import pytest
import shapely
import shapely.geometry
import tifffile
import torch

from server.inference import export, overlay
from server.inference.pipeline import Pipeline, Plan
from server.inference.predictor import Predictor
from server.inference.probstore import ProbStore, downsample
from server.inference.reader import WindowReader
from server.inference.regions import PolygonMask, RegionError, detect_tissue, parse_region
from server.inference.stats import area_stats, pixel_area_um2
from server.inference.thresholds import labels_of, threshold_level
from server.inference.tiler import Grid, TileGeometry
from server.models import build_model
from tests.helpers import DEMO_SLIDE
from tests.inference_support import APP_MPP, app_config, fitted_state

# ---- threshold semantics ------------------------------------------------------------------

# Pixels: 40/35/25 % (A wins), 100 % A, outside the region (all zero), 25/35/40 % (C wins).
EXAMPLE = np.array(
    [[[102, 255, 0, 64]], [[89, 0, 0, 89]], [[64, 0, 0, 102]]], dtype=np.uint8
)  # (C=3, h=1, w=4)
COLORS = ["#ff0000", "#00ff00", "#0000ff"]
CLASSES = [
    {"index": i, "id": i + 1, "name": n, "color": c}
    for i, (n, c) in enumerate(zip("ABC", COLORS, strict=True))
]


@pytest.fixture
def example_store(tmp_path: Path) -> ProbStore:
    store = ProbStore.create(tmp_path / "p.zarr", 4, 1, 3, 32, {})
    store.write_tile(0, 0, EXAMPLE)
    store.finish()
    return ProbStore.open(tmp_path / "p.zarr")


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.0, [1, 1, 0, 3]),  # 0 %: every region pixel takes its best class
        (0.39, [1, 1, 0, 3]),  # the example: 40 % A at 39 % -> A
        (0.40, [1, 1, 0, 3]),  # "at least": exactly 40 % still classifies
        (0.41, [0, 1, 0, 0]),
        (0.5, [0, 1, 0, 0]),  # the example: at 50 % -> unclassified
        (1.0, [0, 1, 0, 0]),  # 100 %: only certain pixels
    ],
)
def test_threshold_semantics(example_store: ProbStore, threshold: float, expected: list[int]):
    probs = example_store.read(0, 0, 0, 4, 1)
    assert labels_of(probs, threshold)[0].tolist() == expected
    # The overlay tile of the same pixels shows exactly those classes, transparent elsewhere.
    dzi = overlay.DziGeometry(4, 1)
    grid = Grid(0, 0, 1.0, 4, 1)
    prepared = overlay.prepare(example_store, grid, dzi, dzi.levels - 1, 0, 0)
    rgba = overlay.colorize(prepared, threshold, overlay.palette(COLORS))
    lut = overlay.palette(COLORS)
    assert rgba[0].tolist() == [lut[v].tolist() for v in expected]
    # Areas count the same pixels; the outside pixel is not part of the region.
    stats = area_stats(example_store.histogram, threshold, CLASSES, 1.0)
    assert stats["region_pixels"] == 3
    assert [c["pixels"] for c in stats["classes"]] == [expected.count(i + 1) for i in range(3)]
    assert stats["unclassified_pixels"] == 3 - sum(v > 0 for v in expected)


def test_threshold_levels_at_the_edges():
    assert threshold_level(0.0) == 1  # zero means "outside", never a prediction
    assert threshold_level(1.0) == 255
    assert threshold_level(0.5) == 128  # 127/255 < 0.5 <= 128/255
    assert threshold_level(102 / 255) == 102


def test_heatmap_shows_one_class_probability(example_store: ProbStore):
    dzi, grid = overlay.DziGeometry(4, 1), Grid(0, 0, 1.0, 4, 1)
    prepared = overlay.prepare(example_store, grid, dzi, dzi.levels - 1, 0, 0, heat_class=2)
    rgba = overlay.colorize(prepared, 0.0, overlay.palette(COLORS))
    assert rgba[0, :, 3].tolist() == [255, 255, 0, 255]  # outside stays transparent
    assert rgba[0, 0].tolist() == overlay.HEAT[64].tolist()
    assert rgba[0, 1].tolist() == overlay.HEAT[0].tolist()
    above = overlay.colorize(prepared, 0.3, overlay.palette(COLORS))
    assert above[0, :, 3].tolist() == [0, 0, 0, 255]  # only C ≥ 30 % remains


def test_device_pyramid_equals_the_host_one():
    """The predictor halves levels with torch exactly as probstore.downsample does."""
    from server.inference.predictor import _halve

    rng = np.random.default_rng(3)
    probs = rng.integers(0, 256, (2, 3, 64, 64), dtype=np.uint8)
    probs[:, :, rng.random((64, 64)) < 0.3] = 0  # pixels outside the region
    halved = _halve(torch.from_numpy(probs)).numpy()
    assert np.array_equal(halved, np.stack([downsample(p) for p in probs]))


def test_downsample_averages_predicted_pixels_only():
    probs = np.zeros((2, 2, 2), np.uint8)
    probs[:, 0, 0] = (200, 55)
    probs[:, 0, 1] = (100, 155)  # two predicted pixels, two outside
    half = downsample(probs)
    assert half[:, 0, 0].tolist() == [150, 105]


# ---- a synthetic result: areas, GeoJSON, label TIFF ----------------------------------------

SCALE, SLIDE_MPP = 2.0, 0.5  # one store pixel = 1 µm × 1 µm
W, H = 300, 200


def _synthetic_probs() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    probs = np.zeros((3, H, W), np.uint8)
    probs[0] = 200  # background, confident
    probs[1] = probs[2] = 27
    r = np.hypot(xx - 140, yy - 100)
    ring = (r >= 30) & (r < 70)  # class B: an annulus (a hole), crossing block edges
    probs[:, ring] = np.array([[27], [200], [28]], np.uint8)
    squares = ((xx // 20) % 3 == 0) & ((yy // 20) % 3 == 0) & (xx > 230)
    probs[:, squares] = np.array([[20], [20], [215]], np.uint8)  # class C: separate squares
    unsure = (xx < 40) & (yy < 40)
    probs[:, unsure] = np.array([[110], [80], [65]], np.uint8)  # 43 % background
    probs[:, 190:, 280:] = 0  # outside the region
    return probs


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[ProbStore, Grid, np.ndarray]:
    probs = _synthetic_probs()
    store = ProbStore.create(tmp_path / "s.zarr", W, H, 3, 64, {})
    for y in range(0, H, 64):
        for x in range(0, W, 64):
            store.write_tile(x, y, probs[:, y : y + 64, x : x + 64])
    store.finish()
    return ProbStore.open(tmp_path / "s.zarr"), Grid(1000.0, 500.0, SCALE, W, H), probs


def test_parallel_tile_writes_equal_serial_ones(synthetic, tmp_path: Path):
    """Tiles never share a chunk at any level, so writer threads need no coordination."""
    from concurrent.futures import ThreadPoolExecutor

    serial, _, probs = synthetic
    store = ProbStore.create(tmp_path / "par.zarr", W, H, 3, 64, {})
    spots = [(x, y) for y in range(0, H, 64) for x in range(0, W, 64)]
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda p: store.write_tile(*p, probs[:, p[1] : p[1] + 64, p[0] : p[0] + 64]), spots
            )
        )
    for level in range(store.levels):
        w, h = store.shape(level)
        assert np.array_equal(store.read(level, 0, 0, w, h), serial.read(level, 0, 0, w, h))
    assert np.array_equal(store.histogram, serial.histogram)


def test_areas_are_pixel_counts_times_pixel_area(synthetic):
    store, grid, probs = synthetic
    area = pixel_area_um2(grid.scale, SLIDE_MPP)
    assert area == pytest.approx(1.0)
    for threshold in (0.0, 0.5, 0.8):
        labels = labels_of(store.read(0, 0, 0, W, H), threshold)
        stats = area_stats(store.histogram, threshold, CLASSES, area)
        region = int(probs.any(axis=0).sum())
        assert stats["region_pixels"] == region == W * H - 10 * 20
        for cls in stats["classes"]:
            count = int((labels == cls["index"] + 1).sum())
            assert cls["pixels"] == count
            assert cls["area_mm2"] == pytest.approx(count * 1.0 / 1e6)
            assert cls["fraction"] == pytest.approx(count / region)
        unclassified = int(((labels == 0) & probs.any(axis=0)).sum())
        assert stats["unclassified_area_mm2"] == pytest.approx(unclassified / 1e6)
    # The unsure corner is background at 40 % and unclassified at 50 %.
    assert area_stats(store.histogram, 0.5, CLASSES, area)["unclassified_pixels"] == 1600


def test_geojson_regions_match_the_mask(synthetic, tmp_path: Path):
    store, grid, _ = synthetic
    labels = labels_of(store.read(0, 0, 0, W, H), 0.5)
    out = tmp_path / "r.geojson"
    with open(out, "w") as fh:
        counts = export.write_geojson(store, grid, 0.5, CLASSES, fh)
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection"
    by_class: dict[str, list] = {}
    for feature in doc["features"]:
        assert feature["geometry"]["type"] == "Polygon"
        props = feature["properties"]
        assert props["objectType"] == "annotation"
        by_class.setdefault(props["classification"]["name"], []).append(
            shapely.geometry.shape(feature["geometry"])
        )
    for cls in CLASSES:
        polys = by_class.get(cls["name"], [])
        assert len(polys) == counts.get(cls["index"], 0)
        mask_area = (labels == cls["index"] + 1).sum()
        poly_area = sum(p.area for p in polys) / SCALE**2  # level-0 px² -> store px
        assert poly_area == pytest.approx(mask_area, rel=0.01)
    ring = by_class["B"]
    assert len(ring) == 1 and len(ring[0].interiors) == 1  # one region with its hole
    assert len(by_class["C"]) == 4  # separate squares stay separate features
    # Level-0 coordinates: the store origin is at (1000, 500), 2 level-0 px per pixel.
    x0, y0, x1, y1 = shapely.union_all(by_class["A"]).bounds
    assert (x0, y0) == (1000.0, 500.0) and x1 <= 1000 + W * SCALE and y1 <= 500 + H * SCALE


def test_geojson_merges_regions_across_blocks(synthetic):
    store, grid, _ = synthetic
    small = list(export.region_polygons(store, grid, 0.5, block=64))
    large = list(export.region_polygons(store, grid, 0.5, block=4096))
    assert sorted((i, round(p.area)) for i, p in small) == sorted(
        (i, round(p.area)) for i, p in large
    )


def test_label_tiff_opens_in_tifffile_and_openslide(synthetic, tmp_path: Path):
    store, grid, _ = synthetic
    labels = labels_of(store.read(0, 0, 0, W, H), 0.5)
    path = tmp_path / "labels.tif"
    export.write_label_tiff(store, 0.5, path, SCALE * SLIDE_MPP, {"test": True})
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == store.levels == 2
        page = tif.pages[0]
        assert page.is_tiled and page.shape == (H, W)
        assert np.array_equal(page.asarray(), labels)
        xres = page.tags["XResolution"].value
        assert xres[0] / xres[1] == pytest.approx(1e4 / (SCALE * SLIDE_MPP))
        assert page.tags["ResolutionUnit"].value == 3  # centimetre
        assert tif.pages[1].shape == (H // 2, W // 2)
    with openslide.OpenSlide(path) as slide:
        assert slide.dimensions == (W, H)
        assert slide.level_count == 2
        pixels = np.asarray(slide.read_region((0, 0), 0, (W, H)))
        assert np.array_equal(pixels[..., 0], labels)
        assert float(slide.properties["tiff.XResolution"]) == pytest.approx(1e4)


# ---- regions ---------------------------------------------------------------------------------


def test_tissue_detection_on_the_demo_slide():
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        thumb = np.asarray(slide.get_thumbnail((512, 512)).convert("RGB"))
    mask = detect_tissue(thumb)
    assert 0.2 < mask.mean() < 0.7
    assert mask[300, 200]  # the middle of the skin section
    assert not mask[450, 20] and not mask[50, 350]  # glass left below, right above


def test_region_requests_are_validated():
    assert parse_region(None).kind == "tissue"
    assert parse_region({"bbox": [1, 2, 3, 4]}).bbox == (1.0, 2.0, 3.0, 4.0)
    for bad in ("everything", {"bbox": [0, 0, -5, 5]}, {"bbox": [0, 0]}, {"roi_id": None}, 5):
        with pytest.raises(RegionError):
            parse_region(bad)


def test_polygon_mask_counts_pixel_centres():
    grid = Grid(0, 0, 2.0, 20, 20)
    mask = PolygonMask(shapely.box(4, 4, 24, 16)).window(grid, 0, 0, 20, 20)
    assert mask.sum() == 10 * 6  # level-0 box 20 × 12 = 10 × 6 store pixels
    assert mask[2:8, 2:12].all()


# ---- seam-free tiling ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    model = build_model("unet", "resnet18", 3)
    model.load_state_dict(fitted_state())
    return Predictor.for_app(model, app_config(), torch.device("cpu"))


def test_tiles_match_a_single_pass(predictor: Predictor, tmp_path: Path):
    """Tile by tile (128-px cores, 192-px margins) equals one pass over the whole region:
    at most 2/255 apart in any probability (uint8 rounding), the same class except at
    near-ties."""
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        mpp = float(slide.properties[openslide.PROPERTY_NAME_MPP_X])
    scale = APP_MPP / mpp  # resampled: 8.02 level-0 px per pixel
    grid = Grid.for_region(300, 900, 256 * scale, 256 * scale, scale)
    geometry = TileGeometry(core=128, margin=192)
    plan = Plan.build(grid, geometry)
    assert len(plan.tiles) == 4
    store = ProbStore.create(tmp_path / "t.zarr", grid.width, grid.height, 3, 128, {})
    Pipeline(plan, lambda: openslide.OpenSlide(DEMO_SLIDE), predictor, store, 4).run()
    tiled = store.read(0, 0, 0, grid.width, grid.height)
    margin = geometry.margin
    side = -(-(max(grid.width, grid.height) + 2 * margin) // 32) * 32
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        window = WindowReader(slide, grid).read(-margin, -margin, side)
    single = predictor(window[None], margin)[0][:, : grid.height, : grid.width]
    diff = np.abs(tiled.astype(int) - single.astype(int))
    assert diff.max() <= 2
    # Classes agree except where the two best classes are within that tolerance (near-ties).
    differ = tiled.argmax(axis=0) != single.argmax(axis=0)
    top2 = np.sort(single.astype(int), axis=0)[-2:]
    assert (top2[1] - top2[0])[differ].max(initial=0) <= 4
    assert differ.mean() < 0.001
    assert store.complete and store.histogram[:, 1:].sum() == grid.width * grid.height


def test_slides_without_mpp_run_at_level_0_with_a_warning(tmp_path: Path):
    from server.inference.planning import SlideFacts, make_plan
    from server.inference.regions import RegionSpec

    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        pixels = np.asarray(slide.read_region((0, 0), 0, (1024, 768)).convert("RGB"))
    path = tmp_path / "uncalibrated.tif"
    tifffile.imwrite(path, pixels, tile=(256, 256), photometric="rgb", metadata=None)
    with openslide.OpenSlide(path) as slide:
        assert openslide.PROPERTY_NAME_MPP_X not in slide.properties
    facts = SlideFacts(str(path), 1024, 768, None)
    plan = make_plan(RegionSpec("whole"), facts, 2.0, TileGeometry(256, 64))
    assert plan.grid.scale == 1.0 and (plan.grid.width, plan.grid.height) == (1024, 768)
    assert "resolution" in plan.warnings[0]
    assert pixel_area_um2(plan.grid.scale, None) is None
    stats = area_stats(np.zeros((3, 256), np.int64), 0.5, CLASSES, None)
    assert stats["region_area_mm2"] is None and stats["classes"][0]["area_mm2"] is None
    # A resolution mismatch resamples: 2 µm/px on a 0.5 µm/px slide is 4 level-0 px a pixel.
    facts = SlideFacts(str(path), 1024, 768, 0.5)
    assert make_plan(RegionSpec("whole"), facts, 2.0, TileGeometry(256, 64)).grid.width == 256


def test_each_preview_generation_has_its_own_store(tmp_path):
    from server.inference.results import stale_stores, store_path

    paths = [store_path(tmp_path, "r1", g) for g in range(4)]
    assert len(set(paths)) == 4
    for path in paths:
        path.mkdir(parents=True)
    # Running generation 3: the one before it may still be on screen, older ones can go.
    assert set(stale_stores(tmp_path, "r1", 3)) == set(paths[:2])


# ---- slide edges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "length", "lo", "hi", "expected"),
    [
        (512, 128, 0, 2000, 448),  # interior: margin before the core
        (0, 128, 0, 2000, 0),  # at the slide's start: moved inside by the margin
        (10, 128, 0, 2000, 10),  # near the start: moved by whole strides until inside
        (1872, 128, 0, 2000, 1744),  # at the end: moved back inside
        (1900, 100, 0, 2000, 1772),  # a short last core moves back as far as strides allow
        (0, 128, 0, 200, -64),  # a slide shorter than the window: left in place
    ],
)
def test_windows_move_inside_the_slide_by_whole_strides(start, length, lo, hi, expected):
    from server.inference.reader import window_origin

    origin = window_origin(start, length, 256, 64, lo, hi)
    assert origin == expected
    assert (origin - (start - 64)) % 32 == 0
    assert origin <= start and start + length <= origin + 256  # the core stays inside


def test_windows_past_a_small_slide_are_mirrored_not_white(tmp_path: Path):
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        pixels = np.asarray(slide.read_region((700, 900), 0, (200, 150)).convert("RGB"))
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, pixels, tile=(256, 256), photometric="rgb", metadata=None)
    with openslide.OpenSlide(path) as slide:
        window = WindowReader(slide, Grid.for_region(0, 0, 200, 150, 1.0)).read(-64, -64, 320)
    expected = np.pad(pixels, ((64, 320 - 64 - 150), (64, 320 - 64 - 200), (0, 0)), "symmetric")
    assert np.array_equal(window, expected)
    assert not (window[:64] == 255).all()  # the band above the slide is no white strip


def _single_window(predictor: Predictor, slide, grid: Grid, x: int, y: int, size: int):
    window = WindowReader(slide, grid).read(x, y, size)
    with torch.inference_mode():
        probs = torch.softmax(predictor.logits(window[None]), dim=1)[0]
    return (probs * 255).round().to(torch.uint8).numpy()


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_predictions_at_slide_edges_use_real_context(predictor, tmp_path: Path, corner: str):
    """A region in a slide corner is predicted from a window lying inside the slide (as far
    inside as an interior one), never from a window half filled with made-up pixels."""
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        mpp = float(slide.properties[openslide.PROPERTY_NAME_MPP_X])
        width, height = slide.dimensions
    scale = APP_MPP / mpp
    side = 128 * scale
    x0, y0 = (0.0, 0.0) if corner == "top-left" else (width - side, height - side)
    grid = Grid.for_region(x0, y0, side, side, scale)
    geometry = TileGeometry(core=128, margin=64)
    plan = Plan.build(grid, geometry)
    store = ProbStore.create(tmp_path / "e.zarr", grid.width, grid.height, 3, 128, {})
    Pipeline(plan, lambda: openslide.OpenSlide(DEMO_SLIDE), predictor, store, 2).run()
    tiled = store.read(0, 0, 0, grid.width, grid.height).astype(int)
    origin = 0 if corner == "top-left" else -128  # the window moved inside the slide
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        reference = _single_window(predictor, slide, grid, origin, origin, 256)
    core = reference[:, -origin : -origin + grid.height, -origin : -origin + grid.width]
    assert np.abs(tiled - core.astype(int)).max() <= 1
