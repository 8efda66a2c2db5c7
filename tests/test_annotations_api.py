"""Annotation API against a real server: edits, areas, bad input, ROIs, undo/redo,
QuPath GeoJSON round trip and label-mask export."""

from __future__ import annotations

import io
import json
import math
import uuid

import numpy as np
import pytest
import tifffile
from PIL import Image
from shapely.geometry import LineString, MultiPolygon, Polygon, box, shape
from shapely.ops import unary_union

from tests.helpers import ServerProcess


@pytest.fixture
def slide(demo_server: ServerProcess) -> dict:
    """The demo slide, its annotations cleared."""
    info = next(s for s in demo_server.get("/api/slides").json() if s["readable"])
    empty = {"type": "FeatureCollection", "features": []}
    assert demo_server.request("PUT", annotations(info), json=empty).status_code == 200
    return info


def annotations(slide: dict) -> str:
    return f"/api/slides/{slide['id']}/annotations"


def new_class(server: ServerProcess, prefix: str = "Class") -> dict:
    response = server.post("/api/classes", json={"name": f"{prefix}-{uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201
    return response.json()


def edit(server: ServerProcess, slide: dict, expect: int = 200, **body) -> dict:
    response = server.post(annotations(slide) + "/edits", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def features(answer: dict) -> dict:
    return {f["id"]: f for f in answer["features"]}


def added(answer: dict, class_id: int):
    """The union of the label polygons of one class that an answer adds."""
    return unary_union(
        [
            shape(f["geometry"])
            for f in answer["features"]
            if f["properties"]["kind"] == "label" and f["properties"]["class_id"] == class_id
        ]
    )


def totals(answer: dict) -> dict:
    """class_id -> {class_id, name, color, area_px, area_um2} of the classes it changed."""
    return {c["class_id"]: c for c in answer["classes"]}


def class_geometry(server: ServerProcess, slide: dict, class_id: int):
    """One class's labels from the collection (default form: a feature per class)."""
    found = features(server.get(annotations(slide)).json()).get(f"class-{class_id}")
    return shape(found["geometry"]) if found else Polygon()


def rect(x0, y0, x1, y1) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_polygon_edit_answer_get_and_areas(demo_server, slide):
    tumor = new_class(demo_server, "Tumor")
    answer = edit(
        demo_server, slide, tool="polygon", class_id=tumor["id"], points=rect(100, 100, 500, 400)
    )
    mpp = slide["mpp"]
    # The answer is the change: the polygon, cut along the 256-px grid into 4 parts.
    assert len(answer["features"]) == 4 and answer["removed"] == []
    for feature in answer["features"]:
        cx, cy = feature["properties"]["cell"]
        assert feature["id"].startswith(f"label-{tumor['id']}-{cx}-{cy}-")
        assert box(cx * 256, cy * 256, cx * 256 + 256, cy * 256 + 256).contains(
            shape(feature["geometry"])
        )
        assert feature["properties"]["area_px"] == pytest.approx(shape(feature["geometry"]).area)
    assert added(answer, tumor["id"]).equals(box(100, 100, 500, 400))
    assert answer["classes"] == [
        {
            "class_id": tumor["id"],
            "name": tumor["name"],
            "color": tumor["color"],
            "area_px": 120000.0,
            "area_um2": pytest.approx(120000.0 * mpp * mpp),
        }
    ]
    assert answer["bounds"] == [100, 100, 500, 400]
    assert answer["can_undo"] is True and answer["can_redo"] is False
    collection = demo_server.get(annotations(slide)).json()
    assert collection["type"] == "FeatureCollection" and collection["version"] == answer["version"]
    feature = features(collection)[f"class-{tumor['id']}"]
    assert feature["properties"] == {
        "kind": "label",
        "class_id": tumor["id"],
        "name": tumor["name"],
        "color": tumor["color"],
        "area_px": 120000.0,
        "area_um2": pytest.approx(120000.0 * mpp * mpp),
    }
    assert shape(feature["geometry"]).area == pytest.approx(120000.0)
    # The parts form holds exactly the polygons the answers named, and the class totals.
    by_part = demo_server.get(annotations(slide) + "?form=parts").json()
    assert by_part["form"] == "parts" and by_part["version"] == answer["version"]
    assert by_part["features"] == answer["features"]
    assert by_part["classes"] == answer["classes"]
    bad = demo_server.get(annotations(slide) + "?form=nope")
    assert bad.status_code == 400 and "form" in bad.json()["error"]
    summary = demo_server.get(annotations(slide) + "/summary").json()
    row = next(c for c in summary["classes"] if c["class_id"] == tumor["id"])
    assert row["area_px"] == 120000.0 and row["area_um2"] == pytest.approx(120000 * mpp**2)
    assert summary["version"] == answer["version"] and summary["rois"] == 0


def test_brush_overwrites_other_class_and_eraser_removes_all(demo_server, slide):
    tumor, stroma = new_class(demo_server, "Tumor"), new_class(demo_server, "Stroma")
    edit(demo_server, slide, tool="polygon", class_id=tumor["id"], points=rect(200, 200, 800, 600))
    before = demo_server.get(annotations(slide) + "?form=parts").json()["features"]
    stroke = [[100, 400], [900, 400]]
    answer = edit(demo_server, slide, tool="brush", class_id=stroma["id"], points=stroke, radius=50)
    brush = LineString(stroke).buffer(50)
    # The brush (y 350..450) cut the tumour parts of grid row 1 (y 256..512): those ids go,
    # their remains come back; the parts of rows 0 and 2 are not in the answer.
    assert set(answer["removed"]) == {f["id"] for f in before if f["properties"]["cell"][1] == 1}
    assert {f["properties"]["cell"][1] for f in answer["features"]} == {1}
    assert added(answer, tumor["id"]).area == pytest.approx(
        box(200, 256, 800, 512).difference(brush).area, rel=0.01
    )
    assert added(answer, stroma["id"]).area == pytest.approx(brush.area, rel=0.01)
    tumor_geom = class_geometry(demo_server, slide, tumor["id"])
    stroma_geom = class_geometry(demo_server, slide, stroma["id"])
    assert tumor_geom.area == pytest.approx(
        box(200, 200, 800, 600).difference(brush).area, rel=0.01
    )
    assert stroma_geom.area == pytest.approx(brush.area, rel=0.01)
    assert tumor_geom.intersection(stroma_geom).area < 1.0
    assert totals(answer)[tumor["id"]]["area_px"] == pytest.approx(tumor_geom.area, rel=1e-4)
    assert totals(answer)[stroma["id"]]["area_px"] == pytest.approx(stroma_geom.area, rel=1e-4)
    # A dot (single point with a radius): the answer holds the dot, the total the class.
    dot = edit(
        demo_server, slide, tool="brush", class_id=stroma["id"], points=[[1500, 1500]], radius=10
    )
    assert len(dot["features"]) == 1 and dot["removed"] == []
    assert dot["features"][0]["properties"]["area_px"] == pytest.approx(math.pi * 100, rel=0.01)
    assert totals(dot)[stroma["id"]]["area_px"] == pytest.approx(
        brush.area + math.pi * 100, rel=0.01
    )
    held = {f["id"] for f in demo_server.get(annotations(slide) + "?form=parts").json()["features"]}
    erased = edit(demo_server, slide, tool="eraser", points=[[0, 0], [2000, 2900]], radius=2900)
    assert set(erased["removed"]) == held and erased["features"] == []
    assert {c: t["area_px"] for c, t in totals(erased).items()} == {
        tumor["id"]: 0.0,
        stroma["id"]: 0.0,
    }
    assert demo_server.get(annotations(slide)).json()["features"] == []


def test_coordinates_beyond_the_slide_are_clipped(demo_server, slide):
    cls = new_class(demo_server)
    width, height = slide["width"], slide["height"]
    answer = edit(
        demo_server,
        slide,
        tool="brush",
        class_id=cls["id"],
        points=[[width - 100, -500], [width + 500, height + 500]],
        radius=40,
    )
    geom = added(answer, cls["id"])
    minx, miny, maxx, maxy = geom.bounds
    assert minx >= width - 200 and miny >= 0 and maxx <= width and maxy <= height
    assert answer["bounds"] == pytest.approx(list(geom.bounds), abs=0.02)
    outside = edit(
        demo_server, slide, tool="brush", class_id=cls["id"], points=[[-900, -900]], radius=5
    )
    assert outside["features"] == [] and outside["version"] == answer["version"]
    assert outside["classes"] == [] and outside["bounds"] is None


def test_bad_input_is_refused_and_nothing_is_stored(demo_server, slide):
    cls = new_class(demo_server)
    version = demo_server.get(annotations(slide)).json()["version"]
    url = annotations(slide) + "/edits"
    line = [[10, 10], [20, 20]]
    cases = [
        ({"tool": "brush", "class_id": 999999, "points": line, "radius": 5}, 400, "Unknown class"),
        ({"tool": "brush", "points": line, "radius": 5}, 400, "class_id"),
        ({"tool": "spray", "class_id": cls["id"], "points": line}, 400, "Unknown tool"),
        ({"tool": "brush", "class_id": cls["id"], "points": line, "radius": 0}, 400, "positive"),
        ({"tool": "brush", "class_id": cls["id"], "points": line, "radius": -3}, 400, "positive"),
        ({"tool": "brush", "class_id": cls["id"], "points": line, "radius": 1e9}, 400, "larger"),
        ({"tool": "brush", "class_id": cls["id"], "points": line}, 400, "radius"),
        ({"tool": "brush", "class_id": cls["id"], "points": [], "radius": 5}, 400, "points"),
        ({"tool": "brush", "class_id": cls["id"], "points": [[1, "a"]], "radius": 5}, 400, "pair"),
        ({"tool": "polygon", "class_id": cls["id"], "points": line}, 400, "at least 3"),
        (
            {"tool": "polygon", "class_id": cls["id"], "points": [[0, 0], [5, 5], [9, 9]]},
            400,
            "area",
        ),
        ({"tool": "roi", "points": rect(-900, -900, -100, -100)}, 400, "outside the slide"),
        ({"tool": "eraser", "points": [[0, 0]] * 50_001, "radius": 5}, 413, "at most 50000"),
    ]
    for body, status, message in cases:
        response = demo_server.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"], (body, response.json())
    cid = cls["id"]
    raw = [
        f'{{"tool":"brush","class_id":{cid},"points":[[NaN,1]],"radius":5}}',
        f'{{"tool":"brush","class_id":{cid},"points":[[1e999,1]],"radius":5}}',
        f'{{"tool":"brush","class_id":{cid},"points":[[1,1]],"radius":NaN}}',
        "not json",
    ]
    for text in raw:
        response = demo_server.post(url, data=text, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and "error" in response.json(), text
    too_big = demo_server.post(url, data=b"[" + b"0," * 9_000_000 + b"0]")
    assert too_big.status_code == 413
    unknown = demo_server.post("/api/slides/nope/annotations/edits", json=cases[0][0])
    assert unknown.status_code == 404 and unknown.json()["error"] == "Slide not found"
    assert demo_server.get("/api/slides/nope/annotations").status_code == 404
    after = demo_server.get(annotations(slide)).json()
    assert after["version"] == version and after["features"] == []


def test_rois_undo_and_redo(demo_server, slide):
    added = edit(demo_server, slide, tool="roi", points=rect(50, 50, 650, 450))
    (roi,) = added["features"]
    assert roi["id"].startswith("roi-") and roi["properties"]["kind"] == "roi"
    assert shape(roi["geometry"]).equals(box(50, 50, 650, 450))
    roi_id = roi["properties"]["roi_id"]
    removed = demo_server.request("DELETE", f"/api/slides/{slide['id']}/rois/{roi_id}")
    assert removed.status_code == 200 and removed.json()["removed"] == [roi["id"]]
    assert (
        demo_server.request("DELETE", f"/api/slides/{slide['id']}/rois/{roi_id}").status_code == 404
    )
    undone = demo_server.post(annotations(slide) + "/undo", json={"client_id": "me"}).json()
    assert features(undone)[roi["id"]]["geometry"] == roi["geometry"]
    assert undone["can_redo"] is True
    assert demo_server.get(annotations(slide) + "/summary").json()["rois"] == 1
    creation_undone = demo_server.post(annotations(slide) + "/undo").json()
    assert creation_undone["removed"] == [roi["id"]]
    redone = [demo_server.post(annotations(slide) + "/redo").json() for _ in range(2)]
    assert features(redone[0])[roi["id"]]["geometry"] == roi["geometry"]
    assert redone[1]["removed"] == [roi["id"]] and redone[1]["can_redo"] is False
    refused = demo_server.post(annotations(slide) + "/redo")
    assert refused.status_code == 409 and refused.json()["error"] == "Nothing to redo"
    assert demo_server.get(annotations(slide) + "/summary").json()["rois"] == 0


QUPATH_FILE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "0e1a4c6c-0000-4000-8000-000000000001",
            "geometry": {
                "type": "Polygon",
                "coordinates": [rect(100, 100, 600, 500) + [[100, 100]]],
            },
            "properties": {
                "objectType": "annotation",
                "classification": {"name": "Tumor", "color": [200, 0, 0]},
            },
        },
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    rect(1000, 1000, 1400, 1400) + [[1000, 1000]],
                    rect(1100, 1100, 1200, 1200) + [[1100, 1100]],
                ],
            },
            "properties": {
                "objectType": "annotation",
                "classification": {"name": "QuPathNecrosis", "colorRGB": -16744448},
            },
        },
        {
            "type": "Feature",
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": [
                    [rect(700, 100, 800, 200) + [[700, 100]]],
                    [rect(2000, 2500, 2400, 3100) + [[2000, 2500]]],  # crosses the slide edge
                ],
            },
            "properties": {
                "objectType": "annotation",
                "classification": {"name": "Tumor", "color": [200, 0, 0]},
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [rect(0, 0, 900, 900) + [[0, 0]]]},
            "properties": {"objectType": "annotation", "classification": {"name": "ROI"}},
        },
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [rect(1500, 300, 1700, 500) + [[1500, 300]]],
            },
            "properties": {
                "objectType": "annotation",
                "classification": {"names": ["Tumor", "Positive"], "color": [255, 128, 0]},
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [5, 5]},
            "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}},
        },
    ],
}


def test_qupath_geojson_round_trip(demo_server, slide, tmp_path):
    path = tmp_path / "qupath-export.geojson"
    path.write_text(json.dumps(QUPATH_FILE))
    width, height = slide["width"], slide["height"]
    imported = demo_server.request(
        "PUT",
        annotations(slide),
        data=path.read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["type"] == "FeatureCollection" and body["can_undo"] is True
    assert len(body["skipped"]) == 1 and "feature 6" in body["skipped"][0]
    classes = {c["name"].lower(): c for c in demo_server.get("/api/classes").json()}
    necrosis = classes["qupathnecrosis"]
    assert classes["tumor: positive"]["color"] == "#ff8000"  # QuPath's derived class
    assert necrosis["color"] == "#008000"  # colorRGB -16744448 = 0xFF008000
    tumor = classes["tumor"]
    got = features(body)
    expected_tumor = MultiPolygon(
        [box(100, 100, 600, 500), box(700, 100, 800, 200), box(2000, 2500, width, height)]
    )
    assert shape(got[f"class-{tumor['id']}"]["geometry"]).area == pytest.approx(expected_tumor.area)
    assert got[f"class-{necrosis['id']}"]["properties"]["area_px"] == pytest.approx(400**2 - 100**2)
    (roi,) = [f for f in body["features"] if f["properties"]["kind"] == "roi"]
    assert shape(roi["geometry"]).equals(box(0, 0, 900, 900))

    exported = demo_server.get(annotations(slide) + "/export.geojson")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    doc = exported.json()
    by_name = {f["properties"]["classification"]["name"]: f for f in doc["features"]}
    assert set(by_name) >= {tumor["name"], necrosis["name"], "ROI"}
    assert by_name[tumor["name"]]["properties"]["objectType"] == "annotation"
    assert by_name[tumor["name"]]["properties"]["classification"]["color"] == [
        int(tumor["color"][i : i + 2], 16) for i in (1, 3, 5)
    ]
    exported_tumor = shape(by_name[tumor["name"]]["geometry"])
    assert exported_tumor.is_valid and exported_tumor.symmetric_difference(expected_tumor).area < 1
    holed = shape(by_name[necrosis["name"]]["geometry"])
    assert isinstance(holed, Polygon) and len(holed.interiors) == 1
    assert by_name["ROI"]["properties"]["kind"] == "roi"

    # Round trip: clear, import the export, same areas per class and same ROI.
    before = {
        c["class_id"]: c["area_px"]
        for c in demo_server.get(annotations(slide) + "/summary").json()["classes"]
    }
    demo_server.request(
        "PUT", annotations(slide), json={"type": "FeatureCollection", "features": []}
    )
    again = demo_server.request("PUT", annotations(slide), json=doc)
    assert again.status_code == 200 and "skipped" not in again.json()
    after = {
        c["class_id"]: c["area_px"]
        for c in demo_server.get(annotations(slide) + "/summary").json()["classes"]
    }
    assert after == pytest.approx(before)
    assert demo_server.get(annotations(slide) + "/summary").json()["rois"] == 1


def test_import_refuses_what_is_not_geojson(demo_server, slide):
    for doc in (
        {"type": "Nope"},
        [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "x"}}],
    ):
        response = demo_server.request("PUT", annotations(slide), json=doc)
        assert response.status_code == 400, response.text
        assert "error" in response.json()


def test_label_mask_png_and_tiff(demo_server, slide):
    first, second = new_class(demo_server, "MaskA"), new_class(demo_server, "MaskB")
    edit(demo_server, slide, tool="polygon", class_id=first["id"], points=rect(100, 100, 500, 300))
    edit(demo_server, slide, tool="polygon", class_id=second["id"], points=rect(400, 200, 800, 600))
    ordered = [c["id"] for c in demo_server.get("/api/classes").json()]
    value_a, value_b = ordered.index(first["id"]) + 1, ordered.index(second["id"]) + 1
    width, height = slide["width"], slide["height"]
    responses = {
        fmt: demo_server.get(annotations(slide) + f"/mask.{fmt}?downsample=4")
        for fmt in ("png", "tiff")
    }
    png = np.asarray(Image.open(io.BytesIO(responses["png"].content)))
    tiff = tifffile.imread(io.BytesIO(responses["tiff"].content))
    for response, mask in ((responses["png"], png), (responses["tiff"], tiff)):
        assert response.status_code == 200
        assert mask.dtype == np.uint8 and mask.shape == (
            math.ceil(height / 4),
            math.ceil(width / 4),
        )
        legend = json.loads(response.headers["X-Slidelab-Legend"])
        assert (
            legend[str(value_a)]["id"] == first["id"]
            and legend[str(value_b)]["name"] == second["name"]
        )
        # A: x 25..125, y 25..75 minus B's overlap; B: x 100..200, y 50..150 (mask pixels).
        assert (mask[25:50, 25:125] == value_a).all() and (mask[50:75, 25:100] == value_a).all()
        assert (mask[50:150, 100:200] == value_b).all()
        assert np.count_nonzero(mask == value_a) == 100 * 50 - 25 * 25
        assert np.count_nonzero(mask == value_b) == 100 * 100
        assert np.count_nonzero(mask) == 100 * 50 - 25 * 25 + 100 * 100
    # Areas: mask pixel counts × downsample² equal the stored pixel areas (rectangles on the grid).
    summary = {
        c["class_id"]: c for c in demo_server.get(annotations(slide) + "/summary").json()["classes"]
    }
    assert summary[first["id"]]["area_px"] == np.count_nonzero(png == value_a) * 16
    assert summary[second["id"]]["area_um2"] == pytest.approx(
        np.count_nonzero(png == value_b) * 16 * slide["mpp"] ** 2
    )
    for bad in ("0", "2000", "x"):
        response = demo_server.get(annotations(slide) + f"/mask.png?downsample={bad}")
        assert response.status_code == 400 and "downsample" in response.json()["error"]
