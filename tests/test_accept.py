"""Accepting predictions as labels: areas, one undo step, redo, and refusals."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import socketio

from server.inference.thresholds import labels_of
from server.inference.tiler import Grid
from tests.al_support import apply, open_store, start_env
from tests.inference_support import CLASSES

RESULT_BOX = [600, 900, 1000, 800]
ACCEPT_BOX = [700, 1000, 600, 500]
OTHER = [[650, 950], [900, 950], [900, 1200], [650, 1200]]  # 250 × 250, 200 × 200 inside


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = start_env(tmp_path_factory.mktemp("accept-data"))
    env["result"] = apply(env, region={"bbox": RESULT_BOX})
    yield env
    env["server"].stop()


def annotations(env: dict) -> str:
    return f"/api/slides/{env['slide']}/annotations"


def areas(env: dict) -> dict[str, float]:
    """Labelled area per class name (classes without labels left out)."""
    summary = env["server"].get(annotations(env) + "/summary").json()
    return {c["name"]: c["area_px"] for c in summary["classes"] if c["area_px"]}


def accept(env: dict, expect: int = 200, **body) -> dict:
    response = env["server"].post(f"/api/results/{env['result']['id']}/accept", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def expected_areas(env: dict, bbox: list[float], threshold: float) -> dict[str, float]:
    """Level-0 px² per class: each result pixel's class, weighted by its overlap with bbox."""
    store = open_store(env, env["result"])
    grid = Grid.from_dict(store.meta["grid"])
    probs = store.read(0, 0, 0, grid.width, grid.height)
    labels = labels_of(probs, threshold)
    x, y, w, h = bbox

    def weights(origin: float, count: int, lo: float, hi: float) -> np.ndarray:
        left = origin + np.arange(count) * grid.scale
        return np.clip(np.minimum(left + grid.scale, hi) - np.maximum(left, lo), 0, None)

    wx = weights(grid.x0, grid.width, x, x + w)
    wy = weights(grid.y0, grid.height, y, y + h)
    area = wy[:, None] * wx[None, :]
    return {c["name"]: float(area[labels == i + 1].sum()) for i, c in enumerate(CLASSES)}


def test_accept_replaces_labels_in_one_undoable_step(env):
    server = env["server"]
    other = server.post("/api/classes", json={"name": "Other"}).json()
    stroma = server.post("/api/classes", json={"name": "stroma"}).json()  # matched by name
    edit = server.post(
        annotations(env) + "/edits",
        json={"tool": "polygon", "points": OTHER, "class_id": other["id"]},
    )
    assert edit.status_code == 200, edit.text
    before = areas(env)
    assert before["Other"] == pytest.approx(250 * 250)

    threshold = 0.6
    events: queue.Queue = queue.Queue()
    watcher = socketio.Client()  # another browser on the slide
    watcher.on("annotations:changed", events.put)
    watcher.connect(server.url, wait_timeout=10)
    try:
        watcher.call("watch", {"slide_id": env["slide"]}, timeout=10)
        events.get(timeout=10)  # the replay on joining
        answer = accept(env, region={"bbox": ACCEPT_BOX}, threshold=threshold, client_id="me")
        event = events.get(timeout=10)
    finally:
        watcher.disconnect()
    assert event["client_id"] == "me" and event["version"] == answer["version"]
    assert event["removed"] == answer["removed"] and event["classes"] == answer["classes"]
    assert answer["can_undo"] is True and answer["features"] and answer["removed"]
    expected = expected_areas(env, ACCEPT_BOX, threshold)
    accepted = {c["name"]: c for c in answer["accepted"]["classes"]}
    assert accepted["Stroma"]["id"] == stroma["id"]  # the existing class, by name
    after = areas(env)
    region = ACCEPT_BOX[2] * ACCEPT_BOX[3]
    for name, area in expected.items():
        if area == 0:
            assert name not in accepted and name not in after
            continue
        label_name = "stroma" if name == "Stroma" else name
        assert accepted[name]["area_px"] == pytest.approx(area, abs=0.005 * region)
        assert after[label_name] == pytest.approx(area, abs=0.005 * region)
        assert accepted[name]["area_um2"] == pytest.approx(area * 0.499**2, rel=0.01)
    assert sum(expected.values()) < 0.995 * region  # some pixels stay below the threshold
    assert after["Other"] == pytest.approx(250 * 250 - 200 * 200)  # replaced inside only

    undone = server.post(annotations(env) + "/undo").json()
    assert undone["can_redo"] is True
    assert areas(env) == pytest.approx(before)  # one undo step restores everything
    server.post(annotations(env) + "/redo")
    assert areas(env) == pytest.approx(after)


def test_accept_in_an_roi_at_threshold_zero_labels_all_of_it(env):
    server = env["server"]
    triangle = [[800, 1100], [1400, 1150], [1000, 1600]]
    roi = server.post(annotations(env) + "/edits", json={"tool": "roi", "points": triangle})
    roi_id = int(roi.json()["features"][0]["id"].split("-")[1])
    answer = accept(env, region={"roi_id": roi_id}, threshold=0)
    total = sum(c["area_px"] for c in answer["accepted"]["classes"])
    x = np.array(triangle, dtype=float)
    (ax, ay), (bx, by) = x[1] - x[0], x[2] - x[0]
    area = 0.5 * abs(ax * by - ay * bx)
    assert total == pytest.approx(area, rel=1e-6)


def test_bad_regions_and_unfinished_results_are_refused(env):
    for body in (
        {},
        {"region": {}},
        {"region": {"bbox": [1, 2]}},
        {"region": {"bbox": [0, 0, -5, 5]}},
        {"region": {"bbox": [0, 0, "a", 5]}},
        {"region": {"roi_id": 9999}},
        {"region": {"bbox": [99999, 99999, 10, 10]}},  # does not overlap the result
        {"region": {"bbox": ACCEPT_BOX}, "threshold": 2},
        {"region": {"bbox": ACCEPT_BOX}, "threshold": "high"},
    ):
        assert accept(env, expect=400, **body)["error"]
    server = env["server"]
    response = server.post(
        "/api/inference",
        json={"app_id": env["app"], "slide_id": env["slide"], "region": {"bbox": [1, 1, 50, 50]}},
    )
    rid = response.json()["result_id"]
    refused = server.post(f"/api/results/{rid}/accept", json={"region": {"bbox": [1, 1, 20, 20]}})
    assert refused.status_code == 409, refused.text  # queued or running: not completed
    # A bbox far larger than the slide is clipped to the result (the demo slide is too
    # small to reach the 413 limits).
    whole = accept(env, region={"bbox": [-(10**6), -(10**6), 10**7, 10**7]}, threshold=0.5)
    assert whole["accepted"]["classes"]
