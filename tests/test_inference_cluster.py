"""`slidelab serve --ray`: a request for several slides runs on a Ray cluster (here a local
Ray the server's driver starts), is followed live like any result, and gives the numbers
of the server's own Apply on the same slide."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import psutil
import pytest
import socketio

from tests.helpers import slide_id_by_name
from tests.inference_support import serve_two_slides_on_ray, wait_for_result


@pytest.fixture
def ray_server(server_factory, tmp_path: Path):
    """A server started with `--ray` on two copies of the demo slide, and its app."""
    return serve_two_slides_on_ray(server_factory, tmp_path)


def ray_drivers(server) -> list[psutil.Process]:
    children = psutil.Process(server.proc.pid).children(recursive=True)
    return [p for p in children if "server.inference.ray_driver" in " ".join(p.cmdline())]


def test_several_slides_run_on_ray_live_and_match_the_server_s_own(ray_server):
    server, app_id = ray_server
    a, b = slide_id_by_name(server, "a.svs"), slide_id_by_name(server, "b.svs")
    here = server.post("/api/inference", json={"app_id": app_id, "slide_id": a}).json()
    assert wait_for_result(server, here["result_id"])["state"] == "completed"
    assert not ray_drivers(server)  # one slide runs in the server, as without --ray

    events: queue.Queue = queue.Queue()
    watcher = socketio.Client()
    watcher.on("inference:progress", events.put)
    watcher.connect(server.url, wait_timeout=10)
    try:
        body = {"app_id": app_id, "slide_ids": [a, b], "region": "tissue"}
        answer = server.post("/api/inference", json=body)
        assert answer.status_code == 201, answer.text
        ids = answer.json()["result_ids"]
        for rid in ids:
            watcher.call("watch", {"result_id": rid}, timeout=10)
        (driver,) = ray_drivers(server)
        results = [wait_for_result(server, rid, timeout=600) for rid in ids]
        time.sleep(0.5)  # the last events
    finally:
        watcher.disconnect()
    seen: dict[str, list[str]] = {rid: [] for rid in ids}
    while not events.empty():
        event = events.get()
        seen.setdefault(event["result_id"], []).append(event["state"])
    for rid in ids:
        assert seen[rid][-1] == "completed" and "running" in seen[rid], seen[rid]
    assert [r["slide_name"] for r in results] == ["a.svs", "b.svs"]

    mine = server.get(f"/api/results/{here['result_id']}/stats?threshold=0.5").json()
    for rid in ids:
        theirs = server.get(f"/api/results/{rid}/stats?threshold=0.5").json()
        assert theirs["classes"] == mine["classes"]
        assert theirs["region_area_mm2"] == mine["region_area_mm2"] > 0
        tile = server.get(f"/results/{rid}_files/9/0_0.png", params={"threshold": 0.5})
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"

    # A result cancelled while the cluster has it ends cancelled; the others still finish.
    body = {"app_id": app_id, "slide_ids": [a, b], "region": "whole"}
    first, second = server.post("/api/inference", json=body).json()["result_ids"]
    assert server.post(f"/api/results/{first}/cancel").status_code == 200
    deadline = time.monotonic() + 60
    while server.get(f"/api/results/{first}").json()["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert server.get(f"/api/results/{first}").json()["state"] == "cancelled"
    assert wait_for_result(server, second, timeout=600)["state"] == "completed"

    server.stop()
    psutil.wait_procs([driver], timeout=60)
    assert not driver.is_running()
