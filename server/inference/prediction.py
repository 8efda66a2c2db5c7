"""One result's prediction as a sequence of steps: the code both a server job on this
machine and one on a Ray cluster run.

`predict_steps` loads the model, plans the tiles, creates the probability store and runs
the pipeline batch by batch, yielding between steps: first `{"meta": …}` (the grid, the
warnings and the tile count, for the result's record), then `{"progress", "eta_s"}` after
each batch. Whoever drives it decides what runs where: the server calls `next` in a real
thread and checks for cancel between calls (`jobs.py`); the Ray task yields each event to
the server (`ray_driver.py`). Closing the generator early stops the pipeline's threads.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import openslide
import shapely
import torch
from shapely.geometry.base import BaseGeometry

from server.inference.pipeline import Pipeline, run_defaults
from server.inference.planning import SlideFacts, make_plan
from server.inference.predictor import Predictor
from server.inference.probstore import ProbStore
from server.inference.regions import RegionSpec
from server.inference.tiler import TileGeometry

ModelSource = Callable[[torch.device], tuple[torch.nn.Module, dict[str, Any]]]
Steps = Generator[dict[str, Any], None, None]  # a prediction's events, see module doc


@dataclass(frozen=True)
class PredictionJob:
    """What to predict and where to store it (everything but the model)."""

    spec: RegionSpec
    facts: SlideFacts
    config: dict[str, Any]
    roi: BaseGeometry | None
    geometry: TileGeometry
    store: Path
    meta: dict[str, Any]
    batch_size: int | None = None  # None: the device's default

    def to_json(self) -> dict[str, Any]:
        """The job as JSON, to send to another process (the ROI as hex WKB)."""
        return {
            "spec": asdict(self.spec),
            "facts": asdict(self.facts),
            "config": self.config,
            "roi": shapely.to_wkb(self.roi, hex=True) if self.roi is not None else None,
            "geometry": asdict(self.geometry),
            "store": str(self.store),
            "meta": self.meta,
            "batch_size": self.batch_size,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PredictionJob:
        """The job `to_json` describes."""
        spec, facts = dict(value["spec"]), dict(value["facts"])
        spec["bbox"] = tuple(spec["bbox"]) if spec["bbox"] else None
        facts["bounds"] = tuple(facts["bounds"]) if facts["bounds"] else None
        return cls(
            RegionSpec(**spec),
            SlideFacts(**facts),
            value["config"],
            shapely.from_wkb(value["roi"]) if value["roi"] else None,
            TileGeometry(**value["geometry"]),
            Path(value["store"]),
            value["meta"],
            value.get("batch_size"),
        )


def predict_steps(job: PredictionJob, source: ModelSource, device: torch.device) -> Steps:
    """Run one prediction, yielding its meta, then its progress after every batch."""
    model, _ = source(device)
    plan = make_plan(job.spec, job.facts, float(job.config["mpp"]), job.geometry, job.roi)
    meta = job.meta | {
        "grid": plan.grid.as_dict(),
        "warnings": plan.warnings,
        "tiles": len(plan.tiles),
    }
    yield {"meta": meta}
    grid = plan.grid
    classes = len(job.config["classes"])
    store = ProbStore.create(job.store, grid.width, grid.height, classes, job.geometry.core, meta)
    batch, readers, writers = run_defaults(device.type == "cuda")
    batch = job.batch_size or batch
    predictor = Predictor.for_app(model, job.config, device)
    slide = job.facts.path
    pipeline = Pipeline(
        plan, lambda: openslide.OpenSlide(slide), predictor, store, batch, readers, writers
    )
    try:
        pipeline.start()
        while pipeline.step():
            yield {"progress": pipeline.progress, "eta_s": pipeline.eta_s()}
        pipeline.finish()
    finally:
        pipeline.close()
