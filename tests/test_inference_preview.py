"""Live preview: a running training run's current weights applied to a view, re-used per
run and slide, refreshed on demand; a finished run previews with its app."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import socketio
from PIL import Image

from tests.helpers import DEMO_DIR, ServerProcess
from tests.training_support import seed_labels

SETTINGS = {
    "architecture": "unet",
    "encoder": "resnet18",
    "encoder_weights": "none",
    "mpp": 4.0,
    "patch_size": 64,
    "batch_size": 2,
    "iterations": 5000,
    "checkpoint_interval": 100000,
    "tensorboard_image_interval": 100000,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("preview-data")
    ids = seed_labels(data)
    server = ServerProcess([DEMO_DIR], data).start()
    yield server, ids
    server.stop()


def _wait_running(server: ServerProcess, run_id: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = server.get(f"/api/training/{run_id}").json()
        if run["state"] == "running" and run["iteration"] >= 1:
            return
        assert run["state"] in ("queued", "running"), run
        time.sleep(0.3)
    raise AssertionError("the run did not start")


def _done(server: ServerProcess, rid: str) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        result = server.get(f"/api/results/{rid}").json()
        if result["state"] not in ("queued", "running"):
            return result
        time.sleep(0.2)
    raise AssertionError("the preview did not finish")


def test_preview_runs_current_weights_on_the_view(env):
    server, ids = env
    body = {"slides": [ids["slide_id"]], "classes": [ids["background"], ids["tissue"]]}
    started = server.post("/api/training", json=body | {"settings": SETTINGS})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    _wait_running(server, run_id)

    events: list[dict] = []
    client = socketio.Client()
    client.on("inference:done", lambda data: events.append(data))
    client.connect(server.url, transports=["websocket"])
    try:
        view = {"run_id": run_id, "slide_id": ids["slide_id"], "bbox": [400, 600, 1200, 1200]}
        first = server.post("/api/preview", json=view)
        assert first.status_code == 200, first.text
        rid = first.json()["result_id"]
        client.call("watch", {"result_id": rid})
        result = _done(server, rid)
        assert result["state"] == "completed" and result["preview"] is True
        assert [c["name"] for c in result["classes"]] == ["Background", "Tissue"]
        tile = server.get(f"/results/{rid}_files/12/3_4.png?threshold=0")
        assert tile.status_code == 200 and tile.headers["Cache-Control"] == "no-store"
        image = np.asarray(Image.open(io.BytesIO(tile.content)))
        assert image.shape[2] == 4 and (image[..., 3] == 255).all()  # inside the view

        again = server.post("/api/preview", json=view)  # the same result, recomputed
        assert again.json()["result_id"] == rid
        second = _done(server, rid)
        assert second["version"] == result["version"] + 1
        time.sleep(0.5)
        assert {"result_id": rid, "state": "completed"} in events
        assert rid not in [r["id"] for r in server.get("/api/results").json()]
        assert rid in [r["id"] for r in server.get("/api/results?preview=1").json()]
    finally:
        client.disconnect()
        server.post(f"/api/training/{run_id}/stop")

    deadline = time.monotonic() + 120
    while server.get(f"/api/training/{run_id}").json()["state"] not in ("stopped", "completed"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    after = server.post("/api/preview", json=view)  # a stopped run previews with its app
    assert after.status_code == 200 and after.json()["result_id"] == rid
    assert _done(server, rid)["state"] == "completed"

    unknown = server.post("/api/preview", json=view | {"run_id": "nope"})
    assert unknown.status_code == 400 and "Unknown training run" in unknown.json()["error"]
    bad_box = server.post("/api/preview", json=view | {"bbox": [0, 0, -1, 5]})
    assert bad_box.status_code == 400
