"""Post-processing steps saved in an app change what its results show: overlay, areas, exports."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
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
    yield {"server": server, "app": app_id, "rid": rid}
    server.stop()


def label_tiff(server, rid: str) -> np.ndarray:
    response = server.get(f"/api/results/{rid}/export.tiff", params={"threshold": 0.5})
    assert response.status_code == 200, response.text
    with tifffile.TiffFile(io.BytesIO(response.content)) as tiff:
        return tiff.pages[0].asarray()


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
    area = sum(_polygon_area(f["geometry"]) for f in nuclei_features) / 64  # level-0 px → 8×8
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
