"""Classes API against a real server: create, rename, recolour, reorder, delete, broadcast."""

from __future__ import annotations

import queue
import uuid

import pytest
import socketio

from tests.helpers import ServerProcess


def unique(prefix: str) -> str:
    """A class name no other test in this module uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create(server: ServerProcess, name: str, **extra) -> dict:
    response = server.post("/api/classes", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def slide_id(server: ServerProcess) -> str:
    return next(s["id"] for s in server.get("/api/slides").json() if s["readable"])


def test_create_uses_the_palette_and_lists_in_order(demo_server):
    first = create(demo_server, unique("Tumor"))
    second = create(demo_server, unique("Stroma"), color="#00FF00")
    assert first["color"].startswith("#") and len(first["color"]) == 7
    assert second["color"] == "#00ff00"
    listed = demo_server.get("/api/classes").json()
    assert [c["position"] for c in listed] == list(range(len(listed)))
    ids = [c["id"] for c in listed]
    assert ids.index(first["id"]) < ids.index(second["id"])
    third = create(demo_server, unique("Fat"))
    assert third["color"] != first["color"]  # the palette gives distinct colours


@pytest.mark.parametrize(
    "body, message",
    [
        ({"name": ""}, "non-empty name"),
        ({"name": "   "}, "non-empty name"),
        ({}, "non-empty name"),
        ({"name": "x", "color": "red"}, "#rrggbb"),
        ({"name": "x", "color": "#12345"}, "#rrggbb"),
    ],
)
def test_create_refuses_bad_input(demo_server, body, message):
    response = demo_server.post("/api/classes", json=body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_duplicate_names_are_refused_case_insensitively(demo_server):
    name = unique("Necrosis")
    create(demo_server, name)
    response = demo_server.post("/api/classes", json={"name": name.upper()})
    assert response.status_code == 400 and "already exists" in response.json()["error"]


def test_rename_recolour_and_unknown(demo_server):
    cls = create(demo_server, unique("Old"))
    new_name = unique("New")
    response = demo_server.request(
        "PATCH", f"/api/classes/{cls['id']}", json={"name": new_name, "color": "#123456"}
    )
    assert response.status_code == 200
    assert response.json() | {} == cls | {"name": new_name, "color": "#123456"}
    other = create(demo_server, unique("Other"))
    clash = demo_server.request("PATCH", f"/api/classes/{other['id']}", json={"name": new_name})
    assert clash.status_code == 400
    missing = demo_server.request("PATCH", "/api/classes/999999", json={"name": "x"})
    assert missing.status_code == 404 and missing.json()["error"] == "Class not found"


def test_reorder(demo_server):
    for _ in range(2):
        create(demo_server, unique("Order"))
    ids = [c["id"] for c in demo_server.get("/api/classes").json()]
    reordered = list(reversed(ids))
    response = demo_server.post("/api/classes/order", json={"ids": reordered})
    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == reordered
    assert [c["position"] for c in response.json()] == list(range(len(ids)))
    assert [c["id"] for c in demo_server.get("/api/classes").json()] == reordered
    bad = demo_server.post("/api/classes/order", json={"ids": reordered[:-1]})
    assert bad.status_code == 400 and "every class" in bad.json()["error"]


def test_delete_takes_its_labels_from_every_slide(demo_server):
    keep = create(demo_server, unique("Keep"))
    gone = create(demo_server, unique("Gone"))
    slide = slide_id(demo_server)
    base = f"/api/slides/{slide}/annotations"
    square = [[0, 0], [200, 0], [200, 200], [0, 200]]
    shifted = [[x + 300, y] for x, y in square]
    for cls, points in ((gone, square), (keep, shifted)):
        edit = {"tool": "polygon", "class_id": cls["id"], "points": points}
        assert demo_server.post(base + "/edits", json=edit).status_code == 200
    before = demo_server.get(base).json()["version"]
    response = demo_server.request("DELETE", f"/api/classes/{gone['id']}")
    assert response.json() == {"deleted": gone["id"]}
    after = demo_server.get(base).json()
    ids = {f["id"] for f in after["features"]}
    assert f"class-{gone['id']}" not in ids and f"class-{keep['id']}" in ids
    assert after["version"] == before + 1
    assert gone["id"] not in [c["id"] for c in demo_server.get("/api/classes").json()]
    listed = demo_server.get("/api/classes").json()
    assert [c["position"] for c in listed] == list(range(len(listed)))
    assert demo_server.request("DELETE", f"/api/classes/{gone['id']}").status_code == 404
    # Undo still works on the remaining labels (the deleted class is skipped).
    assert demo_server.post(base + "/undo").status_code == 200


def test_every_change_is_broadcast(demo_server):
    events: queue.Queue = queue.Queue()
    client = socketio.Client()
    client.on("classes:changed", events.put)
    client.connect(demo_server.url, wait_timeout=10)
    try:
        cls = create(demo_server, unique("Live"))
        listed = events.get(timeout=10)
        assert listed == demo_server.get("/api/classes").json()
        assert cls["id"] in [c["id"] for c in listed]
        demo_server.request("PATCH", f"/api/classes/{cls['id']}", json={"color": "#abcdef"})
        assert next(c for c in events.get(timeout=10) if c["id"] == cls["id"])["color"] == "#abcdef"
        demo_server.request("DELETE", f"/api/classes/{cls['id']}")
        assert cls["id"] not in [c["id"] for c in events.get(timeout=10)]
    finally:
        client.disconnect()
