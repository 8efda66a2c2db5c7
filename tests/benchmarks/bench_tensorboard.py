"""TensorBoard inside slidelab: tile latency while TensorBoard reads many event files.

A data folder gets `--runs` training runs written by slidelab's own `RunLog` (five scalar
tags per iteration, an image triplet every 25 iterations). A real server then answers a
cached tile again and again, first idle, then while the first `/tensorboard/data/runs`
request builds TensorBoard's app and reads every event file (in compute threads, never in
the event loop). Printed: how long TensorBoard's first answer took, the ratio of the p95
tile latency during that reading to idle — target ≤ 3 — and the worst tile as a fraction of
the reading (a tile that waited for all of it would be 1.0).

What limits it: the reading is pure Python, so the event loop waits for the GIL after each
socket call (up to the 5 ms switch interval), and the reading's allocations trigger full
garbage collections of the whole server heap (~0.2-0.4 s each on a busy 2-core machine).

Run: .venv/bin/python tests/benchmarks/bench_tensorboard.py [--runs 8 --iterations 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import numpy as np
import requests
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.training.tensorboard import RunLog  # noqa: E402
from tests.helpers import DEMO_DIR, DEMO_SLIDE, ServerProcess, slide_id_by_name  # noqa: E402

IMAGE_EVERY = 25
PATCH = 128


def write_runs(runs_dir: Path, runs: int, iterations: int) -> None:
    """`runs` event files of `iterations` iterations each, as training writes them."""
    classes = [{"color": "#f0f0f0"}, {"color": "#c0307a"}]
    x = torch.rand(3, PATCH, PATCH)
    label = torch.randint(0, 2, (PATCH, PATCH))
    logits = torch.rand(2, PATCH, PATCH)
    for r in range(runs):
        log = RunLog(runs_dir / f"run{r}" / "tb", classes)
        for i in range(1, iterations + 1):
            result = types.SimpleNamespace(
                iteration=i,
                loss=1 / i,
                error_rate=0.5 / i,
                lr=1e-3,
                val_loss=1 / i,
                val_error_rate=0.5 / i,
                time=time.time(),
            )
            log.scalars(result)
            if i % IMAGE_EVERY == 0:
                log.images(i, x, label, logits)
        log.close()


def tile_latencies(url: str, until) -> list[float]:
    """GET the same (cached) tile back to back until `until()`; the latencies."""
    latencies = []
    with requests.Session() as http:
        while not until():
            start = time.perf_counter()
            assert http.get(url, timeout=60).status_code == 200
            latencies.append(time.perf_counter() - start)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        write_runs(data / "runs", args.runs, args.iterations)
        size = sum(f.stat().st_size for f in (data / "runs").rglob("*") if f.is_file())
        print(
            f"{args.runs} runs × {args.iterations} iterations: {size / 1e6:.1f} MB of event "
            f"files, written in {time.perf_counter() - start:.1f} s"
        )
        server = ServerProcess([DEMO_DIR], data).start()
        try:
            slide = slide_id_by_name(server, DEMO_SLIDE.name)
            tile = f"{server.url}/slides/{slide}_files/9/0_0.jpeg"
            requests.get(tile, timeout=30)  # now cached
            t_end = time.monotonic() + 5
            idle = tile_latencies(tile, lambda: time.monotonic() > t_end)
            done = threading.Event()
            answer: dict = {}

            def first_tensorboard_request() -> None:
                t0 = time.perf_counter()
                runs = server.get("/tensorboard/data/runs", timeout=600).json()
                answer.update(seconds=time.perf_counter() - t0, runs=len(runs))
                done.set()

            threading.Thread(target=first_tensorboard_request).start()
            busy = tile_latencies(tile, done.is_set)
        finally:
            server.stop()
    p95 = lambda v: float(np.percentile(v, 95))  # noqa: E731
    print(f"first /tensorboard/data/runs: {answer['seconds']:.2f} s, {answer['runs']} runs")
    print(f"idle tiles:    n={len(idle)} p95={p95(idle) * 1e3:.1f} ms max={max(idle) * 1e3:.1f} ms")
    print(f"reading tiles: n={len(busy)} p95={p95(busy) * 1e3:.1f} ms max={max(busy) * 1e3:.1f} ms")
    print(f"RATIO p95 reading/idle = {p95(busy) / p95(idle):.2f}   (target <= 3)")
    print(
        f"worst tile during reading = {max(busy) / answer['seconds']:.3f} of the reading "
        "(1.0 would mean a tile waited for all of it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
