"""Benchmark: the server's peak RSS while the largest accepted requests run, against idle.

One real slidelab server serves the demo slide and a synthetic 92,160 × 92,160 px slide
(flat JPEG tiles, made in a temporary folder). Its RSS is polled every 10 ms in a thread
(psutil, with its children) and its kernel peak (VmHWM, reset before each case) is read
after each one. Cases, each the largest (or near the largest) its limits accept:

- edits: a 50,000-point scrubbing stroke; a grid of thin strokes just under the crossing
  limit; a polygon just under the crossing limit; a 5,000-vertex polygon over 65,536
  grid cells (the cell limit) on the big slide;
- a 15 MiB GeoJSON import covering ~130,000 cells (the import cell limit) on the big
  slide, with 600 detailed polygons;
- exports: the label mask (PNG and TIFF) at the largest size (100 Mpx) and the GeoJSON
  of the big slide's labels; the GeoJSON, label TIFF and CSV of an inference result;
- training: a run of a few iterations on the demo slide with the largest batch whose
  estimate fits --train-budget-gib (the real limit is the machine's available memory,
  too much to fill on a shared machine);
- inference: an app applied to the whole demo slide at 1 µm/px.

Prints each peak as a RATIO to the idle RSS, then over-limit requests with their status
and answer time (they must be 413/400 within a second or so, and cost no memory).

Run: `.venv/bin/python tests/benchmarks/bench_limits.py [--train-budget-gib 3]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import requests
from shapely.geometry import mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.annotations import geometry  # noqa: E402
from server.training import memory  # noqa: E402
from server.training import settings as training_settings  # noqa: E402
from tests.helpers import DEMO_DIR, ServerProcess, scrub, slide_id_by_name  # noqa: E402
from tests.inference_support import make_app  # noqa: E402
from tests.training_support import tissue_and_background  # noqa: E402

BIG_SIDE = 92_160  # 360 × 360 grid cells
BIG_NAME = "big-flat.tif"
DEMO = (2220, 2967)
MiB = 1 << 20


# ---- the server's memory ------------------------------------------------------------------


class RssWatch:
    """Peak RSS of a process (and its children) while a function runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def rss(self) -> int:
        """Current RSS of the process and its children, bytes."""
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return total

    def idle(self, seconds: float = 2.0) -> int:
        """Median RSS over a quiet moment."""
        samples = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            samples.append(self.rss())
            time.sleep(0.05)
        return int(np.median(samples))

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def measure(self, fn: Callable[[], object]) -> tuple[object, int, float]:
        """(fn's result, peak RSS in bytes, seconds)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # resets VmHWM
        peak = [self.rss()]
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], self.rss())
                time.sleep(0.01)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        start = time.perf_counter()
        try:
            result = fn()
        finally:
            elapsed = time.perf_counter() - start
            done.set()
            thread.join()
        return result, max(peak[0], self._status("VmHWM")), elapsed


# ---- inputs --------------------------------------------------------------------------------


def make_flat_slide(path: Path, size: int, tile: int = 1024, mpp: float = 0.25) -> None:
    """A pyramidal JPEG-tiled TIFF of size × size px whose tiles are all one encoded tile."""
    import imagecodecs
    import tifffile

    rgb = np.empty((tile, tile, 3), np.uint8)
    rgb[:] = (232, 200, 220)
    data = imagecodecs.jpeg_encode(rgb, level=60)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        width = height = size
        step = 1
        while True:
            count = -(-width // tile) * -(-height // tile)
            res = 1e4 / (mpp * step)
            tif.write(
                (data for _ in range(count)), shape=(height, width, 3), dtype="uint8",
                tile=(tile, tile), compression="jpeg", photometric="rgb",
                resolution=(res, res), resolutionunit="CENTIMETER",
                subfiletype=0 if step == 1 else 1,
            )  # fmt: skip
            if max(width, height) <= tile:
                break
            width, height, step = -(-width // 2), -(-height // 2), step * 2


def crossing_grid(radius: float) -> np.ndarray:
    """Thin strokes criss-crossing the demo slide, as many as the crossing limit accepts."""
    best = None
    for lines in range(4, 400, 2):
        ys = np.linspace(50, DEMO[1] - 50, lines)
        xs = np.linspace(50, DEMO[0] - 50, lines)
        points = []
        for i, y in enumerate(ys):
            points += [[0, y], [DEMO[0], y]] if i % 2 == 0 else [[DEMO[0], y], [0, y]]
        for i, x in enumerate(xs):
            points += [[x, 0], [x, DEMO[1]]] if i % 2 == 0 else [[x, DEMO[1]], [x, 0]]
        points = np.asarray(points, float)
        work = geometry.stroke_work(geometry.stroke_lines(points, radius, DEMO), radius, DEMO)
        if work.crossings > geometry.MAX_CROSSINGS:
            break
        best = points
    return best


def crossing_polygon() -> np.ndarray:
    """Random vertices over the demo slide, as many as the crossing limit accepts."""
    rng = np.random.default_rng(5)
    best = None
    for n in range(50, 2000, 10):
        points = rng.uniform([0, 0], DEMO, (n, 2))
        if geometry.polygon_work(points, DEMO).crossings > geometry.MAX_CROSSINGS:
            break
        best = points
    return best


def wobbly_rect(x0: float, y0: float, w: float, h: float, n: int) -> np.ndarray:
    """n vertices around a rectangle (inside it), its edges wavy by up to 0.4 %."""
    t = np.linspace(0, 4, n, endpoint=False)
    edge, f = np.floor(t).astype(int), t % 1
    x = np.select([edge == 0, edge == 1, edge == 2], [f, 1 - 0 * f, 1 - f], 0 * f)
    y = np.select([edge == 0, edge == 1, edge == 2], [0 * f, f, 1 - 0 * f], 1 - f)
    wobble = 0.002 * (1 + np.sin(np.pi * 40 * t))
    x = np.clip(np.where(edge % 2 == 1, np.abs(x - wobble), x), 0, 1)
    y = np.clip(np.where(edge % 2 == 0, np.abs(y - wobble), y), 0, 1)
    return np.stack([x0 + w * x, y0 + h * y], 1)


def circle(cx: float, cy: float, r: float, n: int) -> list:
    """A closed GeoJSON ring of n vertices."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.round(np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1), 2).tolist()
    return ring + ring[:1]


def feature(rings: list, name: str, color: list[int]) -> dict:
    """A QuPath-style annotation Feature."""
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": rings},
        "properties": {"classification": {"name": name, "color": color}},
    }


def big_import() -> dict:
    """~14 MiB of GeoJSON: two rectangles of 64,800 cells each, 600 detailed circles."""
    half = 256 * 180
    features = []
    for i, x0 in enumerate((0, half)):
        rect = wobbly_rect(x0 + 10, 10, half - 20, BIG_SIDE - 20, 4000)
        ring = np.round(rect, 2).tolist()
        features.append(feature([ring + ring[:1]], f"Region {i}", [200, 60 * i, 80]))
    rng = np.random.default_rng(6)
    for k in range(600):
        cx, cy = rng.uniform(2000, BIG_SIDE - 2000, 2)
        features.append(feature([circle(cx, cy, 400, 1100)], f"Detail {k % 3}", [40, 80, 200]))
    return {"type": "FeatureCollection", "features": features}


def demo_labels() -> dict:
    """Tissue and background of the demo slide, from its pixels, as GeoJSON."""
    tissue, background = tissue_and_background()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(geom),
                "properties": {"classification": {"name": name, "color": color}},
            }
            for geom, name, color in (
                (background, "Background", [240, 240, 240]),
                (tissue, "Tissue", [192, 48, 122]),
            )
        ],
    }


# ---- running the cases ---------------------------------------------------------------------


class Bench:
    """The server, its slides and the table of measurements."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = requests.Session()
        self.demo = slide_id_by_name(server, "CMU-1-Small-Region.svs")
        self.big = slide_id_by_name(server, BIG_NAME)
        self.result = ""  # the inference result whose exports are measured
        # (case, idle RSS of its section, RSS before it, peak RSS), bytes
        self.rows: list[tuple[str, int, int, int]] = []
        self.section("start")

    def section(self, name: str) -> None:
        """Restart the server (same data), so each section starts from a settled idle RSS."""
        if name != "start":
            self.server.restart()
            self.http = requests.Session()
        self.watch = RssWatch(self.server.proc.pid)
        self.call("GET", f"/api/slides/{self.demo}/annotations")  # warm-up
        self.idle = self.watch.idle()
        print(f"{name}: idle RSS {self.idle / MiB:.0f} MiB", flush=True)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request with a generous timeout."""
        return self.http.request(method, self.server.url + path, timeout=900, **kwargs)

    def case(self, name: str, fn: Callable[[], requests.Response], expect: int = 200):
        """Run one request under the RSS watch and record it."""
        before = self.watch.rss()
        response, peak, seconds = self.watch.measure(fn)
        if response.status_code != expect:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
        self.rows.append((name, self.idle, before, peak))
        print(
            f"  {name:<60} {seconds:6.2f} s  peak {peak / MiB:6.0f} MiB "
            f"(+{(peak - before) / MiB:.0f})",
            flush=True,
        )
        return response

    def edit(self, slide: str, body: dict) -> Callable[[], requests.Response]:
        """A deferred POST of an edit."""
        return lambda: self.call("POST", f"/api/slides/{slide}/annotations/edits", json=body)

    def undo(self, slide: str) -> None:
        """Undo the last change of a slide."""
        self.call("POST", f"/api/slides/{slide}/annotations/undo", json={}).raise_for_status()

    def wait(self, path: str, done: Callable[[dict], bool]) -> requests.Response:
        """GET `path` until `done` says so; the last response."""
        while True:
            response = self.call("GET", path)
            if done(response.json()):
                return response
            time.sleep(0.2)


def run_edits(bench: Bench, classes: list[int]) -> None:
    """The largest accepted edits."""
    tumour, stroma = classes[:2]
    scrubbed = {"tool": "brush", "class_id": tumour, "radius": 100}
    scrubbed["points"] = scrub(50_000, 250).tolist()
    bench.case("edit: brush, 50,000-point scrub, r 100", bench.edit(bench.demo, scrubbed))
    bench.undo(bench.demo)
    grid = {"tool": "brush", "class_id": stroma, "radius": 2, "points": crossing_grid(2).tolist()}
    name = f"edit: brush, {len(grid['points'])}-point grid, r 2 (crossing limit)"
    bench.case(name, bench.edit(bench.demo, grid))
    bench.undo(bench.demo)
    polygon = {"tool": "polygon", "class_id": tumour, "points": crossing_polygon().tolist()}
    name = f"edit: polygon, {len(polygon['points'])} random vertices (crossing limit)"
    bench.case(name, bench.edit(bench.demo, polygon))
    bench.undo(bench.demo)
    side = 256 * 256 - 1  # 256 × 256 = 65,536 cells: the cell limit
    square = {"tool": "polygon", "class_id": tumour}
    square["points"] = wobbly_rect(0, 0, side, side, 5000).tolist()
    bench.case(
        "edit: polygon, 5,000 vertices over 65,536 cells (big)", bench.edit(bench.big, square)
    )
    bench.undo(bench.big)


def run_import_and_exports(bench: Bench) -> None:
    """The largest import, then the label exports of the big slide."""
    doc = big_import()
    body = json.dumps(doc).encode()
    name = f"import: {len(body) / MiB:.1f} MiB GeoJSON, ~130,000 cells (big)"
    headers = {"Content-Type": "application/json"}
    path = f"/api/slides/{bench.big}/annotations"
    bench.case(name, lambda: bench.call("PUT", path, data=body, headers=headers))
    downsample = BIG_SIDE / 10_000  # 10,000 × 10,000 = 100 Mpx, the mask limit
    for fmt in ("png", "tiff"):
        query = f"/annotations/mask.{fmt}?downsample={downsample}"
        bench.case(
            f"export: label mask {fmt.upper()}, 100 Mpx (big)",
            lambda q=query: bench.call("GET", f"/api/slides/{bench.big}{q}"),
        )
    bench.case(
        "export: annotations GeoJSON (big)",
        lambda: bench.call("GET", f"/api/slides/{bench.big}/annotations/export.geojson"),
    )


def largest_batch(budget: int, patch: int) -> int:
    """The largest batch at `patch` whose estimate fits `budget` bytes on this machine."""
    batch = 1
    while True:
        settings, errors = training_settings.validate(
            {"batch_size": batch + 1, "patch_size": patch}, "cpu"
        )
        if errors or memory.training_estimate(settings, 2).device > budget:
            return batch
        batch += 1


def run_training(bench: Bench, budget_gib: float) -> None:
    """A few iterations with the largest batch within the budget."""
    path = f"/api/slides/{bench.demo}/annotations"
    bench.call("PUT", path, json=demo_labels()).raise_for_status()
    patch = 256
    batch = largest_batch(int(budget_gib * memory.GiB), patch)
    settings = {"batch_size": batch, "patch_size": patch, "iterations": 3, "mpp": 2.0}
    estimate = memory.training_estimate(training_settings.validate(settings, "cpu")[0], 2)

    def train() -> requests.Response:
        body = {"slides": [bench.demo], "settings": settings}
        response = bench.call("POST", "/api/training", json=body)
        response.raise_for_status()
        run_id = response.json()["run_id"]
        return bench.wait(
            f"/api/training/{run_id}", lambda r: r["state"] in ("completed", "failed", "stopped")
        )

    name = (
        f"training: batch {batch} × {patch}², 3 iterations (estimate {memory.gib(estimate.device)})"
    )
    response = bench.case(name, train)
    if response.json()["state"] != "completed":
        raise RuntimeError(f"training did not complete: {response.json().get('error')}")


def run_inference(bench: Bench, app_id: str) -> None:
    """An app applied to the whole demo slide, then its three exports."""

    def apply() -> requests.Response:
        body = {"app_id": app_id, "slide_id": bench.demo, "region": "whole"}
        response = bench.call("POST", "/api/inference", json=body)
        response.raise_for_status()
        rid = response.json()["result_id"]
        bench.result = rid
        return bench.wait(f"/api/results/{rid}", lambda r: r["state"] not in ("queued", "running"))

    bench.case("inference: whole demo slide at 1 µm/px", apply)
    for kind in ("geojson", "tiff", "csv"):
        bench.case(
            f"export: result {kind} at threshold 0.5",
            lambda k=kind: bench.call(
                "GET", f"/api/results/{bench.result}/export.{k}?threshold=0.5"
            ),
        )


def run_refusals(bench: Bench, app_id: str, classes: list[int]) -> None:
    """Over-limit requests: status and answer time."""
    rng = np.random.default_rng(0)
    issue = rng.uniform([0, 0], DEMO, (50_000, 2)).round(1).tolist()
    knot = rng.uniform([0, 0], DEMO, (2_000, 2)).tolist()
    knotted = {
        "type": "FeatureCollection",
        "features": [feature([knot + knot[:1]], "X", [1, 2, 3])],
    }
    huge = wobbly_rect(0, 0, 70_000, 70_000, 100).tolist()
    requests_ = [
        ("brush, 50,000 points, r 2,900 (the issue)", 413, bench.edit(
            bench.demo, {"tool": "brush", "class_id": classes[0], "radius": 2900, "points": issue}
        )),
        ("polygon, 2,000 random vertices", 413, bench.edit(
            bench.demo, {"tool": "polygon", "class_id": classes[0], "points": knot}
        )),
        ("polygon over 74,000 cells (big)", 413, bench.edit(
            bench.big, {"tool": "polygon", "class_id": classes[0], "points": huge}
        )),
        ("import of a 2,000-vertex knot", 413, lambda: bench.call(
            "PUT", f"/api/slides/{bench.demo}/annotations",
            json=knotted,
        )),
        ("label mask of 850 Mpx (big)", 400, lambda: bench.call(
            "GET", f"/api/slides/{bench.big}/annotations/mask.png?downsample=1"
        )),
        ("training batch 1024 × 2048²", 400, lambda: bench.call(
            "POST", "/api/training",
            json={"slides": [bench.demo], "settings": {"batch_size": 1024, "patch_size": 2048}},
        )),
        ("inference box outside the slide", 400, lambda: bench.call(
            "POST", "/api/inference",
            json={"app_id": app_id, "slide_id": bench.demo, "region": {"bbox": [9e9, 0, 5, 5]}},
        )),
        ("inference on 1,001 slides at once", 413, lambda: bench.call(
            "POST", "/api/inference",
            json={"app_id": app_id, "slide_ids": [f"s{i}" for i in range(1001)]},
        )),
    ]  # fmt: skip
    print("over-limit requests:")
    for name, status, fn in requests_:
        before = bench.watch.rss()
        response, peak, seconds = bench.watch.measure(fn)
        verdict = "OK" if response.status_code == status else f"EXPECTED {status}"
        print(
            f"  {name:<44} {response.status_code} in {seconds * 1e3:6.0f} ms  "
            f"+{(peak - before) / MiB:4.0f} MiB  {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 0 (ratios are reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-budget-gib", type=float, default=3.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        big_dir = Path(tmp) / "big"
        big_dir.mkdir()
        make_flat_slide(big_dir / BIG_NAME, BIG_SIDE)
        data = Path(tmp) / "data"
        app_id = make_app(data, mpp=1.0, name="Bench app")
        server = ServerProcess([DEMO_DIR, big_dir], data)
        try:
            server.start()
            bench = Bench(server)
            classes = [
                bench.call("POST", "/api/classes", json={"name": n}).json()["id"]
                for n in ("Tumour", "Stroma")
            ]
            run_edits(bench, classes)
            bench.section("import and label exports")
            run_import_and_exports(bench)
            bench.section("training")
            run_training(bench, args.train_budget_gib)
            bench.section("inference")
            run_inference(bench, app_id)
            run_refusals(bench, app_id, classes)
            print("peak RSS / idle RSS of the same server:")
            for name, idle, before, peak in bench.rows:
                growth = (peak - before) / MiB
                print(f"  RATIO {peak / idle:5.2f}  (+{growth:5.0f} MiB)  {name}")
            worst = max(bench.rows, key=lambda r: r[3] / r[1])
            print(f"RATIO max peak/idle = {worst[3] / worst[1]:.2f} ({worst[0]})")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
