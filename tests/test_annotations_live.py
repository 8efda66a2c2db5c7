"""Live behaviour: acknowledged edits survive SIGKILL (labels and history), two Socket.IO
clients see each other's edits, and concurrent edits are serialised."""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio
from shapely.geometry import LineString, shape
from shapely.ops import unary_union

from tests.helpers import ServerProcess


def readable_slide(server: ServerProcess) -> dict:
    return next(s for s in server.get("/api/slides").json() if s["readable"])


def new_class(server: ServerProcess, name: str) -> int:
    response = server.post("/api/classes", json={"name": name})
    assert response.status_code == 201
    return response.json()["id"]


def test_acknowledged_edits_survive_sigkill(server_factory):
    server = server_factory()
    slide = readable_slide(server)
    base = f"/api/slides/{slide['id']}/annotations"
    tumor, stroma = new_class(server, "Tumor"), new_class(server, "Stroma")
    strokes = [[[100 + 150 * i, 200], [100 + 150 * i, 900]] for i in range(8)]
    answer = None
    for index, points in enumerate(strokes):
        body = {
            "tool": "brush",
            "class_id": (tumor, stroma)[index % 2],
            "points": points,
            "radius": 40,
        }
        answer = server.post(base + "/edits", json=body)
        assert answer.status_code == 200
    roi = server.post(
        base + "/edits", json={"tool": "roi", "points": [[0, 0], [500, 0], [500, 500]]}
    )
    assert roi.status_code == 200
    before = server.get(base).json()
    server.restart(kill=True)  # SIGKILL right after the last acknowledged answer

    after = server.get(base).json()
    assert after == before
    assert after["version"] == len(strokes) + 1
    expected = {
        cls: unary_union(
            [LineString(p).buffer(40) for i, p in enumerate(strokes) if i % 2 == k]
        ).area
        for k, cls in enumerate((tumor, stroma))
    }
    areas = {
        f["properties"]["class_id"]: f["properties"]["area_px"]
        for f in after["features"]
        if f["properties"]["kind"] == "label"
    }
    assert areas == pytest.approx(expected, rel=0.01)
    # The history survived too: undo the ROI, then the last stroke.
    assert server.post(base + "/undo").json()["removed"][0].startswith("roi-")
    undone = server.post(base + "/undo").json()
    last_class = (tumor, stroma)[(len(strokes) - 1) % 2]
    (total,) = undone["classes"]
    assert total["class_id"] == last_class and total["area_px"] < areas[last_class]
    assert undone["removed"] and undone["can_redo"] is True


def test_edit_by_one_client_reaches_the_other(demo_server):
    server = demo_server
    slide = readable_slide(server)
    tumor = new_class(server, "Live")
    start = server.get(f"/api/slides/{slide['id']}/annotations").json()["version"]
    received: dict[str, queue.Queue] = {"one": queue.Queue(), "two": queue.Queue()}
    clients = {}
    for name in received:
        client = socketio.Client()
        client.on("annotations:changed", received[name].put)
        client.connect(server.url, wait_timeout=10)
        ack = client.call("watch", {"slide_id": slide["id"]}, timeout=10)
        assert ack == {"joined": [f"slide:{slide['id']}"]}
        replay = received[name].get(timeout=10)  # the replay on joining: current version
        assert replay["slide_id"] == slide["id"] and replay["version"] == start
        clients[name] = client
    try:
        body = {
            "tool": "brush",
            "class_id": tumor,
            "points": [[300, 300], [700, 300]],
            "radius": 25,
            "client_id": "one",
        }
        answer = server.post(f"/api/slides/{slide['id']}/annotations/edits", json=body).json()
        event = received["two"].get(timeout=10)
        assert event["slide_id"] == slide["id"] and event["client_id"] == "one"
        assert event["version"] == answer["version"] == start + 1
        assert event["features"] == answer["features"] and event["removed"] == []
        assert event["classes"] == answer["classes"] and event["bounds"] == answer["bounds"]
        geometry = unary_union([shape(f["geometry"]) for f in event["features"]])
        assert geometry.area == pytest.approx(LineString(body["points"]).buffer(25).area, rel=0.01)
        # The sender gets the echo too (and can ignore it by client_id).
        assert received["one"].get(timeout=10)["client_id"] == "one"
        # Undo by the second client reaches the first.
        server.post(f"/api/slides/{slide['id']}/annotations/undo", json={"client_id": "two"})
        undo_event = received["one"].get(timeout=10)
        assert undo_event["client_id"] == "two" and undo_event["features"] == []
        assert sorted(undo_event["removed"]) == sorted(f["id"] for f in answer["features"])
        received["two"].get(timeout=10)
        # Deleting a class with labels tells the watchers to reload (features null).
        server.post(f"/api/slides/{slide['id']}/annotations/redo")
        received["two"].get(timeout=10)
        server.request("DELETE", f"/api/classes/{tumor}")
        deleted = received["two"].get(timeout=10)
        assert deleted["features"] is None and deleted["removed"] == [f"class-{tumor}"]
        assert deleted["version"] == start + 4
    finally:
        for client in clients.values():
            client.disconnect()


def test_concurrent_edits_are_serialised(demo_server):
    server = demo_server
    slide = readable_slide(server)
    empty = {"type": "FeatureCollection", "features": []}
    cleared = server.request("PUT", f"/api/slides/{slide['id']}/annotations", json=empty).json()
    classes = [new_class(server, f"Race{i}") for i in range(3)]
    url = f"{server.url}/api/slides/{slide['id']}/annotations/edits"
    bodies = [
        {
            "tool": "brush",
            "class_id": classes[i % 3],
            "points": [[100, 100 + 40 * i], [1500, 900 - 30 * i]],
            "radius": 60,
        }
        for i in range(12)
    ]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: requests.post(url, json=b, timeout=60), bodies))
    assert all(a.status_code == 200 for a in answers)
    versions = sorted(a.json()["version"] for a in answers)
    assert versions == list(range(cleared["version"] + 1, cleared["version"] + 13))
    collection = server.get(f"/api/slides/{slide['id']}/annotations").json()
    geoms = [shape(f["geometry"]) for f in collection["features"]]
    for i, a in enumerate(geoms):
        for b in geoms[i + 1 :]:
            assert a.intersection(b).area < 1.0  # one label per pixel despite the races
    total = sum(g.area for g in geoms)
    union = unary_union([LineString(b["points"]).buffer(60) for b in bodies]).area
    assert total == pytest.approx(union, rel=0.01)
