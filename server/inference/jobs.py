"""Inference jobs in the server: queue, drive, progress, cancel, delete.

A job is queued on the device queue (one training or inference job per device). Its
driver is a greenlet that follows the prediction's steps (`prediction.predict_steps`:
model, plan, store, then one batch a step), each computed in a real thread through
`compute`, so the event loop stays free, cancel is checked between batches and progress
is emitted a few times per second. With `slidelab serve --ray`, a request for several
slides runs the same steps on the Ray cluster instead (`cluster.py`), one task a slide,
and the greenlet follows their events alike. A result ends `completed`, `failed` or
`cancelled` (viewing.py shows only what is whole).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from shapely.geometry.base import BaseGeometry

from server import apps
from server.device import select_device
from server.errors import Conflict, UserError
from server.events import room
from server.inference import requests
from server.inference.pipeline import run_defaults
from server.inference.planning import SlideFacts
from server.inference.prediction import ModelSource, PredictionJob, Steps, predict_steps
from server.inference.regions import RegionSpec
from server.inference.results import now_iso, result_dir, stale_stores, store_path
from server.inference.tiler import STRIDE, TileGeometry
from server.inference.viewing import ResultViewer
from server.jobs import Throttle, compute, spawn
from server.models import model_from_state
from server.slides.library import SlideEntry
from server.slides.metadata import slide_bounds

if TYPE_CHECKING:
    from server.context import Context
    from server.inference.cluster import RayCluster

log = logging.getLogger(__name__)

# A live preview must come back within a few seconds while training holds the CPU/GPU: it
# covers at most this many store pixels a side (the centre of a larger view), as one tile
# cut to the view's size without a context margin (only the view's own border lacks
# context). A 1024-px tile of Apply took 7-14 s on two CPU cores for the demo view; this
# one about a third of that.
PREVIEW_MAX_SIDE = 512
PREVIEW_MARGIN = 0
T = TypeVar("T")
_END = object()  # next()'s default: the steps are over


class Cancelled(Exception):
    """The user cancelled the job."""


@dataclass
class Job:
    """Live state of a queued or running result (the table has the durable state)."""

    rid: str
    cancelled: bool = False
    deleted: bool = False
    progress: float = 0.0
    eta_s: float | None = None
    started: float = field(default_factory=time.monotonic)


def _tile_geometry() -> TileGeometry:
    value = os.environ.get("SLIDELAB_INFERENCE_TILE")  # "core,margin", for experiments
    if value:
        core, margin = (int(v) for v in value.split(","))
        return TileGeometry(core, margin)
    return TileGeometry()


class InferenceJobs:
    """Starting, driving, cancelling and deleting results (`ctx.inference`)."""

    def __init__(self, ctx: Context, viewer: ResultViewer) -> None:
        self.ctx = ctx
        self.data_dir = Path(ctx.config.data_dir)
        self.table = viewer.table
        self.viewer = viewer
        interrupted = self.table.fail_unfinished(
            "Interrupted: the server stopped before this result was finished"
        )
        if interrupted:
            log.warning("marked %d unfinished inference result(s) failed", interrupted)
        self.jobs: dict[str, Job] = {}
        self.cluster: RayCluster | None = None  # set by create_app under --ray
        self.device = select_device(ctx.config.device)
        self.geometry = _tile_geometry()
        self.batch_size = run_defaults(self.device.type == "cuda")[0]  # for memory checks

    # ---- starting jobs -----------------------------------------------------------------

    def check_slide(self, slide_id: Any) -> SlideEntry:
        """The slide to apply an app to (UserError when unknown or unreadable)."""
        return requests.readable_slide(self.ctx.library, slide_id)

    def submit(self, app_id: Any, slide_id: Any, region: Any, several: bool = False) -> str:
        """Validate and queue one inference; returns the result id (UserError if bad).

        One of `several` slides runs on the Ray cluster when the server has one."""
        config = compute(requests.checked_app, self.data_dir, app_id)
        self._check_memory(config)
        entry = self.check_slide(slide_id)
        spec = requests.slide_region(region, entry)
        roi = requests.roi_shape(self.ctx.store, entry, spec)
        meta = self._meta(entry, config)
        rid = self.table.insert(app_id, entry.id, spec.as_json(), meta)
        job = Job(rid)
        self.jobs[rid] = job

        def source(device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
            return apps.load_app_model(self.data_dir, app_id, device)

        if several and self.cluster is not None:
            spawn(self._drive, job, source, spec, entry, config, roi, on_cluster=True)
            return rid
        self.ctx.device_queue.submit(
            f"inference:{rid}", lambda: self._drive(job, source, spec, entry, config, roi)
        )
        return rid

    def preview(self, run_id: Any, slide_id: Any, bbox: Any) -> str:
        """Run a training run's current weights on a view; one result per run and slide.

        A run that has finished (no model in memory) previews with the app it made.
        """
        config, source = self._run_model(str(run_id))
        self._check_memory(config)
        entry = self.check_slide(slide_id)
        spec = requests.slide_region({"bbox": bbox}, entry)
        key = f"{run_id}:{entry.id}"
        row = self.table.by_preview_key(key)
        if row and row["id"] in self.jobs:
            return str(row["id"])  # the previous preview is still running: show that one
        meta = self._meta(entry, config) | {"run_id": str(run_id)}
        if row is None:
            rid = self.table.insert(f"run:{run_id}", entry.id, spec.as_json(), meta, key)
        else:
            rid = row["id"]
            self.table.update(
                rid,
                state="queued",
                progress=0.0,
                error=None,
                region=spec.as_json(),
                meta=meta,
                generation=row["generation"] + 1,
                finished=None,
            )
            self.viewer.forget(rid)
        job = Job(rid)
        self.jobs[rid] = job
        assert spec.bbox is not None  # a bbox region, clipped to the slide
        box = _preview_box(spec.bbox, config["mpp"], entry.details.mpp)
        geometry = _preview_geometry(box, config["mpp"], entry.details.mpp)
        spawn(self._drive, job, source, RegionSpec("bbox", bbox=box), entry, config, None, geometry)
        return rid

    def _run_model(self, run_id: str) -> tuple[dict[str, Any], ModelSource]:
        """(app-like config, model source) of a run's current weights, or of its app."""
        training = self.ctx.training
        try:
            config, state = training.current_model(run_id)
        except KeyError as exc:
            raise UserError(f"Unknown training run {run_id!r}") from exc
        except Exception as exc:  # the run has no model in memory (finished, queued, ...)
            app_id = training.describe(run_id, with_history=False).get("app_id")
            if not app_id:
                raise Conflict(str(exc), "Start or resume the run first.") from exc
            config = compute(requests.checked_app, self.data_dir, app_id)
            return config, lambda device: apps.load_app_model(self.data_dir, app_id, device)
        config = dict(config)
        config["classes"] = [dict(c, index=i) for i, c in enumerate(config["classes"])]
        return config, lambda device: (model_from_state(config, state, device), config)

    def _check_memory(self, config: dict[str, Any]) -> None:
        requests.check_memory(config, self.device, self.batch_size, self.geometry.size)

    def _meta(self, entry: SlideEntry, config: dict[str, Any]) -> dict[str, Any]:
        opened = self.ctx.tiles.handles.get(entry)
        dz_w, dz_h = opened.deepzoom.level_dimensions[-1]
        bounds = slide_bounds(opened.slide)
        return {
            "app_name": config.get("name"),
            "app_mpp": float(config["mpp"]),
            "classes": config["classes"],
            "slide_name": entry.name,
            "slide_mpp": entry.details.mpp,
            "slide_size": [entry.details.width, entry.details.height],
            "dzi": {
                "width": dz_w,
                "height": dz_h,
                "offset_x": bounds[0] if bounds else 0.0,
                "offset_y": bounds[1] if bounds else 0.0,
            },
            "bounds": list(bounds) if bounds else None,
            "warnings": [],
        }

    # ---- driving a job -----------------------------------------------------------------

    def _drive(
        self,
        job: Job,
        source: ModelSource,
        spec: RegionSpec,
        entry: SlideEntry,
        config: dict[str, Any],
        roi: BaseGeometry | None,
        geometry: TileGeometry | None = None,
        on_cluster: bool = False,
    ) -> None:
        rid = job.rid
        if job.cancelled:
            return
        row = self.table.get(rid)
        if row is None:
            return
        job.started = time.monotonic()
        self.table.update(rid, state="running", progress=0.0)
        self._emit_progress(rid, "running", job)
        state, error = "completed", None
        try:
            for stale in stale_stores(self.data_dir, rid, row["generation"]):
                compute(shutil.rmtree, stale, True)
            bounds = row["meta"].get("bounds")
            facts = SlideFacts(
                str(entry.path),
                entry.details.width,
                entry.details.height,
                entry.details.mpp,
                tuple(bounds) if bounds else None,
            )
            path = store_path(self.data_dir, rid, row["generation"])
            plan = PredictionJob(
                spec, facts, config, roi, geometry or self.geometry, path, row["meta"]
            )
            if on_cluster and self.cluster is not None:
                steps = self.cluster.steps(rid, plan, row["app_id"])
            else:
                steps = _in_threads(predict_steps(plan, source, self.device))
            self._run(job, steps)
        except Cancelled:
            state = "cancelled"
        except Exception as exc:
            if job.cancelled:  # a cancelled cluster result ends its steps with an error
                state = "cancelled"
            else:
                state, error = "failed", _describe(exc)
                log.exception("inference %s failed", rid)
        self._finish(job, state, error)

    def _run(self, job: Job, steps: Steps) -> None:
        """Follow a prediction's steps: its meta into the table, progress to watchers."""
        throttle = Throttle(4)
        with closing(steps):
            for event in steps:
                if job.cancelled:
                    raise Cancelled
                if "meta" in event:
                    self.table.update(job.rid, meta=event["meta"])
                    continue
                job.progress, job.eta_s = event["progress"], event["eta_s"]
                if throttle.ready():
                    self._emit_progress(job.rid, "running", job)
        if job.cancelled:
            raise Cancelled

    def _finish(self, job: Job, state: str, error: dict[str, Any] | None) -> None:
        rid = job.rid
        self.jobs.pop(rid, None)
        if job.deleted:
            compute(shutil.rmtree, result_dir(self.data_dir, rid), True)
            return
        progress = 1.0 if state == "completed" else job.progress
        self.table.update(rid, state=state, progress=progress, error=error, finished=now_iso())
        self.viewer.forget(rid)
        self._emit_progress(rid, state, job)
        if error:
            self.ctx.emit("job:error", {"result_id": rid, **error}, room("result", rid))
        self.ctx.emit("inference:done", {"result_id": rid, "state": state}, room("result", rid))

    def _emit_progress(self, rid: str, state: str, job: Job | None) -> None:
        payload = {
            "result_id": rid,
            "state": state,
            "progress": 1.0 if state == "completed" else (job.progress if job else 0.0),
            "eta_s": job.eta_s if job and state == "running" else None,
        }
        self.ctx.emit("inference:progress", payload, room("result", rid))

    def replay(self, ctx: Context, sid: str, rid: str) -> None:
        """On `watch {result_id}`: the current progress to that client."""
        row = self.table.get(rid)
        if row is None:
            return
        job = self.jobs.get(rid)
        payload = {
            "result_id": rid,
            "state": row["state"],
            "progress": job.progress if job else row["progress"],
            "eta_s": job.eta_s if job else None,
        }
        ctx.socketio.emit("inference:progress", payload, to=sid)

    def describe(self, row: dict[str, Any]) -> dict[str, Any]:
        """The API form of a result."""
        job = self.jobs.get(row["id"])
        meta = row["meta"]
        return {
            "id": row["id"],
            "state": row["state"],
            "progress": job.progress if job else row["progress"],
            "eta_s": job.eta_s if job else None,
            "app_id": row["app_id"],
            "app_name": meta.get("app_name"),
            "slide_id": row["slide_id"],
            "slide_name": meta.get("slide_name"),
            "region": row["region"],
            "classes": meta.get("classes", []),
            "mpp": meta.get("app_mpp"),
            "error": row["error"],
            "warnings": meta.get("warnings", []),
            "created": row["created"],
            "finished": row["finished"],
            "preview": row["preview_key"] is not None,
            "version": row["generation"],
            "postprocessing_key": self.viewer.postprocessing(row).key,
        }

    def get(self, rid: str) -> dict[str, Any]:
        """One result's record; 404 when unknown."""
        return self.viewer.get(rid)

    def cancel(self, rid: str) -> dict[str, Any]:
        """Cancel a queued or running result (a finished one is left as it is)."""
        row = self.get(rid)
        job = self.jobs.get(rid)
        if job is None:
            return row
        job.cancelled = True
        if self.ctx.device_queue.cancel(f"inference:{rid}"):
            self._finish(job, "cancelled", None)
        elif self.cluster is not None:
            self.cluster.cancel(rid)
        return self.get(rid)

    def delete(self, rid: str) -> None:
        """Remove a result and its files (cancelling it first when it runs)."""
        self.get(rid)
        job = self.jobs.get(rid)
        self.table.delete(rid)
        self.viewer.forget(rid)
        if job is not None:
            job.cancelled = job.deleted = True
            if self.ctx.device_queue.cancel(f"inference:{rid}"):
                self.jobs.pop(rid, None)
            else:
                if self.cluster is not None:
                    self.cluster.cancel(rid)
                return  # the driver removes the folder once it has stopped
        compute(shutil.rmtree, result_dir(self.data_dir, rid), True)


def _in_threads(steps: Generator[T, None, None]) -> Generator[T, None, None]:
    """A generator's items, each computed in a real thread (see server.jobs); closing
    this closes the generator there too."""
    try:
        while (item := compute(next, steps, _END)) is not _END:
            yield item
    finally:
        compute(steps.close)


def _preview_box(
    bbox: tuple[float, float, float, float], app_mpp: float, slide_mpp: float | None
) -> tuple[float, float, float, float]:
    """The bbox, shrunk about its centre to at most PREVIEW_MAX_SIDE app pixels a side."""
    x, y, w, h = bbox
    scale = app_mpp / slide_mpp if slide_mpp else 1.0
    side = PREVIEW_MAX_SIDE * scale
    nw, nh = min(w, side), min(h, side)
    return (x + (w - nw) / 2, y + (h - nh) / 2, nw, nh)


def _preview_geometry(
    box: tuple[float, float, float, float], app_mpp: float, slide_mpp: float | None
) -> TileGeometry:
    """One tile just large enough for the preview box (store pixels), no context margin."""
    scale = app_mpp / slide_mpp if slide_mpp else 1.0
    side = max(box[2], box[3]) / scale
    core = max(STRIDE, min(PREVIEW_MAX_SIDE, math.ceil(side / STRIDE) * STRIDE))
    return TileGeometry(core, PREVIEW_MARGIN)


def _describe(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, UserError):
        return {"message": exc.message, "hint": exc.hint}
    if isinstance(exc, apps.AppNotFound):
        return {"message": "The app no longer exists", "hint": "Choose another app."}
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return {"message": "The GPU ran out of memory", "hint": "Close other GPU programs."}
    name = type(exc).__name__
    if "OpenSlide" in name:
        return {"message": f"The slide could not be read: {exc}", "hint": None}
    return {"message": f"Inference failed: {exc}", "hint": "See the server log."}
