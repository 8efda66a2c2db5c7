"""Bad input answers 400/404/413 with a message, never 500 (issue 8, items 7 and 10).

GeoJSON imports with over-long class names, unusable colours, too many classes or
features; ids beyond 64 bits; coordinates like ±1e308, NaN or integers no float holds;
settings and app files with such numbers; and a self-crossing polygon, which an import
repairs exactly as the polygon tool does.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from shapely.geometry import shape
from shapely.ops import unary_union

from tests.helpers import DEMO_DIR, ServerProcess, slide_id_by_name
from tests.inference_support import app_config, make_app

SLIDE = "CMU-1-Small-Region.svs"
HUGE = 99999999999999999999999  # beyond 64 bits
BOWTIE = [[0, 0], [1000, 1000], [1000, 0], [0, 1000]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("bad-input-data")
    app_id = make_app(data)
    srv = ServerProcess([DEMO_DIR], data).start()
    srv.app_id = app_id
    srv.slide = slide_id_by_name(srv, SLIDE)
    yield srv
    srv.stop()


def feature(coords, name: str | None = "Tumor", color=None, kind: str = "Polygon") -> dict:
    classification = {"name": name} if color is None else {"name": name, "color": color}
    return {
        "type": "Feature",
        "geometry": {"type": kind, "coordinates": coords},
        "properties": {"classification": classification},
    }


def square(x: float, y: float, size: float = 100) -> list:
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


def put(server: ServerProcess, *features, raw: str | None = None):
    doc = {"type": "FeatureCollection", "features": list(features)}
    data = raw if raw is not None else json.dumps(doc)
    headers = {"Content-Type": "application/json"}
    return server.request(
        "PUT", f"/api/slides/{server.slide}/annotations", data=data, headers=headers
    )


def edit(server: ServerProcess, **body):
    return server.post(f"/api/slides/{server.slide}/annotations/edits", json=body)


def new_class(server: ServerProcess, name: str) -> int:
    response = server.post("/api/classes", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def error(response, status: int) -> str:
    """The error message of a JSON error answer with `status`."""
    assert response.status_code == status, response.text
    return response.json()["error"]


def class_names(server: ServerProcess) -> set[str]:
    return {c["name"] for c in server.get("/api/classes").json()}


# ---- GeoJSON imports -------------------------------------------------------------------


def test_import_refuses_an_over_long_class_name_and_keeps_the_labels(server):
    before = server.get(f"/api/slides/{server.slide}/annotations").json()["version"]
    message = error(put(server, feature(square(10, 10), "x" * 101)), 400)
    assert message == "Feature 1: class names are limited to 100 characters"
    assert server.get(f"/api/slides/{server.slide}/annotations").json()["version"] == before
    assert "x" * 101 not in class_names(server)


def test_import_gives_unusable_colours_a_palette_colour(server):
    colours = ["#zzzzzz", "red", [1.5, 2, 3], {"r": 1}, "#12345", "#ABCDEF", [255, 0, 16]]
    names = [f"Colour {i}" for i in range(len(colours))]
    features = [feature(square(i * 200, 0), f"Colour {i}", c) for i, c in enumerate(colours)]
    response = put(server, *features)
    assert response.status_code == 200, response.text
    by_name = {c["name"]: c["color"] for c in server.get("/api/classes").json()}
    assert all(re.fullmatch(r"#[0-9a-f]{6}", by_name[name]) for name in names)
    assert [by_name[names[5]], by_name[names[6]]] == ["#abcdef", "#ff0010"]  # usable: kept


def test_import_may_name_at_most_255_classes(server):
    features = [feature(square(i * 8, 0, 6), f"Many {i}") for i in range(256)]
    response = put(server, *features)
    assert error(response, 400) == "An import may name at most 255 classes"
    assert response.json()["hint"]
    assert not any(name.startswith("Many ") for name in class_names(server))


def test_import_is_refused_when_its_new_classes_do_not_fit(server_factory):
    srv = server_factory()
    srv.slide = slide_id_by_name(srv, SLIDE)
    for i in range(250):
        new_class(srv, f"Existing {i}")
    features = [feature(square(i * 8, 0, 6), f"New {i}") for i in range(10)]
    response = put(srv, *features)
    assert "At most 255 classes are supported" in error(response, 400)
    assert "Delete unused classes" in response.json()["hint"]
    assert len(class_names(srv)) == 250  # nothing was written
    assert srv.get(f"/api/slides/{srv.slide}/annotations").json()["features"] == []


def test_import_may_have_at_most_50000_features(server):
    response = put(server, raw=json.dumps({"type": "FeatureCollection", "features": [{}] * 50_001}))
    assert error(response, 413) == "An import may have at most 50,000 features, this one has 50,001"
    assert "Simplify" in response.json()["hint"]


@pytest.mark.parametrize(
    "coords",
    [
        square(-1e308, -1e308, 1e308),
        [[[0, 0], [1e308, 0], [1e308, 1e308], [0, 0]]],
        square(-2e9, 0, 10),
    ],
)
def test_import_refuses_coordinates_beyond_any_slide(server, coords):
    message = error(put(server, feature(coords)), 400)
    assert message == "Feature 1: Coordinates must lie within ±1,000,000,000 px"
    for literal in ("Infinity", "-Infinity"):  # JSON as Python writes it, parsed as such
        ring = f"[[[{literal}, 0], [100, 0], [100, 100], [{literal}, 0]]]"
        raw = json.dumps({"type": "FeatureCollection", "features": [feature([])]})
        message = error(
            put(server, raw=raw.replace('"coordinates": []', f'"coordinates": {ring}')), 400
        )
        assert message == "Feature 1: Coordinates must be finite numbers (no NaN or infinity)"


def test_a_self_crossing_polygon_is_repaired_alike_by_import_and_by_the_polygon_tool(server):
    cls = new_class(server, "Bowtie")
    drawn = edit(server, tool="polygon", class_id=cls, points=BOWTIE)
    assert drawn.status_code == 200, drawn.text
    by_edit = unary_union(
        [
            shape(f["geometry"])
            for f in drawn.json()["features"]
            if f["id"].startswith(f"label-{cls}-")
        ]
    )
    imported = put(server, feature([[*BOWTIE, BOWTIE[0]]], "Bowtie"))
    assert imported.status_code == 200, imported.text
    assert "skipped" not in imported.json()
    by_import = shape(
        next(f for f in imported.json()["features"] if f["id"] == f"class-{cls}")["geometry"]
    )
    # Two triangles of 250,000 px² each, whichever way the shape arrived.
    assert by_edit.area == pytest.approx(500_000, rel=1e-3)
    assert by_import.area == pytest.approx(by_edit.area, rel=1e-3)
    assert by_import.symmetric_difference(by_edit).area < 1


# ---- edits -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cls(server) -> int:
    return new_class(server, "Edited")


@pytest.mark.parametrize("tool", ["brush", "eraser", "polygon", "roi"])
@pytest.mark.parametrize(
    "points",
    [
        [[1e308, 1e308], [-1e308, 5], [5, 5]],
        [[10**400, 1], [2, 2], [3, 1]],
        [[3e9, 0], [0, 0], [0, 10]],
    ],
)
def test_edits_refuse_coordinates_beyond_any_slide(server, cls, tool, points):
    response = edit(server, tool=tool, points=points, radius=10, class_id=cls)
    assert error(response, 400) == "Coordinates must lie within ±1,000,000,000 px"


def test_a_radius_no_float_holds_is_refused(server, cls):
    response = edit(server, tool="brush", points=[[5, 5]], radius=10**400, class_id=cls)
    assert error(response, 400) == f"A radius of {10**400} px is larger than the slide (2967 px)"


# ---- ids beyond 64 bits ------------------------------------------------------------------


def test_ids_beyond_64_bits_are_unknown_ids(server):
    assert error(server.request("PATCH", f"/api/classes/{HUGE}", json={"name": "x"}), 404) == (
        "Class not found"
    )
    assert error(server.request("DELETE", f"/api/classes/{HUGE}"), 404) == "Class not found"
    response = server.request("DELETE", f"/api/slides/{server.slide}/rois/{HUGE}")
    assert error(response, 404) == f"ROI {HUGE} not found on this slide"
    response = edit(server, tool="brush", points=[[5, 5]], radius=5, class_id=HUGE)
    assert error(response, 400) == f"Unknown class {HUGE}"
    body = {"app_id": server.app_id, "slide_id": server.slide, "region": {"roi_id": HUGE}}
    assert "has no ROI" in error(server.post("/api/inference", json=body), 400)
    body = {"slides": [server.slide], "classes": [HUGE]}
    assert "Unknown class id" in error(server.post("/api/training", json=body), 400)


# ---- settings and app files with numbers no float holds --------------------------------


@pytest.mark.parametrize("field", ["iterations", "mpp", "batch_size", "learning_rate"])
def test_training_settings_with_huge_integers_are_field_errors(server, field):
    cls = [c["id"] for c in server.get("/api/classes").json()][:2]
    body = {"slides": [server.slide], "classes": cls, "settings": {field: 10**400}}
    response = server.post("/api/training", json=body)
    assert error(response, 400) == "Some settings are not valid"
    assert response.json()["fields"][field].startswith("must be at most")


def app_file(**changes) -> bytes:
    config = {"format": "slidelab-app", "version": 1, **app_config(), **changes}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("app.json", json.dumps(config))
        archive.writestr("model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    return out.getvalue()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"architecture": {}}, "unknown architecture {}"),
        ({"mpp": float("inf")}, "mpp must be a number from 0.01 to 1000"),
        ({"mpp": 10**400}, "mpp must be a number from 0.01 to 1000"),
        ({"patch_size": 1e308}, "patch_size must be a whole number of pixels"),
        ({"patch_size": 10**30}, "patch_size must be a number from 16 to 4096"),
        ({"normalization": {"mean": [float("nan")] * 3, "std": [1, 1, 1]}}, "finite numbers"),
        ({"name": "n" * 201}, "a name of 1-200 characters"),
    ],
)
def test_app_files_with_unusable_settings_are_refused(server, changes, message):
    files = {"file": ("bad.slidelab-app", app_file(**changes))}
    response = server.post("/api/apps/import", files=files)
    assert message in error(response, 400)
    assert error(response, 400).startswith("Not a valid slidelab app")
