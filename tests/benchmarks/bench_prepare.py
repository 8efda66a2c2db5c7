"""Preparation of a training run: thousands of painted nuclei, through a real server.

A 16,384² px pyramidal TIFF (0.25 µm/px, tiled from the demo slide's pixels) is made in a
temporary folder; "Other" is painted over 8 fields of 1,800² px and 4,000 nucleus outlines
(12–26 vertices, 5–14 px radius) over them, as the editor stores labels: in 256-px cells,
Other with a hole per nucleus. A run of one iteration is started and watched: the run's
`prepare_s`, each step's share (from `training:progress`), and the time from the request to
the end of the first iteration are printed. The same is done on the demo slide with the nuclei of
bench_quality.py (colour deconvolution) as labels.

Target: seconds for thousands of shapes.

Run: .venv/bin/python tests/benchmarks/bench_prepare.py [--nuclei 4000] [--mpp 0.5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openslide
import shapely
import socketio
from shapely.geometry import Polygon, box

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_tiles import make_big_tiff  # noqa: E402
from tests.helpers import DEMO_DIR, DEMO_SLIDE, ServerProcess, slide_id_by_name  # noqa: E402

FIELD = 1800  # level-0 px
COLORS = {"Other": "#f0c0d0", "Nucleus": "#4040c0"}
FIELDS = [(1000 + 3500 * (i % 4), 1000 + 4000 * (i // 4)) for i in range(8)]


def nuclei(rng: np.random.Generator, count: int, x0: float, y0: float) -> list[Polygon]:
    """Irregular nucleus-like outlines inside the field at (x0, y0)."""
    out: list[Polygon] = []
    while len(out) < count:
        cx, cy = x0 + rng.uniform(20, FIELD - 20), y0 + rng.uniform(20, FIELD - 20)
        angles = np.linspace(0, 2 * np.pi, int(rng.integers(12, 27)), endpoint=False)
        radius = rng.uniform(5, 14) * (1 + 0.25 * rng.uniform(-1, 1, len(angles)))
        turn, squash = rng.uniform(0, np.pi), rng.uniform(0.6, 1.0)
        xs, ys = radius * np.cos(angles), squash * radius * np.sin(angles)
        poly = Polygon(
            np.c_[
                cx + xs * np.cos(turn) - ys * np.sin(turn),
                cy + xs * np.sin(turn) + ys * np.cos(turn),
            ]
        )
        if poly.is_valid:
            out.append(poly)
    return out


def seed(data_dir: Path, slide_name: str, labels: list[tuple[str, object]]) -> None:
    """Classes and their labels in the store before the server starts, in painting order."""
    from server.annotations import classes
    from server.annotations.repository import replace_label_geometry
    from server.slides.library import slide_id
    from server.store import Store

    store = Store(data_dir / "slidelab.sqlite3")
    try:
        for name, geometry in labels:
            class_id = classes.create_class(store, name, COLORS[name])["id"]
            replace_label_geometry(store, slide_id(slide_name), class_id, geometry)
    finally:
        store.close()


def prepare(slide_dir: Path, data_dir: Path, slide_name: str, mpp: float) -> dict:
    """Start a one-iteration run and watch its preparation; its timings."""
    server = ServerProcess([slide_dir], data_dir).start()
    try:
        sid = slide_id_by_name(server, slide_name)
        steps: dict[str, float] = {}  # step -> elapsed_s of its first progress event
        client = socketio.Client(reconnection=False)
        client.on("training:progress", lambda e: steps.setdefault(e["step"], e["elapsed_s"]))
        client.connect(server.url, transports=["websocket"], wait_timeout=20)
        settings = {"mpp": mpp, "iterations": 1, "validation_fraction": 0.15}
        requested = time.time()
        answer = server.post("/api/training", json={"slides": [sid], "settings": settings})
        if answer.status_code != 201:
            raise SystemExit(f"training refused: {answer.text}")
        run_id = answer.json()["run_id"]
        client.call("watch", {"run_id": run_id}, timeout=20)
        while True:
            run = server.get(f"/api/training/{run_id}").json()
            if run["state"] in ("completed", "failed"):
                break
            time.sleep(0.1)
        client.disconnect()
    finally:
        server.stop()
    if run["state"] == "failed":
        raise SystemExit(f"the run failed: {run['error']}")
    return {
        "prepare_s": run.get("prepare_s"),  # None from a server before this measure
        "first_s": run["history"][0]["time"] - requested,
        "steps": dict(sorted(steps.items(), key=lambda i: i[1])),
    }


def report(title: str, result: dict) -> None:
    first = f"request to the end of iteration 1: {result['first_s']:.2f} s"
    if result["prepare_s"] is None:
        print(f"{title}: {first}")
        return
    steps = result["steps"]
    order = [s for s in ("labels", "regions", "model") if s in steps] + ["end"]
    starts = {**steps, "end": result["prepare_s"]}
    pairs = zip(order, order[1:], strict=False)
    parts = ", ".join(f"{a} {starts[b] - starts[a]:.2f} s" for a, b in pairs)
    print(f"{title}: prepare_s {result['prepare_s']:.2f} s ({parts}); {first}")


def synthetic(count: int, mpp: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        slides, data = Path(tmp) / "slides", Path(tmp) / "data"
        slides.mkdir()
        clock = time.monotonic()
        make_big_tiff(slides / "big.tif", 16384, 0.25)
        rng = np.random.default_rng(0)
        shapes = [p for x, y in FIELDS for p in nuclei(rng, count // len(FIELDS), x, y)]
        other = shapely.union_all([box(x, y, x + FIELD, y + FIELD) for x, y in FIELDS])
        seed(data, "big.tif", [("Other", other), ("Nucleus", shapely.union_all(shapes))])
        print(f"synthetic slide and {len(shapes)} nuclei made in {time.monotonic() - clock:.1f} s")
        report(
            f"16,384² TIFF, {len(shapes)} nuclei, {mpp} µm/px",
            prepare(slides, data, "big.tif", mpp),
        )


def demo(mpp: float) -> None:
    from tests.benchmarks.bench_quality import label_geometries, nuclei_reference, read_area

    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        height = slide.dimensions[1]
    rgb, grid = read_area(0, 0.6 * height, 1.0)
    nucleus, other = label_geometries(nuclei_reference(rgb), grid)
    count = len(shapely.get_parts(nucleus))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        seed(data, DEMO_SLIDE.name, [("Other", other), ("Nucleus", nucleus)])
        report(f"demo slide, {count} nuclei (bench_quality), {mpp} µm/px", prepare(
            DEMO_DIR, data, DEMO_SLIDE.name, mpp))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nuclei", type=int, default=4000)
    parser.add_argument("--mpp", type=float, default=0.5)
    args = parser.parse_args()
    synthetic(args.nuclei, args.mpp)
    demo(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
