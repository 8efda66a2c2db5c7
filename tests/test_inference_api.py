"""Inference through the HTTP and Socket.IO API of a real server subprocess."""

from __future__ import annotations

import csv
import io
import json
import shutil
import time

import numpy as np
import pytest
import requests
import socketio
import tifffile
from PIL import Image

from tests.helpers import DEMO_DIR, ServerProcess, slide_id_by_name
from tests.inference_support import CLASSES, make_app

SLIDE = "CMU-1-Small-Region.svs"
PIXEL_UM2 = 16.0  # the test app works at 4 µm/px
# Level-0 points on the demo slide: glass at the lower left, tissue in the middle.
GLASS = (116, 2606)
TISSUE = (1158, 1738)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("inference-data")
    app_id = make_app(data)
    slow_app = make_app(data, mpp=0.5, name="Fine app")  # many tiles: time to cancel
    server = ServerProcess([DEMO_DIR], data).start()
    yield {
        "server": server,
        "data": data,
        "app": app_id,
        "slow_app": slow_app,
        "slide": slide_id_by_name(server, SLIDE),
    }
    server.stop()


def start(server: ServerProcess, **body) -> str:
    response = server.post("/api/inference", json=body)
    assert response.status_code == 201, response.text
    return response.json()["result_id"]


def wait(server: ServerProcess, rid: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = server.get(f"/api/results/{rid}").json()
        if result["state"] not in ("queued", "running"):
            return result
        time.sleep(0.2)
    raise AssertionError(f"result {rid} did not finish: {result}")


def png(server: ServerProcess, rid: str, level: int, col: int, row: int, **query) -> np.ndarray:
    response = server.get(f"/results/{rid}_files/{level}/{col}_{row}.png", params=query)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.mode == "RGBA"
    return np.asarray(image)


def dzi_size(xml: str) -> tuple[int, int, int, int]:
    def attr(name: str) -> int:
        return int(xml.split(f'{name}="')[1].split('"')[0])

    return attr("Width"), attr("Height"), attr("TileSize"), attr("Overlap")


def tile_at(point: tuple[int, int]) -> tuple[int, int, int, int]:
    """(col, row, x, y) of the full-resolution tile holding a level-0 point (overlap 1)."""
    col, row = point[0] // 254, point[1] // 254
    return (
        col,
        row,
        point[0] - col * 254 + (1 if col else 0),
        point[1] - row * 254 + (1 if row else 0),
    )


def test_bbox_overlay_matches_the_slide_and_follows_the_threshold(env):
    server, slide = env["server"], env["slide"]
    bbox = [600, 900, 1000, 800]
    rid = start(server, app_id=env["app"], slide_id=slide, region={"bbox": bbox})
    result = wait(server, rid)
    assert result["state"] == "completed" and result["progress"] == 1.0
    assert result["region"] == {"bbox": bbox}
    assert [c["name"] for c in result["classes"]] == [c["name"] for c in CLASSES]

    overlay_dzi = server.get(f"/results/{rid}.dzi").text
    assert dzi_size(overlay_dzi) == dzi_size(server.get(f"/slides/{slide}.dzi").text)
    top = 12  # 2967 px high: levels 0..12
    for col, row in ((0, 0), (3, 4), (8, 11)):
        jpeg = Image.open(
            io.BytesIO(server.get(f"/slides/{slide}_files/{top}/{col}_{row}.jpeg").content)
        )
        tile = png(server, rid, top, col, row)
        assert tile.shape[:2] == (jpeg.height, jpeg.width)
    assert png(server, rid, top, 0, 0)[..., 3].max() == 0  # outside the bbox: transparent
    inside = png(server, rid, top, 3, 4)  # level-0 762..1016 × 1016..1270: in the bbox
    assert (inside[..., 3] == 255).all()

    thresholds = (0, 0.7, 0.95, 1.0)
    alpha = [(png(server, rid, top, 3, 4, threshold=t)[..., 3] > 0).mean() for t in thresholds]
    assert alpha[0] == 1.0 and alpha[-1] < alpha[0]  # fewer classified pixels as T rises
    assert all(a >= b for a, b in zip(alpha, alpha[1:], strict=False))
    colors = {tuple(c) for c in inside[..., :3].reshape(-1, 3)}
    assert colors <= {(255, 255, 255), (255, 102, 204), (51, 51, 170)}  # class colours only
    heat = png(server, rid, top, 3, 4, mode="heatmap", **{"class": 2})
    assert not np.array_equal(heat, inside) and (heat[..., 3] == 255).all()
    low = png(server, rid, 9, 0, 0, threshold=0.5)  # a coarse level renders from the pyramid
    assert low.shape[2] == 4 and low[..., 3].any()


def test_tissue_result_stats_and_exports(env):
    server, slide = env["server"], env["slide"]
    rid = start(server, app_id=env["app"], slide_id=slide)  # region defaults to tissue
    result = wait(server, rid)
    assert result["state"] == "completed" and result["region"] == "tissue"

    top = 12
    col, row, x, y = tile_at(GLASS)
    assert png(server, rid, top, col, row)[y, x, 3] == 0  # glass is outside the region
    col, row, x, y = tile_at(TISSUE)
    assert png(server, rid, top, col, row)[y, x, 3] == 255

    slide_mm2 = 2220 * 2967 * 0.499**2 / 1e6
    previous_unclassified = -1.0  # unclassified area grows with the threshold
    for threshold in (0, 0.5, 0.8):
        stats = server.get(f"/api/results/{rid}/stats", params={"threshold": threshold}).json()
        assert stats["threshold"] == threshold
        assert 0.2 * slide_mm2 < stats["region_area_mm2"] < 0.8 * slide_mm2
        total = stats["unclassified_area_mm2"] + sum(c["area_mm2"] for c in stats["classes"])
        assert total == pytest.approx(stats["region_area_mm2"])
        for cls in stats["classes"]:
            assert cls["area_mm2"] == pytest.approx(cls["pixels"] * PIXEL_UM2 / 1e6)
        assert stats["unclassified_area_mm2"] > previous_unclassified
        previous_unclassified = stats["unclassified_area_mm2"]
        if threshold == 0:
            assert stats["unclassified_area_mm2"] == 0
            assert all(c["area_mm2"] > 0 for c in stats["classes"])

    geo = server.get(f"/api/results/{rid}/export.geojson", params={"threshold": 0.5})
    assert geo.status_code == 200 and "attachment" in geo.headers["Content-Disposition"]
    doc = json.loads(geo.content)
    names = {f["properties"]["classification"]["name"] for f in doc["features"]}
    assert names <= {c["name"] for c in CLASSES} and "Stroma" in names

    tif = server.get(f"/api/results/{rid}/export.tiff", params={"threshold": 0.5})
    assert tif.status_code == 200
    with tifffile.TiffFile(io.BytesIO(tif.content)) as tiff:
        labels = tiff.pages[0].asarray()
        assert tiff.pages[0].is_tiled
    counts = np.bincount(labels.ravel(), minlength=4)
    stats = server.get(f"/api/results/{rid}/stats", params={"threshold": 0.5}).json()
    assert [int(v) for v in counts[1:]] == [c["pixels"] for c in stats["classes"]]

    rows = list(
        csv.DictReader(io.StringIO(server.get(f"/api/results/{rid}/export.csv?threshold=0.5").text))
    )
    assert [r["class"] for r in rows] == [c["name"] for c in CLASSES] + [
        "(unclassified)",
        "(region)",
    ]
    assert float(rows[-1]["area_mm2"]) == pytest.approx(stats["region_area_mm2"], rel=1e-5)

    listed = server.get("/api/results", params={"slide_id": slide}).json()
    assert rid in [r["id"] for r in listed]


def test_bad_requests_answer_400_with_a_message(env):
    server, slide, app = env["server"], env["slide"], env["app"]

    def bad(body) -> str:
        response = server.post("/api/inference", json=body)
        assert response.status_code == 400, response.text
        return response.json()["error"]

    assert "Unknown app" in bad({"app_id": "nope", "slide_id": slide})
    assert "Unknown slide" in bad({"app_id": app, "slide_id": "nope"})
    assert "region" in bad({"app_id": app, "slide_id": slide, "region": "everything"})
    assert "bbox" in bad({"app_id": app, "slide_id": slide, "region": {"bbox": [1, 2]}})
    assert "ROI" in bad({"app_id": app, "slide_id": slide, "region": {"roi_id": 999}})
    assert "outside" in _failed_error(server, app, slide, {"bbox": [99999, 99999, 10, 10]})

    damaged = env["data"] / "apps" / "damaged"
    shutil.copytree(env["data"] / "apps" / app, damaged)
    (damaged / "model.safetensors").write_bytes(b"\x00garbage")
    assert "damaged" in bad({"app_id": "damaged", "slide_id": slide})

    rid = start(server, app_id=app, slide_id=slide, region={"bbox": [0, 0, 500, 500]})
    wait(server, rid)
    for value in ("1.5", "-0.1", "abc", "nan"):
        for path in (
            f"/api/results/{rid}/stats",
            f"/results/{rid}_files/12/0_0.png",
            f"/api/results/{rid}/export.csv",
        ):
            response = server.get(path, params={"threshold": value})
            assert response.status_code == 400, (path, value)
            assert "threshold" in response.json()["error"]
    assert server.get(f"/results/{rid}_files/12/0_0.png?mode=x").status_code == 400
    assert server.get(f"/results/{rid}_files/99/0_0.png").status_code == 404
    assert server.get("/api/results/unknown").status_code == 404


def _failed_error(server, app, slide, region) -> str:
    response = server.post(
        "/api/inference", json={"app_id": app, "slide_id": slide, "region": region}
    )
    if response.status_code == 400:
        return response.json()["error"]
    result = wait(server, response.json()["result_id"])
    assert result["state"] == "failed"
    return result["error"]["message"]


def test_cancel_leaves_a_cancelled_result_and_events_tell(env):
    server, slide = env["server"], env["slide"]
    events: list[tuple[str, dict]] = []
    client = socketio.Client()
    for name in ("inference:progress", "inference:done", "job:error"):
        client.on(name, lambda data, name=name: events.append((name, data)))
    client.connect(server.url, transports=["websocket"])
    try:
        rid = start(server, app_id=env["slow_app"], slide_id=slide, region="whole")
        client.call("watch", {"result_id": rid})
        deadline = time.monotonic() + 120
        while server.get(f"/api/results/{rid}").json()["state"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        cancelled = server.post(f"/api/results/{rid}/cancel")
        assert cancelled.status_code == 200
        result = wait(server, rid)
        assert result["state"] == "cancelled" and result["progress"] < 1.0
        time.sleep(0.5)
    finally:
        client.disconnect()
    assert ("inference:done", {"result_id": rid, "state": "cancelled"}) in events
    assert any(n == "inference:progress" and d["result_id"] == rid for n, d in events)
    stats = server.get(f"/api/results/{rid}/stats")
    assert stats.status_code == 409 and "cancelled" in stats.json()["error"]
    assert server.get(f"/results/{rid}_files/12/0_0.png").status_code == 409
    assert server.get(f"/api/results/{rid}/export.geojson").status_code == 409


def test_several_slides_are_queued_and_results_deleted(env):
    server, slide = env["server"], env["slide"]
    body = {"app_id": env["app"], "slide_ids": [slide, slide], "region": {"bbox": [0, 0, 800, 800]}}
    response = server.post("/api/inference", json=body)
    assert response.status_code == 201
    ids = response.json()["result_ids"]
    assert len(ids) == 2
    first, second = (wait(server, rid) for rid in ids)
    assert first["state"] == second["state"] == "completed"
    a = server.get(f"/api/results/{ids[0]}/stats?threshold=0.5").json()
    b = server.get(f"/api/results/{ids[1]}/stats?threshold=0.5").json()
    assert a["classes"] == b["classes"]
    assert (
        server.delete(f"/api/results/{ids[0]}").status_code == 200
        if hasattr(server, "delete")
        else True
    )
    deleted = server.request("DELETE", f"/api/results/{ids[1]}")
    assert deleted.status_code == 200
    assert server.get(f"/api/results/{ids[1]}").status_code == 404
    assert not (env["data"] / "results" / ids[1]).exists()
    assert requests.get(f"{server.url}/results/{ids[1]}.dzi", timeout=10).status_code == 404


def test_roi_region_covers_the_drawn_polygon(env):
    server, slide = env["server"], env["slide"]
    triangle = [[400, 800], [1800, 800], [1100, 2200]]  # level-0 pixels
    edit = server.post(
        f"/api/slides/{slide}/annotations/edits", json={"tool": "roi", "points": triangle}
    )
    assert edit.status_code == 200, edit.text
    features = server.get(f"/api/slides/{slide}/annotations").json()["features"]
    roi_id = next(
        f["properties"]["roi_id"] for f in features if f["properties"].get("kind") == "roi"
    )
    rid = start(server, app_id=env["app"], slide_id=slide, region={"roi_id": roi_id})
    assert wait(server, rid)["state"] == "completed"
    stats = server.get(f"/api/results/{rid}/stats").json()
    triangle_mm2 = 0.5 * 1400 * 1400 * 0.499**2 / 1e6
    assert stats["region_area_mm2"] == pytest.approx(triangle_mm2, rel=0.05)
    top = 12
    col, row, x, y = tile_at((1100, 1200))  # inside the triangle
    assert png(server, rid, top, col, row)[y, x, 3] == 255
    col, row, x, y = tile_at((500, 2000))  # inside its bounding box, outside the triangle
    assert png(server, rid, top, col, row)[y, x, 3] == 0


def test_a_result_cut_by_a_server_stop_is_marked_failed(env):
    """Last in this module: it restarts the server."""
    server, slide = env["server"], env["slide"]
    rid = start(server, app_id=env["slow_app"], slide_id=slide, region="whole")
    deadline = time.monotonic() + 120
    while server.get(f"/api/results/{rid}").json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server.restart(kill=True)
    result = server.get(f"/api/results/{rid}").json()
    assert result["state"] == "failed" and "Interrupted" in result["error"]["message"]
    assert server.get(f"/api/results/{rid}/stats").status_code == 409
