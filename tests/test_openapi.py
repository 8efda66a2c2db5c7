"""GET /api/openapi.json: every route with exactly its methods, valid OpenAPI 3.1, and
response schemas and limits that a real server's answers bear out."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from openapi_spec_validator import validate

from server.api.schema import UNDOCUMENTED_ROUTES, flask_path
from tests.helpers import DEMO_DIR, REPO, slide_id_by_name

METHODS = ("get", "put", "post", "delete", "patch")
# Lists the Flask routes of an app built exactly as `slidelab serve` builds it.
ROUTES_SCRIPT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
from server.app import create_app
from server.config import Config
app, _ = create_app(Config(slide_roots=[sys.argv[1]], data_dir=sys.argv[2]))
rules = [[r.rule, sorted(r.methods - {"HEAD", "OPTIONS"})] for r in app.url_map.iter_rules()]
print(json.dumps(rules))
"""


@pytest.fixture(scope="module")
def doc(demo_server) -> dict:
    response = demo_server.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


@pytest.fixture(scope="module")
def flask_routes(tmp_path_factory) -> dict[str, set[str]]:
    """Flask rule -> methods (lower case), from a real app in a separate process."""
    data = tmp_path_factory.mktemp("routes-data")
    done = subprocess.run(
        [sys.executable, "-c", ROUTES_SCRIPT, str(DEMO_DIR), str(data)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    routes: dict[str, set[str]] = {}
    for rule, methods in json.loads(done.stdout.strip().splitlines()[-1]):
        routes.setdefault(rule, set()).update(m.lower() for m in methods)
    return routes


def documented(doc: dict) -> dict[str, set[str]]:
    return {path: {m for m in item if m in METHODS} for path, item in doc["paths"].items()}


def schema_of(doc: dict, path: str, method: str, status: str) -> dict:
    """The JSON schema of one documented answer, with the components it refers to."""
    response = doc["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


def check(doc: dict, path: str, method: str, response) -> None:
    """Assert that a real answer matches the schema documented for its status."""
    status = str(response.status_code)
    assert status in doc["paths"][path][method]["responses"], f"{method} {path}: {status}"
    jsonschema.validate(response.json(), schema_of(doc, path, method, status))


def test_every_route_is_documented_with_exactly_its_methods(doc, flask_routes):
    expected: dict[str, set[str]] = {}
    for rule, methods in flask_routes.items():
        if rule not in UNDOCUMENTED_ROUTES:
            expected.setdefault(flask_path(rule), set()).update(methods)
    assert documented(doc) == expected
    # The exclusions name real routes, each with its reason, and none under the API prefixes.
    assert set(UNDOCUMENTED_ROUTES) <= set(flask_routes)
    assert all(reason.strip() for reason in UNDOCUMENTED_ROUTES.values())
    assert not [r for r in UNDOCUMENTED_ROUTES if r.startswith(("/api/", "/slides/", "/results/"))]
    assert "/api/openapi.json" in doc["paths"] and "/tensorboard/" in doc["paths"]


def test_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1.")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema and its rules
    broken = json.loads(json.dumps(doc))
    del broken["paths"]["/api/classes/{class_id}"]["patch"]["parameters"]
    with pytest.raises(Exception, match="class_id"):
        validate(broken)  # the validator does check path parameters


def test_every_operation_has_summary_parameters_and_error_answers(doc):
    ids = []
    for path, item in doc["paths"].items():
        for method in set(item) & set(METHODS):
            op = item[method]
            ids.append(op["operationId"])
            assert op["summary"], (method, path)
            assert [s for s in op["responses"] if s.startswith("2")], (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= set(op["responses"]), (method, path)
            declared = set()
            for param in op.get("parameters", []):
                if "$ref" in param:
                    param = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
                if param["in"] == "path":
                    declared.add(param["name"])
            templated = {part.split("}")[0] for part in path.split("{")[1:]}
            assert declared == templated, (method, path)
    assert len(ids) == len(set(ids))
    events = doc["x-socketio"]
    assert {"watch", "unwatch"} == set(events["client_events"])
    assert {"training:iteration", "training:state", "inference:done", "job:error"} <= set(
        events["server_events"]
    )


def test_documented_schemas_match_real_answers(demo_server, doc):
    server = demo_server
    check(doc, "/api/health", "get", server.get("/api/health"))
    check(doc, "/api/slides", "get", server.get("/api/slides"))
    slide = slide_id_by_name(server, "CMU-1-Small-Region.svs")
    check(doc, "/api/slides/{slide_id}", "get", server.get(f"/api/slides/{slide}"))
    created = server.post("/api/classes", json={"name": "Stroma", "color": "#ff66cc"})
    assert created.status_code == 201
    check(doc, "/api/classes", "post", created)
    check(doc, "/api/classes", "post", server.post("/api/classes", json={"name": "Tumour"}))
    classes = server.get("/api/classes")
    assert [c["name"] for c in classes.json()] == ["Stroma", "Tumour"]
    check(doc, "/api/classes", "get", classes)

    edits = "/api/slides/{slide_id}/annotations/edits"
    stroke = {"tool": "brush", "class_id": created.json()["id"], "radius": 30}
    painted = server.post(
        f"/api/slides/{slide}/annotations/edits",
        json={**stroke, "points": [[200, 200], [400, 260]]},
    )
    assert painted.status_code == 200 and painted.json()["features"][0]["id"].startswith("label-")
    check(doc, edits, "post", painted)
    roi = {"tool": "roi", "points": [[0, 0], [600, 0], [600, 600], [0, 600]]}
    check(doc, edits, "post", server.post(f"/api/slides/{slide}/annotations/edits", json=roi))
    bad_tool = server.post(f"/api/slides/{slide}/annotations/edits", json={"tool": "spray"})
    assert bad_tool.status_code == 400 and set(bad_tool.json()) == {"error", "hint"}
    check(doc, edits, "post", bad_tool)
    check(doc, edits, "post", server.post("/api/slides/0000/annotations/edits", json=roi))

    base = f"/api/slides/{slide}/annotations"
    check(doc, "/api/slides/{slide_id}/annotations", "get", server.get(base))
    check(doc, "/api/slides/{slide_id}/annotations", "get", server.get(f"{base}?form=parts"))
    check(doc, "/api/slides/{slide_id}/annotations/summary", "get", server.get(f"{base}/summary"))
    exported = server.get(f"{base}/export.geojson")
    check(doc, "/api/slides/{slide_id}/annotations/export.geojson", "get", exported)
    check(doc, "/api/training/options", "get", server.get("/api/training/options"))
    check(doc, "/api/tensorboard", "get", server.get("/api/tensorboard"))
    for path in ("/api/apps", "/api/results", "/api/training"):
        check(doc, path, "get", server.get(path))
    check(doc, "/api/results/{rid}", "get", server.get("/api/results/nope"))

    with pytest.raises(jsonschema.ValidationError):  # the schemas are not vacuous
        jsonschema.validate({"name": "x"}, schema_of(doc, "/api/classes", "post", "201"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"hint": "x"}, schema_of(doc, edits, "post", "400"))


def schema(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


def test_documented_limits_are_the_servers(demo_server, doc):
    server = demo_server
    slide = slide_id_by_name(server, "CMU-1-Small-Region.svs")
    size = next(
        p["schema"]
        for p in doc["paths"]["/api/slides/{slide_id}/thumbnail"]["get"]["parameters"]
        if p.get("name") == "size"
    )
    for value, status in ((size["minimum"], 200), (size["maximum"], 200)):
        thumb = server.get(f"/api/slides/{slide}/thumbnail", params={"size": value})
        assert thumb.status_code == status
    for value in (size["minimum"] - 1, size["maximum"] + 1):
        assert (
            server.get(f"/api/slides/{slide}/thumbnail", params={"size": value}).status_code == 400
        )

    name = schema(doc, "ClassCreate")["properties"]["name"]["maxLength"]
    assert server.post("/api/classes", json={"name": "n" * (name + 1)}).status_code == 400
    assert server.post("/api/classes", json={"name": "n" * name}).status_code == 201
    class_id = server.post("/api/classes", json={"name": "Limits"}).json()["id"]

    brush = schema(doc, "EditRequest")["oneOf"][0]["properties"]
    too_many = [[10, 10 + i % 7] for i in range(brush["points"]["maxItems"] + 1)]
    edit = {"tool": "brush", "class_id": class_id, "radius": 5, "points": too_many}
    answer = server.post(f"/api/slides/{slide}/annotations/edits", json=edit)
    assert answer.status_code == 413 and answer.json()["hint"]

    settings = schema(doc, "TrainingSettings")["properties"]
    below, above = {}, {}
    for key, prop in settings.items():
        if prop.get("type") in ("integer", "number"):
            low = prop.get("minimum", prop.get("exclusiveMinimum"))
            below[key] = low - 1 if "minimum" in prop else low
            above[key] = prop["maximum"] + 1
    assert {"mpp", "patch_size", "batch_size", "learning_rate", "iterations"} <= set(below)
    for values in (below, above):
        body = {"slides": [slide], "settings": values}
        refused = server.post("/api/training", json=body)
        assert refused.status_code == 400
        assert set(refused.json()["fields"]) == set(values)
        check(doc, "/api/training", "post", refused)
