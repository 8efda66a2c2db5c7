"""Tile serving: slidelab against OpenSlide's deepzoom example server, same requests, one run.

The reference does what OpenSlide's `deepzoom_server.py` does: Flask (threaded), one
DeepZoomGenerator per slide, a JPEG encoded on every request, no cache. Both serve the demo
SVS and a 40,960 × 40,960 pyramidal TIFF generated here from the real slide's pixels. The
request sequence is a viewer session (fit to screen, zoom in by steps, pan at the deep
levels), fetched with 6 parallel connections like a browser. A cold pass (new tiles) and a
warm pass (the same tiles again) are timed for each server; the ratios are slidelab/reference.

Run: .venv/bin/python tests/benchmarks/bench_tiles.py [--size 40960]
"""

from __future__ import annotations

import argparse
import http.client
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.helpers import DEMO_SLIDE, ServerProcess, free_port  # noqa: E402

TILE, OVERLAP, QUALITY = 254, 1, 75
SCREEN = (1280, 800)
CONNECTIONS = 6


# ---------------------------------------------------------------- the reference server


def reference_server(port: int, slides: list[str]) -> None:
    """OpenSlide's deepzoom example server, reduced to the tile route."""
    from io import BytesIO

    import openslide
    from flask import Flask, abort, make_response
    from openslide.deepzoom import DeepZoomGenerator

    app = Flask(__name__)
    generators = {
        Path(p).name: DeepZoomGenerator(
            openslide.OpenSlide(p), tile_size=TILE, overlap=OVERLAP, limit_bounds=True
        )
        for p in slides
    }

    @app.route("/<name>_files/<int:level>/<int:col>_<int:row>.jpeg")
    def tile(name, level, col, row):
        try:
            image = generators[name].get_tile(level, (col, row))
        except (KeyError, ValueError):
            abort(404)
        buf = BytesIO()
        image.save(buf, "jpeg", quality=QUALITY)
        resp = make_response(buf.getvalue())
        resp.mimetype = "image/jpeg"
        return resp

    @app.route("/health")
    def health():
        return "ok"

    app.run(host="127.0.0.1", port=port, threaded=True)


# ---------------------------------------------------------------- slides and requests


def make_big_tiff(path: Path, size: int, mpp: float = 0.25) -> None:
    """A JPEG-tiled pyramidal TIFF of size × size, tiled from the demo slide's real pixels."""
    import openslide
    import tifffile

    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        source = np.asarray(slide.read_region((0, 0), 0, (2048, 2048)).convert("RGB"))
    tile = 512

    def tiles(width: int, height: int, step: int):
        small = source[::step, ::step]
        sh, sw = small.shape[:2]
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                ys = np.arange(y, y + tile) % sh
                xs = np.arange(x, x + tile) % sw
                yield small[ys[:, None], xs[None, :]]

    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        width = height = size
        step = 1
        while True:
            res = 1e4 / (mpp * step)
            tif.write(
                tiles(width, height, step), shape=(height, width, 3), dtype="uint8",
                tile=(tile, tile), compression="jpeg", compressionargs={"level": 85},
                photometric="rgb", resolution=(res, res), resolutionunit="CENTIMETER",
                subfiletype=0 if step == 1 else 1, maxworkers=2,
            )  # fmt: skip
            if max(width, height) <= 1024:
                break
            width, height, step = width // 2, height // 2, step * 2


def viewer_session(width: int, height: int) -> list[tuple[int, int, int]]:
    """Unique (level, col, row) in the order a viewer asks for them: fit, zoom in, pan."""
    top = math.ceil(math.log2(max(width, height)))
    order: dict[tuple[int, int, int], None] = {}

    def view(level: int, cx: float, cy: float) -> None:
        scale = 2 ** (top - level)
        lw, lh = math.ceil(width / scale), math.ceil(height / scale)
        x0 = max(0, int(cx * lw - SCREEN[0] / 2))
        y0 = max(0, int(cy * lh - SCREEN[1] / 2))
        x1, y1 = min(lw, x0 + SCREEN[0]), min(lh, y0 + SCREEN[1])
        for row in range(y0 // TILE, (y1 - 1) // TILE + 1):
            for col in range(x0 // TILE, (x1 - 1) // TILE + 1):
                order.setdefault((level, col, row), None)

    fit = top - math.ceil(math.log2(max(width / SCREEN[0], height / SCREEN[1], 1)))
    for level in range(0, fit + 1):
        view(level, 0.5, 0.5)
    for level in range(fit + 1, top + 1):  # zoom in towards a point of interest
        view(level, 0.45, 0.55)
    for level in (top - 2, top - 1, top):  # pan across at the deep levels
        for step in range(6):
            view(level, 0.45 + 0.02 * step, 0.55 - 0.01 * step)
    return list(order)


def fetch_all(urls: list[str]) -> tuple[float, list[float]]:
    """(wall seconds, per-request latencies) fetching urls with browser-like parallelism.

    Each of the 6 workers keeps one keep-alive connection (http.client: a light client, so
    the client's own cost does not hide the servers' difference).
    """
    local = threading.local()

    def get(url: str) -> float:
        parts = urlsplit(url)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        start = time.perf_counter()
        conn.request("GET", parts.path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or not body:
            raise RuntimeError(f"{url}: HTTP {response.status}")
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        latencies = list(pool.map(get, urls))
    return time.perf_counter() - start, latencies


def summary(wall: float, latencies: list[float]) -> dict[str, float]:
    """Tiles/s and p50/p99 latency in ms."""
    ordered = sorted(latencies)
    return {
        "tiles_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


# ---------------------------------------------------------------- the run


def main() -> int:
    """Generate the big slide, start both servers, time cold and warm passes, print ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=40960, help="side of the generated TIFF")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    slides_dir = work / "slides"
    slides_dir.mkdir()
    (slides_dir / DEMO_SLIDE.name).write_bytes(DEMO_SLIDE.read_bytes())
    big = slides_dir / f"generated_{args.size}.tif"
    started = time.perf_counter()
    make_big_tiff(big, args.size)
    print(f"generated {big.name} ({big.stat().st_size / 1e6:.0f} MB) "
          f"in {time.perf_counter() - started:.0f}s")  # fmt: skip

    ours = ServerProcess([slides_dir], work / "data", extra_args=["--jpeg-quality", str(QUALITY)])
    ours.start()
    ref_port = free_port()
    ref = subprocess.Popen(
        [sys.executable, __file__, "--reference-server", str(ref_port),
         str(slides_dir / DEMO_SLIDE.name), str(big)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ref_url = f"http://127.0.0.1:{ref_port}"
    for _ in range(300):
        try:
            if requests.get(f"{ref_url}/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.1)
    try:
        ids = {s["name"]: s["id"] for s in ours.get("/api/slides").json()}
        results = []
        for path, (width, height) in [(slides_dir / DEMO_SLIDE.name, (2220, 2967)),
                                      (big, (args.size, args.size))]:  # fmt: skip
            session = viewer_session(width, height)
            ref_urls = [f"{ref_url}/{path.name}_files/{lv}/{c}_{r}.jpeg" for lv, c, r in session]
            our_urls = [f"{ours.url}/slides/{ids[path.name]}_files/{lv}/{c}_{r}.jpeg"
                        for lv, c, r in session]  # fmt: skip
            row = {"slide": path.name, "tiles": len(session)}
            for label, urls in (("reference", ref_urls), ("slidelab", our_urls)):
                row[f"{label}_cold"] = summary(*fetch_all(urls))
                row[f"{label}_warm"] = summary(*fetch_all(urls))
            results.append(row)
    finally:
        ours.stop()
        ref.terminate()
        ref.wait()
    report(results)
    return 0


def report(results: list[dict]) -> None:
    """Print the figures and the slidelab/reference ratios against their targets."""
    print(f"\n{'slide':36} {'pass':5} {'server':10} {'tiles/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for row in results:
        for kind in ("cold", "warm"):
            for label in ("reference", "slidelab"):
                s = row[f"{label}_{kind}"]
                print(f"{row['slide'][:36]:36} {kind:5} {label:10} {s['tiles_s']:9.1f} "
                      f"{s['p50_ms']:8.1f} {s['p99_ms']:8.1f}")  # fmt: skip
    print()
    for row in results:
        for kind, target in (("cold", 1.0), ("warm", 5.0)):
            ratio = row[f"slidelab_{kind}"]["tiles_s"] / row[f"reference_{kind}"]["tiles_s"]
            verdict = "ok" if ratio >= target else "BELOW TARGET"
            print(
                f"ratio {kind} tiles/s slidelab/reference on {row['slide']} "
                f"({row['tiles']} tiles): {ratio:.2f} (target >= {target:g}) {verdict}"
            )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--reference-server":
        reference_server(int(sys.argv[2]), sys.argv[3:])
    else:
        sys.exit(main())
