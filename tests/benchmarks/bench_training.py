"""Training: throughput, tile latency while training, and live-event delay, in one run.

A real slidelab server trains the device's default network (U-Net/resnet18; on a CPU
patch 128, batch 8; on CUDA patch 256, batch 16 with AMP and channels_last) on the demo
slide, labelled tissue vs background from its own pixels. Printed ratios:

1. trainer it/s (the server's run, from its iterations' end times) / a bare
   segmentation-models-pytorch loop with the same model, batch, patch, device and torch
   threads on in-memory tensors — target ≥ 0.9;
2. p95 tile latency while training / idle (tile cache off, so every tile is made) —
   target ≤ 2;
3. p95 delay from an iteration's end (`time` in its event) to that event reaching a
   separate Socket.IO client, as a fraction of the 50 ms target — target ≤ 1.

On a CPU the server's choice of torch threads and of the training thread's nice value
(server/training/worker.py configure_threads) can be overridden with --threads and --nice, to
compare them; the bare loop always gets the same number of torch threads as the server.

Run: .venv/bin/python tests/benchmarks/bench_training.py [--iterations 20]
     [--threads N] [--nice N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import socketio
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.device import select_device  # noqa: E402
from server.training.settings import defaults  # noqa: E402
from tests.gpu_check import bare_step  # noqa: E402
from tests.helpers import DEMO_DIR, ServerProcess  # noqa: E402
from tests.training_support import seed_labels  # noqa: E402

CONNECTIONS = 6  # parallel tile requests, like a browser
TARGET_DELAY_S = 0.050


def p95(values: list[float]) -> float:
    """95th percentile."""
    return float(np.percentile(values, 95))


def server_threads(threads: int | None) -> int:
    """The thread count the server gives torch on a CPU (`threads` when overridden)."""
    from server.training.worker import configure_threads

    if threads:
        os.environ["SLIDELAB_TRAINING_THREADS"] = str(threads)
    return configure_threads(torch.device("cpu")).torch_threads


# ---------------------------------------------------------------- the bare baseline


def bare_loop_it_per_s(settings: dict, iterations: int, device: torch.device) -> float:
    """A plain smp training loop on random in-memory tensors: no sampler, no server."""
    torch.manual_seed(0)
    step = bare_step(settings, device)
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    return iterations / (time.perf_counter() - start)


# ---------------------------------------------------------------- tiles


def tile_paths(server: ServerProcess, slide_id: str) -> list[str]:
    """Every tile of the three most detailed Deep Zoom levels."""
    info = server.get(f"/api/slides/{slide_id}").json()
    top = info["deepzoom"]["levels"] - 1
    paths = []
    for level in range(top - 2, top + 1):
        scale = 2 ** (top - level)
        cols = -(-info["width"] // scale // 254)
        rows = -(-info["height"] // scale // 254)
        paths += [
            f"/slides/{slide_id}_files/{level}/{c}_{r}.jpeg"
            for c in range(cols)
            for r in range(rows)
        ]
    return paths


def tile_latencies(server: ServerProcess, paths: list[str], rounds: int) -> list[float]:
    """Per-request seconds, fetching all paths `rounds` times over parallel connections."""
    sessions = threading.local()

    def fetch(path: str) -> float:
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        start = time.perf_counter()
        response = sessions.s.get(server.url + path, timeout=60)
        response.raise_for_status()
        return time.perf_counter() - start

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        return [t for _ in range(rounds) for t in pool.map(fetch, paths)]


# ---------------------------------------------------------------- the run


class EventClock:
    """A Socket.IO client noting when each training:iteration event arrives."""

    def __init__(self, server: ServerProcess, run_id: str) -> None:
        self.latest: list[float] = []  # delay of the newest point in each event
        self.every: list[float] = []  # delay of every point
        self.client = socketio.Client(reconnection=False)
        self.client.on("training:iteration", self._on_iteration)
        self.client.connect(server.url, transports=["websocket"], wait_timeout=20)
        self.client.call("watch", {"run_id": run_id}, timeout=20)

    def _on_iteration(self, event: dict) -> None:
        now = time.time()
        self.latest.append(now - event["points"][-1]["time"])
        self.every += [now - p["time"] for p in event["points"]]

    def close(self) -> None:
        self.client.disconnect()


def run_progress(server: ServerProcess, run_id: str) -> dict:
    return server.get(f"/api/training/{run_id}").json()


def wait_iterations(server: ServerProcess, run_id: str, count: int) -> dict:
    while True:
        run = run_progress(server, run_id)
        if run["state"] == "failed":
            raise SystemExit(f"training failed: {run['error']}")
        if run["iteration"] >= count:
            return run
        time.sleep(0.2)


def it_per_s(history: list[dict], first: int, last: int) -> float:
    """Iterations per second between two iterations' end times."""
    times = {p["iteration"]: p["time"] for p in history}
    return (last - first) / (times[last] - times[first])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20, help="iterations per window")
    parser.add_argument("--rounds", type=int, default=6, help="passes over the tiles")
    parser.add_argument("--threads", type=int, help="torch threads of the server (CPU)")
    parser.add_argument("--nice", type=int, help="nice value of the training thread (CPU)")
    args = parser.parse_args()
    device = select_device("auto")
    settings = defaults(device.type)
    n = args.iterations
    env = {}
    if args.threads:
        env["SLIDELAB_TRAINING_THREADS"] = str(args.threads)
    if args.nice is not None:
        env["SLIDELAB_TRAINING_NICE"] = str(args.nice)
    if device.type == "cpu":
        torch.set_num_threads(server_threads(args.threads))
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, unet/{settings['encoder']}"
        f" patch {settings['patch_size']} batch {settings['batch_size']},"
        f" training nice {args.nice if args.nice is not None else 'default'}"
    )

    # The machine's load may drift: the baseline is measured before and after the server run.
    bare_before = bare_loop_it_per_s(settings, n, device)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        ids = seed_labels(data)
        server = ServerProcess(
            [DEMO_DIR], data, extra_args=["--tile-cache-mb", "0"], env=env
        ).start()
        try:
            paths = tile_paths(server, ids["slide_id"])
            tile_latencies(server, paths[:CONNECTIONS], 1)  # open the slide, warm the code
            idle = tile_latencies(server, paths, args.rounds)

            body = {
                "slides": [ids["slide_id"]],
                "classes": [ids["background"], ids["tissue"]],
                "settings": {"iterations": 100_000, "checkpoint_interval": 100_000},
            }
            run_id = server.post("/api/training", json=body).json()["run_id"]
            warm = 3
            wait_iterations(server, run_id, warm)
            clock = EventClock(server, run_id)
            start = wait_iterations(server, run_id, warm + 1)["iteration"]
            end = wait_iterations(server, run_id, start + n)["iteration"]
            clock.close()
            busy_start = time.perf_counter()
            busy = tile_latencies(server, paths, args.rounds)
            busy_s = time.perf_counter() - busy_start
            after = run_progress(server, run_id)["iteration"]
            server.post(f"/api/training/{run_id}/stop")
            history = run_progress(server, run_id)["history"]
            trainer_speed = it_per_s(history, start, end)
        finally:
            server.stop()

    bare_after = bare_loop_it_per_s(settings, n, device)
    bare_speed = (bare_before + bare_after) / 2
    print(f"\n(1) trainer {trainer_speed:.3f} it/s (server run, iterations {start}..{end})")
    print(
        f"    bare smp loop {bare_speed:.3f} it/s (same model, batch, patch, device, threads;"
        f" {bare_before:.3f} before, {bare_after:.3f} after the server run)"
    )
    print(f"    RATIO trainer/bare = {trainer_speed / bare_speed:.3f}   (target >= 0.9)")
    print(
        f"\n(2) tiles: p95 idle {p95(idle) * 1000:.1f} ms, while training"
        f" {p95(busy) * 1000:.1f} ms ({len(busy)} requests, {CONNECTIONS} connections;"
        f" {busy_s:.1f} s with {after - end} iterations meanwhile)"
    )
    print(f"    RATIO training/idle = {p95(busy) / p95(idle):.3f}   (target <= 2)")
    print(
        f"\n(3) event delay: p95 {p95(clock.latest) * 1000:.1f} ms for each event's newest"
        f" iteration ({len(clock.latest)} events),"
        f" median {statistics.median(clock.latest) * 1000:.1f} ms;"
        f" every point p95 {p95(clock.every) * 1000:.1f} ms"
    )
    print(f"    RATIO p95/50 ms = {p95(clock.latest) / TARGET_DELAY_S:.3f}   (target <= 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
