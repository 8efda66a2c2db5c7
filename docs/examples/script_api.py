"""Script slidelab through its HTTP and Socket.IO API: label, train, apply, measure, export.

    python docs/examples/script_api.py --url http://127.0.0.1:5000 [--token T] [--out DIR]

Against the bundled demo slide (`make run`) it creates two classes, paints a brush stroke
over glass and a polygon over tissue, trains a tiny U-Net, follows the run over Socket.IO
until it completes, applies the new app to a box, prints the areas and saves the GeoJSON
export. Needs `requests` and `python-socketio[client]` (both in slidelab's dev extras).
docs/api.md explains every call; tests/test_api_example.py runs this script for real.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import requests
import socketio

SLIDE = "CMU-1-Small-Region.svs"
# Level-0 pixel coordinates on the demo slide: glass on the left, tissue in the middle.
GLASS_STROKE = [[150, 1400], [160, 1900], [150, 2400], [170, 2700]]
TISSUE_POLYGON = [[800, 1800], [1200, 1800], [1200, 2600], [800, 2600]]
APPLY_BOX = [0, 1500, 1500, 1000]  # x, y, width, height
# Tiny, so the demo finishes in a minute on a laptop CPU; real runs use the defaults.
SETTINGS = {"mpp": 4.0, "patch_size": 64, "batch_size": 2, "iterations": 12, "seed": 1}
FINISHED_RUN = ("completed", "stopped", "failed")
FINISHED_RESULT = ("completed", "failed", "cancelled")


class Api:
    """requests with the server's base URL, the token, and errors that say what went wrong."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request; raises with the server's `{error, hint}` on a 4xx/5xx answer."""
        response = self.http.request(method, self.url + path, timeout=120, **kwargs)
        if response.status_code >= 400:
            body = response.json()
            hint = f" ({body['hint']})" if body.get("hint") else ""
            raise SystemExit(f"{method} {path}: {response.status_code} {body['error']}{hint}")
        return response

    def json(self, method: str, path: str, **kwargs):
        """The JSON answer of one request."""
        return self.call(method, path, **kwargs).json()


class Watcher:
    """A Socket.IO client that follows one run or result until it is finished.

    python-socketio runs each event handler in its own thread, so events may be handled
    slightly out of order: the handlers only print and record, keyed by the watched id.
    """

    def __init__(self, url: str, token: str | None) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.done = threading.Event()
        self.target: tuple[str, str] = ("", "")
        self.final: dict = {}
        self.sio.on("training:history", self._history)
        self.sio.on("training:iteration", self._iteration)
        self.sio.on("training:state", self._state)
        self.sio.on("inference:progress", self._state)
        self.sio.on("job:error", lambda data: print("job error:", data["message"]))
        self.sio.connect(url, auth={"token": token} if token else None, wait_timeout=30)

    def _history(self, run: dict) -> None:
        print(f"watching run {run['run_id']}: {len(run['history'])} iterations so far")
        self._state(run)

    def _iteration(self, event: dict) -> None:
        for point in event["points"]:
            print(f"  iteration {point['iteration']:4d}  loss {point['loss']:.4f}")

    def _state(self, event: dict) -> None:
        key, ident = self.target
        if event.get(key) == ident and event["state"] in FINISHED_RUN + FINISHED_RESULT:
            self.final = event
            self.done.set()

    def wait(self, key: str, ident: str, timeout: float = 900) -> dict:
        """`watch {key: ident}` and wait until it has finished; its last state event."""
        self.done.clear()
        self.target = (key, ident)
        ack = self.sio.call("watch", {key: ident}, timeout=30)
        print(f"joined {ack['joined']}")
        if not self.done.wait(timeout):
            raise SystemExit(f"{key} {ident} did not finish within {timeout} s")
        self.sio.call("unwatch", {key: ident}, timeout=30)
        return self.final

    def close(self) -> None:
        """Disconnect."""
        self.sio.disconnect()


def find_or_create_class(api: Api, name: str, color: str) -> int:
    """The id of the class called `name`, created when missing."""
    for cls in api.json("GET", "/api/classes"):
        if cls["name"].lower() == name.lower():
            return cls["id"]
    return api.json("POST", "/api/classes", json={"name": name, "color": color})["id"]


def label(api: Api, slide_id: str, background: int, tissue: int) -> None:
    """A brush stroke of background over glass, a polygon of tissue; prints the areas."""
    edits = f"/api/slides/{slide_id}/annotations/edits"
    stroke = {"tool": "brush", "class_id": background, "points": GLASS_STROKE, "radius": 90}
    api.json("POST", edits, json=stroke)
    polygon = {"tool": "polygon", "class_id": tissue, "points": TISSUE_POLYGON}
    answer = api.json("POST", edits, json=polygon)
    print(f"annotations at version {answer['version']}")
    for row in api.json("GET", f"/api/slides/{slide_id}/annotations/summary")["classes"]:
        print(f"labelled {row['name']}: {row['area_px']:.0f} px²")


def train(api: Api, watcher: Watcher, slide_id: str, classes: list[int]) -> str:
    """Start a tiny run, follow it to the end; the id of the app it made."""
    body = {"slides": [slide_id], "classes": classes, "settings": SETTINGS}
    run = api.json("POST", "/api/training", json=body)
    print(f"run {run['run_id']} {run['state']}")
    final = watcher.wait("run_id", run["run_id"])
    if final["state"] != "completed":
        raise SystemExit(f"run ended {final['state']}: {final.get('error')}")
    run = api.json("GET", f"/api/training/{run['run_id']}")
    print(f"run {run['id']} completed after {run['iteration']} iterations, app {run['app_id']}")
    return run["app_id"]


def apply(api: Api, watcher: Watcher, app_id: str, slide_id: str) -> str:
    """Apply the app to APPLY_BOX and wait for the result; its id."""
    body = {"app_id": app_id, "slide_id": slide_id, "region": {"bbox": APPLY_BOX}}
    rid = api.json("POST", "/api/inference", json=body)["result_id"]
    final = watcher.wait("result_id", rid)
    if final["state"] != "completed":
        raise SystemExit(f"inference ended {final['state']}")
    print(f"result {rid} completed")
    return rid


def report(api: Api, rid: str, threshold: float, out: Path) -> None:
    """Print the areas at `threshold` and save the GeoJSON export into `out`."""
    stats = api.json("GET", f"/api/results/{rid}/stats", params={"threshold": threshold})
    print(f"threshold: {stats['threshold']}")
    for cls in stats["classes"]:
        print(f"area {cls['name']}: {cls['area_mm2']:.6f} mm² ({100 * cls['fraction']:.2f} %)")
    print(f"area (unclassified): {stats['unclassified_area_mm2']:.6f} mm²")
    print(f"area (region): {stats['region_area_mm2']:.6f} mm²")
    export = api.call("GET", f"/api/results/{rid}/export.geojson", params={"threshold": threshold})
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"result-{rid}.geojson"
    path.write_bytes(export.content)
    features = json.loads(export.content)["features"]
    print(f"saved {path} ({len(features)} features)")


def main() -> None:
    """Run the whole example against a server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--token", help="the access token, when the server has one")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to save the export")
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()

    api = Api(args.url, args.token)
    slide = next(s for s in api.json("GET", "/api/slides") if s["name"] == SLIDE)
    background = find_or_create_class(api, "Background", "#e8e8e8")
    tissue = find_or_create_class(api, "Tissue", "#c0307a")
    label(api, slide["id"], background, tissue)
    watcher = Watcher(api.url, args.token)
    try:
        app_id = train(api, watcher, slide["id"], [background, tissue])
        rid = apply(api, watcher, app_id, slide["id"])
    finally:
        watcher.close()
    print(f"result_id: {rid}")
    report(api, rid, args.threshold, args.out)


if __name__ == "__main__":
    main()
