"""Helpers for the active-learning tests: a server with the test app, results and stores."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from server.inference.probstore import ProbStore
from server.inference.results import store_path
from tests.helpers import DEMO_DIR, ServerProcess, slide_id_by_name
from tests.inference_support import make_app

SLIDE = "CMU-1-Small-Region.svs"


def start_env(data: Path) -> dict:
    """A running server on the demo slides with the test app saved; stop it with env["server"]."""
    app_id = make_app(data)
    server = ServerProcess([DEMO_DIR], data).start()
    return {"server": server, "data": data, "app": app_id, "slide": slide_id_by_name(server, SLIDE)}


def apply(env: dict, region: object = None, timeout: float = 240) -> dict:
    """Apply the test app to the demo slide and wait for the completed result."""
    body = {"app_id": env["app"], "slide_id": env["slide"]}
    if region is not None:
        body["region"] = region
    response = env["server"].post("/api/inference", json=body)
    assert response.status_code == 201, response.text
    rid = response.json()["result_id"]
    deadline = time.monotonic() + timeout
    while (result := env["server"].get(f"/api/results/{rid}").json())["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, result
        time.sleep(0.2)
    assert result["state"] == "completed", result
    return result


def open_store(env: dict, result: dict) -> ProbStore:
    """The result's probability store, read straight from the data folder."""
    return ProbStore.open(store_path(env["data"], result["id"], result["version"]))


def reference_uncertainty(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u in 0..1, valid) of (C, h, w) uint8 probabilities, computed plainly in float64."""
    q = probs.astype(np.float64)
    total = q.sum(axis=0)
    valid = total > 0
    p = q / np.where(valid, total, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1)), 0.0)
    u = terms.sum(axis=0) / np.log(probs.shape[0])
    return np.where(valid, u, 0.0), valid
