"""Limits on the work of one request: edits, imports, exports, training and inference.

Every over-limit request is answered 413/400 with a hint before the work starts, and the
server keeps answering; requests within the limits (what a user does) are accepted.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from server.annotations import geometry
from server.inference import export
from server.inference.probstore import ProbStore
from server.inference.tiler import Grid
from server.training import memory
from server.training import settings as training_settings
from tests.helpers import ServerProcess, scrub, slide_id_by_name
from tests.inference_support import CLASSES, make_app

SLIDE = "CMU-1-Small-Region.svs"
WIDTH, HEIGHT = 2220, 2967
TIMEOUT = 120  # generous: an over-limit request is answered at once, the old code took minutes


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    """One server on the demo slide with an app and a class."""
    from tests.helpers import DEMO_DIR

    data = tmp_path_factory.mktemp("limits-data")
    app_id = make_app(data)
    server = ServerProcess([DEMO_DIR], data).start()
    slide = slide_id_by_name(server, SLIDE)
    class_id = server.post("/api/classes", json={"name": "Tumour"}).json()["id"]
    yield {"server": server, "slide": slide, "app": app_id, "class_id": class_id}
    server.stop()


def edit(env: dict, body: dict):
    """POST one edit to the demo slide."""
    path = f"/api/slides/{env['slide']}/annotations/edits"
    return env["server"].post(path, json=body, timeout=TIMEOUT)


def assert_refused(response, status: int = 413) -> dict:
    """The response is a JSON refusal with a message and a hint."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body["hint"]
    return body


def assert_healthy(server: ServerProcess) -> None:
    """The server still answers."""
    assert server.get("/api/health", timeout=10).status_code == 200


# ---- edits -------------------------------------------------------------------------------


def test_the_stroke_from_the_issue_is_refused_with_a_hint(env):
    # 50,000 points all over the slide with a radius of 2,900 px: the old code grew the
    # server past 15 GB without answering.
    points = np.random.default_rng(0).uniform([0, 0], [WIDTH, HEIGHT], (50_000, 2))
    body = {"tool": "brush", "class_id": env["class_id"], "radius": 2900}
    response = edit(env, body | {"points": np.round(points, 1).tolist()})
    refusal = assert_refused(response)
    assert "crosses itself" in refusal["error"] and "50,000" in refusal["error"]
    assert "shorter strokes" in refusal["hint"]
    assert_healthy(env["server"])
    # Nothing was painted.
    summary = env["server"].get(f"/api/slides/{env['slide']}/annotations/summary").json()
    assert all(c["area_px"] == 0 for c in summary["classes"])


def test_a_long_scrubbing_stroke_with_a_big_brush_is_accepted(env):
    points = scrub(20_000, 200)
    body = {"tool": "brush", "class_id": env["class_id"], "radius": 100}
    response = edit(env, body | {"points": points.tolist()})
    assert response.status_code == 200, response.text
    expected = LineString(points).buffer(100, quad_segs=16).area
    summary = env["server"].get(f"/api/slides/{env['slide']}/annotations/summary").json()
    area = next(c["area_px"] for c in summary["classes"] if c["class_id"] == env["class_id"])
    assert area == pytest.approx(expected, rel=0.01)
    env["server"].post(f"/api/slides/{env['slide']}/annotations/undo", json={})


def test_a_polygon_crossing_itself_thousands_of_times_is_refused(env):
    # 2,000 random vertices: repairing it took the old code minutes (the crossings grow
    # with the square of the vertices).
    points = np.random.default_rng(1).uniform([0, 0], [WIDTH, HEIGHT], (2_000, 2))
    body = {"tool": "polygon", "class_id": env["class_id"], "points": points.tolist()}
    refusal = assert_refused(edit(env, body))
    assert "This polygon" in refusal["error"]
    assert_healthy(env["server"])


def test_a_detailed_lasso_is_accepted(env):
    angle = np.linspace(0, 2 * np.pi, 5_000, endpoint=False)
    wobble = 1 + 0.05 * np.sin(37 * angle)
    points = np.stack([1100 + 900 * wobble * np.cos(angle), 1500 + 1200 * wobble * np.sin(angle)])
    body = {"tool": "polygon", "class_id": env["class_id"], "points": points.T.tolist()}
    response = edit(env, body)
    assert response.status_code == 200, response.text
    (total,) = response.json()["classes"]
    assert total["area_px"] == pytest.approx(shapely.Polygon(points.T).area, rel=1e-3)
    env["server"].post(f"/api/slides/{env['slide']}/annotations/undo", json={})


def test_an_import_with_a_polygon_crossing_itself_thousands_of_times_is_refused(env):
    points = np.random.default_rng(2).uniform([0, 0], [WIDTH, HEIGHT], (2_000, 2)).tolist()
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [points + points[:1]]},
        "properties": {"classification": {"name": "Tumour", "color": [200, 0, 0]}},
    }
    doc = {"type": "FeatureCollection", "features": [feature]}
    path = f"/api/slides/{env['slide']}/annotations"
    refusal = assert_refused(env["server"].request("PUT", path, json=doc, timeout=TIMEOUT))
    assert refusal["error"].startswith("Feature 1 ")
    assert_healthy(env["server"])


def test_work_estimates_bound_what_the_cell_grid_and_buffer_get():
    # The estimate is known from the points alone, before any buffering.
    lines = geometry.stroke_lines(np.array([[0.0, 0.0], [1000.0, 0.0]]), 10, (2000, 2000))
    work = geometry.stroke_work(lines, 10, (2000, 2000))
    assert work.crossings <= 0 and work.cells == 4  # cells 0..3 along the top row
    assert work.area == pytest.approx(1000 * 20 + np.pi * 100)
    # Far outside the slide, a stroke costs nothing: only the part near the slide is kept.
    outside = np.array([[-1e8, -1e8], [-2e8, 3e8], [1e8, -5e7]])
    assert geometry.stroke_lines(outside, 10, (2000, 2000)) == []
    # A polygon over 65,536 cells is refused; one the size of a 60,000 px slide is not.
    big = np.array([[0, 0], [70_000, 0], [70_000, 70_000], [0, 70_000]], dtype=float)
    with pytest.raises(geometry.TooMuchWork, match="grid cells"):
        geometry.polygon_shape(big, (70_000, 70_000))
    fits = geometry.polygon_shape(big * 60 / 70, (60_000, 60_000))
    pieces = geometry.split_into_cells(fits)
    assert len(pieces) == 235**2 and sum(p.area for p in pieces.values()) == fits.area


# ---- training and inference ---------------------------------------------------------------


def test_training_settings_that_cannot_fit_are_refused_with_the_estimate(env):
    body = {
        "slides": [env["slide"]],
        "settings": {"batch_size": 1024, "patch_size": 2048, "iterations": 5},
    }
    response = env["server"].post("/api/training", json=body)
    assert response.status_code == 400, response.text
    fields = response.json()["fields"]
    assert "GiB" in fields["batch_size"] and "is available" in fields["batch_size"]
    assert "batch_size" not in training_settings.validate({}, "cpu")[1]  # defaults fit


def test_the_training_estimate_is_above_a_real_step_but_not_absurd():
    settings, errors = training_settings.validate({"batch_size": 2, "patch_size": 384}, "cpu")
    assert not errors
    measured = memory.measure_training_step("unet", "resnet18", 384, 2)
    estimate = memory.training_estimate(settings, num_classes=2)
    params = memory.profile("unet", "resnet18").params * 1e6
    assert measured["params"] == pytest.approx(params, rel=0.01)
    assert measured["delta"] < estimate.device < 4 * measured["delta"]


def test_the_sampler_cache_counts_against_host_memory():
    # 10 Gpx labelled at 0.25 µm/px, trained at 0.5 µm/px with a hold-out: 2.5 Gpx × 5 bytes.
    cache = memory.cache_bytes(1e10, 0.25, 0.5, validation=True)
    assert cache == 12_500_000_000
    gpu, _ = training_settings.validate({"batch_size": 16, "patch_size": 256}, "cuda")
    errors = memory.check_training(gpu, "cuda", 2, cache, room=(80 * memory.GiB, 8 * memory.GiB))
    assert set(errors) == {"mpp"} and "need about 11.7 GiB" in errors["mpp"]
    cpu, _ = training_settings.validate({}, "cpu")
    errors = memory.check_training(cpu, "cpu", 2, cache, room=(8 * memory.GiB, None))
    assert "batch_size" in errors and "of memory and 8.0 GiB is available" in errors["batch_size"]
    assert memory.check_training(cpu, "cpu", 2, 0, room=(8 * memory.GiB, None)) == {}


def test_a_box_outside_the_slide_is_refused_when_asked(env):
    server = env["server"]
    boxes = ([5000, 5000, 100, 100], [-500, -500, 400, 400], [0, 0, 10**400, 10], [True, 0, 5, 5])
    for box in boxes:
        body = {"app_id": env["app"], "slide_id": env["slide"], "region": {"bbox": box}}
        assert server.post("/api/inference", json=body).status_code == 400, box
    body = {"app_id": env["app"], "slide_id": env["slide"], "region": {"bbox": [6000, 0, 10, 10]}}
    refusal = assert_refused(server.post("/api/inference", json=body), 400)
    assert "outside the slide (2220 × 2967 px)" in refusal["error"]
    # A box partly outside is clipped to the slide when it is asked.
    body["region"] = {"bbox": [-500, -300, 1000, 700]}
    response = server.post("/api/inference", json=body)
    assert response.status_code == 201, response.text
    result = server.get(f"/api/results/{response.json()['result_id']}").json()
    assert result["region"] == {"bbox": [0.0, 0.0, 500.0, 400.0]}


def test_one_request_queues_a_bounded_number_of_slides(env):
    body = {"app_id": env["app"], "slide_ids": [f"s{i}" for i in range(1001)]}
    assert_refused(env["server"].post("/api/inference", json=body), 413)


# ---- exports -----------------------------------------------------------------------------


def test_result_geojson_is_bounded_before_and_while_it_is_written(tmp_path, monkeypatch):
    with pytest.raises(export.ExportTooLarge, match="GeoJSON exports at most") as refused:
        export.check_size("geojson", 30_000, 30_000)
    assert "label TIFF" in refused.value.hint
    export.check_size("tiff", 30_000, 30_000)  # streamed: no bound on the store size
    # A speckled result: thousands of one-pixel regions.
    rng = np.random.default_rng(4)
    side = 128
    store = ProbStore.create(tmp_path / "r.zarr", side, side, len(CLASSES), 128, {})
    winner = rng.integers(0, len(CLASSES), (side, side))
    probs = np.where(np.arange(len(CLASSES))[:, None, None] == winner, 250, 2).astype(np.uint8)
    store.write_tile(0, 0, probs)
    store.finish()
    meta = {
        "grid": Grid(0.0, 0.0, 1.0, side, side).as_dict(),
        "classes": [dict(c, index=i) for i, c in enumerate(CLASSES)],
    }
    monkeypatch.setattr(export, "MAX_GEOJSON_VERTICES", 10_000)
    path = tmp_path / "out" / "r.geojson"
    with pytest.raises(export.ExportTooLarge, match="10,000 vertices"):
        export.write_export("geojson", ProbStore.open(tmp_path / "r.zarr"), meta, {}, 0.5, path)
    assert not path.exists() and list(path.parent.iterdir()) == []  # no partial file left
