"""docs/examples/script_api.py (the worked example of docs/api.md), run for real against a
demo server with an access token: its printed labels, run, stats and export are checked
against the server and the geometry."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import requests
import shapely
from shapely.geometry import LineString, Polygon, shape

from tests.helpers import REPO

EXAMPLE = REPO / "docs" / "examples" / "script_api.py"
TOKEN = "example-script-token"


def load_example():
    """The example as a module, for its constants (slide, shapes, box, settings)."""
    spec = importlib.util.spec_from_file_location("script_api", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def printed(pattern: str, text: str) -> list[tuple[str, ...]]:
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return [f if isinstance(f, tuple) else (f,) for f in found]


def matches_schema(doc: dict, path: str, method: str, body: object) -> None:
    """Assert that a 200 answer matches the response schema documented for it."""
    content = doc["paths"][path][method]["responses"]["200"]["content"]
    schema = content["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": doc["components"]})


def test_example_script_labels_trains_applies_and_exports(server_factory, tmp_path):
    example = load_example()
    server = server_factory(token=TOKEN)
    assert requests.get(f"{server.url}/api/slides", timeout=30).status_code == 401
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--url", server.url, "--token", TOKEN, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + server.log()[-3000:]
    text = done.stdout
    auth = {"Authorization": f"Bearer {TOKEN}"}
    doc = server.get("/api/openapi.json", headers=auth).json()

    # Labels: the polygon's exact area, the stroke's within 1 % (simplified round caps).
    labelled = {name: float(area) for name, area in printed(r"^labelled (\w+): (\d+) px²$", text)}
    assert labelled["Tissue"] == Polygon(example.TISSUE_POLYGON).area
    stroke = LineString(example.GLASS_STROKE).buffer(90).area
    assert abs(labelled["Background"] - stroke) < 0.01 * stroke

    # The run: every iteration seen exactly once (the history so far, then live events;
    # python-socketio handles each event in its own thread, so lines may swap places).
    run_id, iterations, app_id = printed(
        r"^run (\w+) completed after (\d+) iterations, app (\w+)$", text
    )[0]
    total = example.SETTINGS["iterations"]
    assert int(iterations) == total
    so_far = int(printed(r"^watching run \w+: (\d+) iterations so far$", text)[0][0])
    live = [int(n) for (n,) in printed(r"^  iteration +(\d+)  loss [\d.]+$", text)]
    assert sorted(live) == list(range(so_far + 1, total + 1))
    run = server.get(f"/api/training/{run_id}", headers=auth).json()
    assert (run["state"], run["iteration"], run["app_id"]) == ("completed", total, app_id)
    assert [p["iteration"] for p in run["history"]] == list(range(1, total + 1))
    matches_schema(doc, "/api/training/{run_id}", "get", run)

    # Stats: what the script printed is what the server says, and adds up to the box.
    rid = printed(r"^result_id: (\w+)$", text)[0][0]
    threshold = float(printed(r"^threshold: ([\d.]+)$", text)[0][0])
    stats = server.get(
        f"/api/results/{rid}/stats", params={"threshold": threshold}, headers=auth
    ).json()
    matches_schema(doc, "/api/results/{rid}/stats", "get", stats)
    matches_schema(
        doc, "/api/results/{rid}", "get", server.get(f"/api/results/{rid}", headers=auth).json()
    )
    areas = {
        name: float(a) for name, a, _ in printed(r"^area (\w+): ([\d.]+) mm² \(([\d.]+) %\)$", text)
    }
    assert areas == {c["name"]: round(c["area_mm2"], 6) for c in stats["classes"]}
    assert set(areas) == {"Background", "Tissue"}
    unclassified = float(printed(r"^area \(unclassified\): ([\d.]+) mm²$", text)[0][0])
    region = float(printed(r"^area \(region\): ([\d.]+) mm²$", text)[0][0])
    assert region == round(stats["region_area_mm2"], 6)
    assert math.isclose(sum(areas.values()) + unclassified, region, abs_tol=3e-6)
    slide = next(
        s for s in server.get("/api/slides", headers=auth).json() if s["name"] == example.SLIDE
    )
    app_mpp = example.SETTINGS["mpp"]
    scale = app_mpp / slide["mpp"]  # level-0 pixels per result pixel
    x, y, w, h = example.APPLY_BOX
    box_pixels = math.ceil(w / scale - 1e-6) * math.ceil(h / scale - 1e-6)
    assert stats["region_pixels"] == box_pixels
    assert math.isclose(stats["region_area_mm2"], box_pixels * app_mpp**2 / 1e6, rel_tol=1e-9)

    # The export: polygons of the two classes inside the box, with the printed areas.
    path, count = printed(r"^saved (.+) \((\d+) features\)$", text)[0]
    features = json.loads(Path(path).read_text())["features"]
    assert len(features) == int(count) > 0
    by_class: dict[str, list] = {}
    for feature in features:
        by_class.setdefault(feature["properties"]["classification"]["name"], []).append(
            shape(feature["geometry"])
        )
    assert set(by_class) <= set(areas)
    um2_per_px = slide["mpp"] ** 2
    for name, geoms in by_class.items():
        union = shapely.union_all(geoms)
        assert math.isclose(union.area * um2_per_px / 1e6, areas[name], rel_tol=1e-3)
        minx, miny, maxx, maxy = union.bounds
        assert minx >= x - 1e-6 and miny >= y - 1e-6
        assert maxx <= x + w + scale and maxy <= y + h + scale
