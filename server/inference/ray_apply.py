"""`slidelab apply --ray [ADDRESS]`: the same per-slide work, spread over a Ray cluster.

A Ray Data pipeline runs the slides through a pool of model workers (actors): each
loads the app's model once, from the object store, on its GPU (or CPUs), and applies
whole slides with `server.inference.batch.apply_one`, the code of the plain run, so the
outputs are the same files with the same numbers. A slide's reads stay in the worker
that predicts it: OpenSlide handles are opened there, never pickled. The driver records
each outcome in DIR's manifest as it arrives.

Ray Data restarts a worker lost with its node and retries its slide elsewhere; the
manifest takes the first outcome of a slide and ignores a retried duplicate, so every
slide is done once. Slides, apps and DIR must be at the same paths on every node (a
shared filesystem), and slidelab must be installed on each node.
"""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import torch
from ray.experimental import tqdm_ray

from server.device import select_device
from server.inference.batch import AppData, ApplyOptions, apply_one


@dataclass(frozen=True)
class Workers:
    """The model workers asked for: how many (None: one per GPU, else CPUs per worker),
    CPUs each, and the device preference (cpu keeps them off GPUs)."""

    count: int | None = None
    cpus: int = 2
    device: str = "auto"

    def resources(self) -> tuple[int, float]:
        """(workers, GPUs per worker) for the connected cluster."""
        gpus = 0.0 if self.device == "cpu" else ray.cluster_resources().get("GPU", 0.0)
        if self.count:
            return self.count, 1.0 if gpus else 0.0
        if gpus:
            return int(gpus), 1.0
        cpus = ray.cluster_resources().get("CPU", 1.0)
        return max(1, int(cpus) // max(1, self.cpus)), 0.0


class SlideWorker:
    """One model worker: the app's model loaded once, then whole slides, one per call."""

    def __init__(self, app_ref: list, options: ApplyOptions, device: str, threads: int):
        config, state = ray.get(app_ref[0])
        self.config = config
        self.options = options
        self.device = select_device("cpu" if device == "cpu" else "auto")
        if self.device.type == "cpu":
            torch.set_num_threads(threads)
        self.model = AppData(config, state, []).model(self.device)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        """Apply each slide of the batch; its outcome as JSON (a string column)."""
        outcomes = []
        for slide in batch["slide"]:
            outcome = apply_one(
                Path(slide), self.model, self.config, self.device, self.options, tqdm_ray.tqdm
            )
            outcome["worker"] = {
                "pid": os.getpid(),
                "device": str(self.device),
                "node": ray.get_runtime_context().get_node_id(),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
            outcomes.append(json.dumps(outcome))
        return {"outcome": outcomes}


def apply_on_ray(
    app: AppData,
    slides: list[Path],
    options: ApplyOptions,
    workers: Workers,
    address: str | None,
) -> Iterator[dict[str, Any]]:
    """Each slide's outcome (see batch.apply_one), as the cluster finishes them.

    Connects to the cluster at `address` ('auto': the one this node belongs to; None: a
    new local Ray), and disconnects at the end.
    """
    if not slides:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=True, include_dashboard=False)
    try:
        yield from _run(app, slides, options, workers)
    finally:
        if started_here:
            ray.shutdown()


def _run(
    app: AppData, slides: list[Path], options: ApplyOptions, workers: Workers
) -> Iterator[dict[str, Any]]:
    count, gpus = workers.resources()
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the run's bar is the driver's; slides have theirs
    items = [{"slide": str(slide)} for slide in slides]
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    outcomes = dataset.map_batches(
        SlideWorker,
        fn_constructor_kwargs={
            "app_ref": [ray.put((app.config, app.state))],
            "options": options,
            "device": workers.device,
            "threads": workers.cpus,
        },
        batch_size=1,
        # A slide is minutes of work: one at a time per worker, none queued behind it
        # while another worker idles.
        compute=ray.data.ActorPoolStrategy(
            size=min(count, len(slides)), max_tasks_in_flight_per_actor=1
        ),
        num_cpus=workers.cpus,
        num_gpus=gpus,
    )
    for row in outcomes.iter_rows():
        yield json.loads(row["outcome"])
