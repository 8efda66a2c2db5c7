"""Post-processing, objects and full-resolution exports of a result, through the HTTP API.

Post-processing steps saved in an app change what its results show (overlay, areas,
exports); objects and their measurements match scikit-image's regionprops on the exported
label image."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage.measure import label, regionprops
from skimage.morphology import remove_small_objects

from tests.helpers import DEMO_DIR, ServerProcess, slide_id_by_name
from tests.inference_support import CLASSES, make_app, wait_for_result

PIXEL_UM2 = 16.0  # the test app works at 4 µm/px: a store pixel is 16 µm²
NUCLEI = CLASSES[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("postprocessing-data")
    app_id = make_app(data)
    server = ServerProcess([DEMO_DIR], data).start()
    slide = slide_id_by_name(server, "CMU-1-Small-Region.svs")
    response = server.post("/api/inference", json={"app_id": app_id, "slide_id": slide})
    rid = response.json()["result_id"]
    wait_for_result(server, rid)
    yield {"server": server, "app": app_id, "rid": rid, "slide": slide}
    server.stop()


def label_tiff(server, rid: str) -> np.ndarray:
    return label_tiff_placed(server, rid)[0]


def label_tiff_placed(server, rid: str) -> tuple[np.ndarray, tuple[float, float], float]:
    """The label image at the app's resolution, its level-0 origin and slide px per pixel."""
    response = server.get(f"/api/results/{rid}/export.tiff", params={"threshold": 0.5})
    assert response.status_code == 200, response.text
    with tifffile.TiffFile(io.BytesIO(response.content)) as tiff:
        placed = json.loads(tiff.pages[0].description)
        origin = tuple(placed["level0_origin"])
        return tiff.pages[0].asarray(), origin, placed["level0_pixels_per_pixel"]


def stats(server, rid: str) -> dict:
    return server.get(f"/api/results/{rid}/stats", params={"threshold": 0.5}).json()


def overlay_pixels(server, rid: str, key: str) -> np.ndarray:
    url = f"/results/{rid}_files/8/0_0.png"
    response = server.get(url, params={"threshold": 0.5, "pp": key})
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)))


def set_steps(server, app_id: str, steps: list) -> dict:
    response = server.request("PATCH", f"/api/apps/{app_id}", json={"postprocessing": steps})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_step_changes_overlay_areas_and_exports_alike(env):
    server, rid, app_id = env["server"], env["rid"], env["app"]
    before_labels = label_tiff(server, rid)
    before = stats(server, rid)
    nuclei_px = int((before_labels == 3).sum())
    assert nuclei_px > 50 and before["postprocessing_key"] == ""
    min_um2 = 30 * PIXEL_UM2  # objects under 30 store pixels go
    expected = before_labels.copy()
    small = (before_labels == 3) & ~remove_small_objects(before_labels == 3, max_size=29)
    expected[small] = 0
    assert 0 < small.sum() < nuclei_px  # the step removes some nuclei, not all

    app = set_steps(
        server,
        app_id,
        [{"op": "remove_small_objects", "class_id": NUCLEI["id"], "min_area_um2": min_um2}],
    )
    assert app["postprocessing"][0]["op"] == "remove_small_objects" and app["postprocessing_key"]
    after_labels = label_tiff(server, rid)
    assert (after_labels == expected).all()
    after = stats(server, rid)
    assert after["postprocessing_key"] == app["postprocessing_key"]
    assert after["region_pixels"] == before["region_pixels"]
    assert after["classes"][2]["pixels"] == nuclei_px - int(small.sum())
    assert after["unclassified_pixels"] == before["unclassified_pixels"] + int(small.sum())
    geo = json.loads(server.get(f"/api/results/{rid}/export.geojson?threshold=0.5").content)
    nuclei_features = [f for f in geo["features"] if f["properties"]["name"] == NUCLEI["name"]]
    scale = label_tiff_placed(server, rid)[2]
    area = sum(_polygon_area(f["geometry"]) for f in nuclei_features) / scale**2
    assert area == pytest.approx(after["classes"][2]["pixels"], rel=0.01)

    # The overlay shows it too: fewer nuclei-coloured pixels than before.
    nuclei_rgb = np.array([0x33, 0x33, 0xAA])
    set_steps(server, app_id, [])
    plain = overlay_pixels(server, rid, "")
    processed_key = set_steps(
        server,
        app_id,
        [{"op": "remove_small_objects", "class_id": NUCLEI["id"], "min_area_um2": min_um2}],
    )["postprocessing_key"]
    processed = overlay_pixels(server, rid, processed_key)
    count = lambda rgba: int(((rgba[..., :3] == nuclei_rgb).all(-1) & (rgba[..., 3] > 0)).sum())  # noqa: E731
    assert 0 < count(processed) < count(plain)

    set_steps(server, app_id, [])  # back to the plain labels
    assert (label_tiff(server, rid) == before_labels).all()
    assert stats(server, rid)["classes"] == before["classes"]


def test_bad_steps_are_refused_with_the_field_and_change_nothing(env):
    server, app_id = env["server"], env["app"]
    bad = [{"op": "open", "class_id": NUCLEI["id"], "radius_um": -2}]
    response = server.request("PATCH", f"/api/apps/{app_id}", json={"postprocessing": bad})
    assert response.status_code == 400
    assert "postprocessing[0].radius_um" in response.json()["fields"]
    unknown = [{"op": "open", "class_id": 999, "radius_um": 2}]
    response = server.request("PATCH", f"/api/apps/{app_id}", json={"postprocessing": unknown})
    assert "postprocessing[0].class_id" in response.json()["fields"]
    assert server.get(f"/api/apps/{app_id}").json()["postprocessing"] == []


def _polygon_area(geometry: dict) -> float:
    def ring(points: list) -> float:
        xy = np.asarray(points)
        return 0.5 * abs(
            np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1))
        )

    rings = geometry["coordinates"] if geometry["type"] == "Polygon" else []
    return ring(rings[0]) - sum(ring(r) for r in rings[1:]) if rings else 0.0


def objects_csv(server, rid: str) -> list[dict]:
    response = server.get(f"/api/results/{rid}/objects.csv", params={"threshold": 0.5})
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_objects_match_regionprops_on_the_label_image(env):
    server, rid = env["server"], env["rid"]
    labels, origin, scale = label_tiff_placed(server, rid)
    props = regionprops(label(labels, background=0, connectivity=1))
    rows = objects_csv(server, rid)
    assert len(rows) == len(props) > 20
    by_class = {}
    for p in props:
        by_class.setdefault(int(labels[tuple(p.coords[0])]), []).append(p)
    summary = server.get(f"/api/results/{rid}/objects", params={"threshold": 0.5}).json()
    region_mm2 = summary["region_area_mm2"]
    for cls, entry in zip(CLASSES, summary["classes"], strict=True):
        mine = by_class.get(CLASSES.index(cls) + 1, [])
        assert entry["count"] == len(mine)
        assert entry["area_mm2"] == pytest.approx(sum(p.area for p in mine) * PIXEL_UM2 / 1e6)
        assert entry["density_per_mm2"] == pytest.approx(len(mine) / region_mm2)
        assert sum(entry["sizes"]["counts"]) == len(mine)
        csv_areas = sorted(float(r["area_um2"]) for r in rows if r["class"] == cls["name"])
        assert csv_areas == pytest.approx(sorted(p.area * PIXEL_UM2 for p in mine))
    # Per object: measurements in µm and level-0 centroids (a result pixel is 8 slide pixels).
    biggest = max(props, key=lambda p: p.area)
    row = max(rows, key=lambda r: float(r["area_um2"]))
    assert float(row["perimeter_um"]) == pytest.approx(biggest.perimeter * 4, rel=2e-3)
    assert float(row["eccentricity"]) == pytest.approx(biggest.eccentricity, abs=1e-4)
    centroid_x = origin[0] + (biggest.centroid[1] + 0.5) * scale
    assert float(row["centroid_x"]) == pytest.approx(centroid_x, abs=0.01)
    assert 0 < float(row["mean_probability"]) <= 1


def test_objects_geojson_carries_each_object_with_its_measurements(env):
    server, rid = env["server"], env["rid"]
    rows = objects_csv(server, rid)
    response = server.get(f"/api/results/{rid}/objects.geojson", params={"threshold": 0.5})
    features = json.loads(response.content)["features"]
    assert len(features) >= len(rows)  # an object cut by the slide's edge may be in parts
    numbers = {f["properties"]["name"].rsplit(" ", 1)[1] for f in features}
    assert len(numbers) == len(rows)
    feature = max(features, key=lambda f: f["properties"]["measurements"]["area_um2"])
    assert feature["properties"]["objectType"] == "detection"
    _, _, scale = label_tiff_placed(server, rid)
    area_px = _polygon_area(feature["geometry"]) / scale**2  # level-0 px² → result pixels
    measured = feature["properties"]["measurements"]["area_um2"] / PIXEL_UM2
    assert area_px == pytest.approx(measured, rel=0.01)


def test_the_full_resolution_tiff_repeats_each_result_pixel_over_the_slide(env):
    server, rid = env["server"], env["rid"]
    labels, (x0, y0), scale = label_tiff_placed(server, rid)
    response = server.get(
        f"/api/results/{rid}/export.tiff", params={"threshold": 0.5, "resolution": "full"}
    )
    assert response.status_code == 200 and "_full" in response.headers["Content-Disposition"]
    with tifffile.TiffFile(io.BytesIO(response.content)) as tiff:
        full = tiff.pages[0].asarray()
        assert tiff.pages[0].is_tiled and len(tiff.pages) > 1
        description = json.loads(tiff.pages[0].description)
    assert full.shape == (2967, 2220)
    assert description["level0_pixels_per_pixel"] == 1
    ys = (y0 + (np.arange(labels.shape[0]) + 0.5) * scale).astype(int)
    xs = (x0 + (np.arange(labels.shape[1]) + 0.5) * scale).astype(int)
    inside_y, inside_x = ys < full.shape[0], xs < full.shape[1]
    sampled = full[np.ix_(ys[inside_y], xs[inside_x])]
    assert (sampled == labels[np.ix_(inside_y, inside_x)]).all()
    bad = server.get(f"/api/results/{rid}/export.csv", params={"resolution": "full"})
    assert bad.status_code == 400 and "resolution" in bad.json()["fields"]


def test_objects_are_summarised_per_roi(env):
    server, rid, slide = env["server"], env["rid"], env["slide"]
    box = [[800, 1200], [1600, 1200], [1600, 2000], [800, 2000]]
    edit = {"tool": "roi", "points": box}
    response = server.post(f"/api/slides/{slide}/annotations/edits", json=edit)
    assert response.status_code == 200, response.text
    features = server.get(f"/api/slides/{slide}/annotations").json()["features"]
    (roi_id,) = [
        f["properties"]["roi_id"] for f in features if f["properties"].get("kind") == "roi"
    ]
    summary = server.get(f"/api/results/{rid}/objects", params={"threshold": 0.5}).json()
    (roi,) = summary["rois"]
    assert roi["roi_id"] == roi_id
    labels, (x0, y0), scale = label_tiff_placed(server, rid)
    xs = x0 + (np.arange(labels.shape[1]) + 0.5) * scale
    ys = y0 + (np.arange(labels.shape[0]) + 0.5) * scale
    inside = ((ys >= 1200) & (ys <= 2000))[:, None] & ((xs >= 800) & (xs <= 1600))[None, :]
    rows = objects_csv(server, rid)
    for index, cls in enumerate(CLASSES):
        entry = roi["classes"][index]
        assert entry["pixels"] == int((labels[inside] == index + 1).sum())
        centred = [
            r
            for r in rows
            if r["class"] == cls["name"]
            and 800 <= float(r["centroid_x"]) <= 1600
            and 1200 <= float(r["centroid_y"]) <= 2000
        ]
        assert entry["count"] == len(centred)
    assert roi["region_pixels"] >= sum(c["pixels"] for c in roi["classes"]) > 0


def test_accept_takes_the_post_processed_classes(env):
    server, rid, app_id, slide = env["server"], env["rid"], env["app"], env["slide"]
    step = {"op": "remove_small_objects", "class_id": NUCLEI["id"], "min_area_um2": 30 * PIXEL_UM2}
    set_steps(server, app_id, [step])
    try:
        labels, _, scale = label_tiff_placed(server, rid)
        body = {"region": {"bbox": [0, 0, 2220, 2967]}, "threshold": 0.5}
        response = server.post(f"/api/results/{rid}/accept", json=body)
        assert response.status_code == 200, response.text
        accepted = {c["name"]: c["area_px"] for c in response.json()["accepted"]["classes"]}
        expected = int((labels == 3).sum()) * scale**2
        assert accepted[NUCLEI["name"]] == pytest.approx(expected, rel=0.02)
    finally:
        server.post(f"/api/slides/{slide}/annotations/undo", json={})
        set_steps(server, app_id, [])
