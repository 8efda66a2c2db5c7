"""Training runs: states, SQLite records, the greenlet that drives a run, events.

A run's greenlet (started through the device queue, so one run per device at a time)
prepares the label cache and the model in compute threads, then loops: check the
pause/stop flags, run one step in `compute`, collect its figures. Collected figures
are emitted to room `run:<id>` and stored at most ~10 times per second, each event
carrying every iteration since the previous one. Emitting and storing happen in one
greenlet without yielding in between, and a `watch` replay reads the store without
yielding either, so a watcher gets every iteration exactly once, in order.

States: queued → running ⇄ paused → completed | stopped | failed; a server that dies
leaves runs "interrupted" (set at the next start). stopped/interrupted/completed runs
can be continued from their last checkpoint.

A running run first prepares (`phase` "preparing": merging each slide's label pieces, reading
and rasterising the labelled regions, building the model), with `progress` {step, done,
total} sent as `training:progress` events, then trains (`phase` "training"). Preparation
counts in the run's `duration_s` and is also reported alone as `prepare_s`. Everything the
run computes runs in its own thread (server/training/worker.py), at a lower CPU priority
on a CPU so that tiles keep their latency.

What a run reports about its outcome (`final`, `validation`, `weights_from_iteration`,
`warnings`) is the same in the run JSON, its Socket.IO events and its app: `final` and the
per-class validation figures are defined once, in server/training/figures.py.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from server.annotations import repository
from server.apps import save_app
from server.context import Context
from server.device import describe
from server.errors import Conflict, UserError
from server.events import room
from server.jobs import Event, Lock, Throttle, compute, sleep, spawn
from server.store import from_json, to_json
from server.training import figures
from server.training.app_config import Lineage, app_config
from server.training.run_table import RunTable
from server.training.sampler import SlideSource, iterations_for_passes, load_cache
from server.training.trainer import Trainer
from server.training.worker import CoreGovernor, RunThread, ThreadPlan

log = logging.getLogger(__name__)

QUEUED, RUNNING, PAUSED = "queued", "running", "paused"
STOPPED, COMPLETED, FAILED, INTERRUPTED = "stopped", "completed", "failed", "interrupted"
ACTIVE = (QUEUED, RUNNING, PAUSED)
PREPARING, TRAINING = "preparing", "training"  # the phases of a running or paused run
PREPARE_STEPS = ("labels", "regions", "model")
PROGRESS_INTERVAL = 0.1  # s between training:progress events at most
CONTINUABLE = (STOPPED, INTERRUPTED, COMPLETED)
EVENT_RATE = 10.0  # training:iteration events per second at most
SPEED_WINDOW = 20  # iterations the it/s figure averages over


@dataclass(frozen=True)
class Progress:
    """How far preparation is: `step` (labels: slides merged; regions: labelled regions read
    and rasterised; model: built), `done` of `total`. Replaced whole, never changed in
    place, so a working thread can publish it while a greenlet reads it."""

    step: str = "labels"
    done: int = 0
    total: int = 0


@dataclass
class LiveRun:
    """What only exists while a run is queued or in its greenlet: flags, unsent points."""

    run_id: str
    stop: bool = False
    pause: bool = False
    resumed: Event = field(default_factory=Event)
    pending: list[dict] = field(default_factory=list)
    ends: deque = field(default_factory=lambda: deque(maxlen=SPEED_WINDOW))
    recent: deque = field(default_factory=lambda: deque(maxlen=figures.FINAL_MAX))
    trainer: Trainer | None = None
    throttle: Throttle = field(default_factory=lambda: Throttle(EVENT_RATE))
    phase: str | None = None  # PREPARING, then TRAINING
    progress: Progress = field(default_factory=Progress)
    prepare_started: float = 0.0  # time.monotonic() when preparation began
    worker: RunThread | None = None  # the run's own thread, while its greenlet runs
    governor: CoreGovernor | None = None  # torch threads of each step (CPU)
    # One compute call on the trainer at a time (the loop's steps, a preview's weights).
    lock: Lock = field(default_factory=Lock)

    @property
    def thread(self) -> RunThread:
        """The run's own thread (it exists while the run's greenlet runs)."""
        if self.worker is None:
            raise RuntimeError(f"run {self.run_id} has no thread now")
        return self.worker

    @property
    def it_per_s(self) -> float | None:
        """Iterations per second over the recent window (None before two iterations)."""
        if len(self.ends) < 2 or self.ends[-1] <= self.ends[0]:
            return None
        return (len(self.ends) - 1) / (self.ends[-1] - self.ends[0])


class RunService:
    """Creates, drives, controls and reports training runs."""

    def __init__(self, ctx: Context, device: torch.device, threads: ThreadPlan) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.device = device
        self.threads = threads
        self.live: dict[str, LiveRun] = {}
        self.table = RunTable(ctx.store)
        repository.ensure_schema(self.store)

    # ---- paths and records -------------------------------------------------------------

    @property
    def runs_dir(self) -> Path:
        """data_dir/runs: checkpoints and TensorBoard files, one folder per run."""
        return self.ctx.config.data_dir / "runs"

    def run_dir(self, run_id: str) -> Path:
        """One run's folder."""
        return self.runs_dir / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        """Where the run's latest checkpoint is kept."""
        return self.run_dir(run_id) / "checkpoint.pt"

    def recover(self) -> int:
        """At start-up: runs a dead server left active become interrupted; returns how many."""
        active = self.table.ids(ACTIVE)
        for run_id in active:
            self.table.update(run_id, state=INTERRUPTED)
        return len(active)

    def history(self, run_id: str) -> list[dict]:
        """Every iteration of a run so far, in order (stored, then not yet stored)."""
        live = self.live.get(run_id)
        return self.table.history(run_id) + (list(live.pending) if live else [])

    def describe(self, run_id: str, with_history: bool = True) -> dict:
        """The run as the API shows it (KeyError when unknown)."""
        row = self.table.row(run_id)
        live = self.live.get(run_id)
        it_per_s = live.it_per_s if live and live.it_per_s else row["it_per_s"]
        remaining = row["iterations"] - row["iteration"]
        running = row["state"] in ACTIVE
        history = self.history(run_id)
        body = {
            "id": row["id"],
            "state": row["state"],
            "settings": from_json(row["settings"]),
            "slides": from_json(row["slides"]),
            "classes": [c["id"] for c in from_json(row["classes"])],
            "class_info": from_json(row["classes"]),
            "iteration": row["iteration"],
            "iterations": row["iterations"],
            "checkpoint_iteration": row["checkpoint_iteration"],
            "app_id": row["app_id"],
            "error": from_json(row["error"]),
            "it_per_s": it_per_s,
            "eta_s": remaining / it_per_s if running and it_per_s else None,
            "duration_s": row["duration_s"],
            "prepare_s": row["prepare_s"],
            **_phase(live, row["state"]),
            "device": row["device"],
            "created": row["created"],
            "updated": row["updated"],
            **self._outcome(run_id, row, history),
        }
        if live and live.pending:
            body["iteration"] = live.pending[-1]["iteration"]
        if with_history:
            body["history"] = history
        return body

    def _outcome(self, run_id: str, row, history: list[dict]) -> dict:
        """`final`, `validation` (of the weights the app keeps), `weights_from_iteration` and
        `warnings` of a run: from its trainer while it has one, else as last stored."""
        stored, record, kept_iteration = self.table.report(run_id)
        live = self.live.get(run_id)
        trainer = live.trainer if live else None
        if trainer is not None and trainer.iteration > 0:
            kept_iteration, record = trainer.kept()
        settings = from_json(row["settings"])
        warnings = list(stored)
        found = figures.overfitting(history)
        if found:
            keep = settings.get("keep_weights", "best")
            warnings.append(figures.overfitting_warning(found, keep, kept_iteration))
        if not settings.get("validation_fraction"):
            warnings.append(
                "No validation hold-out (validation fraction 0): no validation "
                "figures, and the app keeps the last weights."
            )
        return {
            "final": figures.final_values(history),
            "validation": figures.validation_report(record, from_json(row["classes"])),
            "weights_from_iteration": kept_iteration,
            "warnings": warnings,
        }

    def list_runs(self) -> list[dict]:
        """Every run, newest first, without history."""
        return [self.describe(run_id, with_history=False) for run_id in self.table.ids()]

    # ---- creating and controlling ------------------------------------------------------

    def create(self, slides: list[dict], classes: list[dict], settings: dict) -> dict:
        """Record a new run and queue it; `slides` [{id, name}], `classes` [{id, name, color}]."""
        run_id = uuid.uuid4().hex[:12]
        indexed = [
            {"index": i, "id": c["id"], "name": c["name"], "color": c["color"]}
            for i, c in enumerate(classes)
        ]
        self.table.insert(run_id, QUEUED, settings, slides, indexed, describe(self.device))
        self._enqueue(run_id, resume=False)
        return self.describe(run_id, with_history=False)

    def _enqueue(self, run_id: str, resume: bool) -> None:
        self.live[run_id] = LiveRun(run_id)
        self.ctx.device_queue.submit(run_id, lambda: self._drive(run_id, resume))

    def pause(self, run_id: str) -> dict:
        """Ask a running run to pause after its current step."""
        state = self.table.row(run_id)["state"]
        live = self.live.get(run_id)
        if state not in (RUNNING, PAUSED) or live is None:
            raise Conflict(f"Only a running run can be paused (this one is {state})")
        live.pause = True
        return self.describe(run_id, with_history=False)

    def resume(self, run_id: str) -> dict:
        """Let a paused run go on with the same model and optimizer."""
        state = self.table.row(run_id)["state"]
        live = self.live.get(run_id)
        if state not in (PAUSED, RUNNING) or live is None:
            raise Conflict(f"Only a paused run can be resumed (this one is {state})")
        live.pause = False
        if not live.resumed.ready():
            live.resumed.send(True)
        return self.describe(run_id, with_history=False)

    def stop(self, run_id: str) -> dict:
        """Stop a run: a queued one at once, a running/paused one after its step (app saved)."""
        state = self.table.row(run_id)["state"]
        live = self.live.get(run_id)
        if state not in ACTIVE or live is None:
            raise Conflict(f"Only a queued, running or paused run can be stopped ({state})")
        if self.ctx.device_queue.cancel(run_id):
            self.live.pop(run_id, None)
            self._set_state(run_id, STOPPED)
            return self.describe(run_id, with_history=False)
        live.stop = True
        if not live.resumed.ready():
            live.resumed.send(True)
        return self.describe(run_id, with_history=False)

    def continue_(
        self, run_id: str, extra: int | None = None, learning_rate: float | None = None
    ) -> dict:
        """Queue a stopped/interrupted/completed run again from its checkpoint: `extra` more
        iterations from the checkpoint (None: up to its planned iterations), at a new base
        `learning_rate` when given (the schedule goes on from there)."""
        row = self.table.row(run_id)
        if row["state"] not in CONTINUABLE or run_id in self.live:
            raise Conflict(
                f"This run is {row['state']} now: only a stopped, interrupted or completed run"
                " can be continued",
                "Someone may have continued it already; the panel shows its state.",
            )
        start = row["checkpoint_iteration"] if self.checkpoint_path(run_id).exists() else 0
        if extra is not None:
            total = start + extra
        elif start < row["iterations"]:
            total = row["iterations"]
        else:
            raise Conflict(
                "The run has done all its iterations; say how many more to train",
                "Enter the iterations to add in the Continue dialog.",
            )
        changes: dict = {"iterations": total, "error": None, "state": QUEUED}
        if learning_rate is not None:
            settings = from_json(row["settings"])
            settings["learning_rate"] = learning_rate
            changes["settings"] = to_json(settings)
        self.table.update(run_id, **changes)
        self._enqueue(run_id, resume=True)
        self._emit_state(run_id)
        return self.describe(run_id, with_history=False)

    # ---- events ------------------------------------------------------------------------

    def replay(self, ctx: Context, sid: str, run_id: str) -> None:
        """`watch {run_id}`: send the whole history so far to one client."""
        try:
            run = self.describe(run_id)
        except KeyError:
            ctx.emit("job:error", {"run_id": run_id, "message": "Training run not found"}, sid)
            return
        # Unsent points go out with the next training:iteration event, not here.
        live = self.live.get(run_id)
        if live and live.pending:
            run["history"] = run["history"][: len(run["history"]) - len(live.pending)]
            run["iteration"] = run["history"][-1]["iteration"] if run["history"] else 0
        payload = {"run_id": run_id, **run}
        ctx.emit("training:history", payload, sid)

    def _emit_state(self, run_id: str) -> None:
        row = self.table.row(run_id)
        live = self.live.get(run_id)
        history = self.history(run_id)
        payload = {
            "run_id": run_id,
            "state": row["state"],
            "iteration": row["iteration"],
            "iterations": row["iterations"],
            "app_id": row["app_id"],
            "error": from_json(row["error"]),
            "duration_s": row["duration_s"],
            "prepare_s": row["prepare_s"],
            **_phase(live, row["state"]),
            **self._outcome(run_id, row, history),
        }
        self.ctx.emit("training:state", payload, room("run", run_id))

    def _emit_progress(self, live: LiveRun) -> None:
        """`training:progress`: how far the run's preparation is."""
        payload = {
            "run_id": live.run_id,
            "phase": live.phase,
            **asdict(live.progress),
            "elapsed_s": time.monotonic() - live.prepare_started,
        }
        self.ctx.emit("training:progress", payload, room("run", live.run_id))

    def _set_progress(self, live: LiveRun, step: str, done: int, total: int) -> None:
        """Publish progress (from any thread; the greenlet in `_reporting` sends it)."""
        live.progress = Progress(step, done, total)

    def _set_state(self, run_id: str, state: str, **values: Any) -> None:
        self.table.update(run_id, state=state, **values)
        self._emit_state(run_id)

    def _flush(self, live: LiveRun, iterations: int) -> None:
        """Emit and store the collected points (no yielding in between: see module doc)."""
        if not live.pending:
            return
        points, live.pending = live.pending, []
        last = points[-1]
        it_per_s = live.it_per_s
        eta = (iterations - last["iteration"]) / it_per_s if it_per_s else None
        payload = {"run_id": live.run_id, **last, "it_per_s": it_per_s, "eta_s": eta}
        payload["points"] = points
        payload["final"] = figures.final_values(live.recent)
        self.ctx.emit("training:iteration", payload, room("run", live.run_id))
        self.table.add_points(live.run_id, points, it_per_s)

    # ---- the driver --------------------------------------------------------------------

    def _drive(self, run_id: str, resume: bool) -> None:
        """The run's greenlet body (called by the device queue)."""
        live = self.live.get(run_id)
        if live is None:
            return
        trainer = None
        live.worker = RunThread(self.threads.nice if self.device.type == "cpu" else 0)
        live.governor = self.threads.governor() if self.device.type == "cpu" else None
        try:
            live.phase, live.prepare_started = PREPARING, time.monotonic()
            self._set_state(run_id, RUNNING, error=None)
            trainer = self._reporting(live, lambda: self._prepare(run_id, live, resume))
            live.trainer, live.phase = trainer, TRAINING
            self._prepared(run_id, live)
            self._loop(run_id, live, trainer)
        except UserError as exc:
            self._fail(run_id, live, exc.message, exc.hint)
        except Exception as exc:
            log.exception("training run %s crashed", run_id)
            self._fail(run_id, live, f"Training failed: {exc}", "See the server log for details.")
        finally:
            self.live.pop(run_id, None)
            if trainer is not None:
                live.thread.call(trainer.close)
                del trainer
            live.thread.close()
            if self.device.type == "cuda":  # hand the memory to the next job on the device
                compute(torch.cuda.empty_cache)

    def _reporting(self, live: LiveRun, work):
        """`work()` while a greenlet sends the run's progress whenever it changes."""
        sent: list[Progress | None] = [None]

        def report() -> None:
            if live.progress != sent[0]:
                sent[0] = live.progress
                self._emit_progress(live)

        def keep_reporting() -> None:
            while True:
                report()
                sleep(PROGRESS_INTERVAL)

        reporter = spawn(keep_reporting)
        try:
            return work()
        finally:
            reporter.kill()
            report()

    def _prepared(self, run_id: str, live: LiveRun) -> None:
        """Preparation is over: it counts in the run's duration, and is reported alone."""
        seconds = time.monotonic() - live.prepare_started
        row = self.table.row(run_id)
        self.table.update(
            run_id,
            duration_s=row["duration_s"] + seconds,
            prepare_s=row["prepare_s"] + seconds,
        )
        self._emit_state(run_id)

    def _prepare(self, run_id: str, live: LiveRun, resume: bool) -> Trainer:
        row = self.table.row(run_id)
        settings = from_json(row["settings"])
        classes = from_json(row["classes"])
        slides = from_json(row["slides"])
        sources = self._sources(slides, classes, live)
        cache = live.thread.call(
            load_cache,
            sources,
            settings["mpp"],
            _crop(settings),
            [c["name"] for c in classes],
            settings["validation_fraction"],
            settings["seed"],
            progress=lambda done, total: self._set_progress(live, "regions", done, total),
            workers=self.threads.workers,
        )
        self._set_progress(live, "model", 0, 1)
        trainer = live.thread.call(
            Trainer, settings, classes, cache, self.device, self.run_dir(run_id)
        )
        self._set_progress(live, "model", 1, 1)
        trainer.iterations = row["iterations"]
        if not resume and settings.get("label_passes"):
            trainer.iterations = min(
                row["iterations"],
                iterations_for_passes(
                    settings["label_passes"],
                    int(cache.class_pixels.sum()),
                    settings["batch_size"],
                    settings["patch_size"],
                ),
            )
            self.table.update(run_id, iterations=trainer.iterations)
        start = 0
        if resume and self.checkpoint_path(run_id).exists():
            start = live.thread.call(trainer.load_checkpoint, self.checkpoint_path(run_id))
        elif resume:
            shutil.rmtree(self.run_dir(run_id) / "tb", ignore_errors=True)
        self.table.rewind(run_id, start)
        self.table.save_report(run_id, warnings=to_json(cache.warnings))
        live.recent.extend(self.table.history(run_id)[-figures.FINAL_MAX :])
        return trainer

    def _sources(self, slides: list[dict], classes: list[dict], live: LiveRun):
        """Each slide's labels (class index -> geometry) and ROIs, read now."""
        index_of = {c["id"]: c["index"] for c in classes}
        sources: list[SlideSource] = []
        self._set_progress(live, "labels", 0, len(slides))
        for slide in slides:
            entry = self.ctx.library.get(slide["id"])
            if entry is None or not entry.readable:
                reason = entry.error if entry else "it is no longer in the slide folders"
                raise UserError(
                    f"Slide '{slide['name']}' cannot be read: {reason}",
                    "Put the file back or start a run without it.",
                )
            pieces = repository.load_label_pieces(self.store, slide["id"])
            pieces = {index_of[c]: p for c, p in pieces.items() if c in index_of}
            merged = live.thread.call(repository.merge_label_pieces, pieces)
            rois = repository.roi_geometries(self.store, slide["id"])
            sources.append(
                SlideSource(slide["id"], entry.name, entry.path, entry.details.mpp, merged, rois)
            )
            self._set_progress(live, "labels", len(sources), len(slides))
        return sources

    def _loop(self, run_id: str, live: LiveRun, trainer: Trainer) -> None:
        interval = trainer.settings["checkpoint_interval"]
        started = time.monotonic()
        duration = self.table.row(run_id)["duration_s"]
        while trainer.iteration < trainer.iterations and not live.stop:
            if live.pause:
                duration += time.monotonic() - started
                self._wait_paused(run_id, live, trainer, duration)
                started = time.monotonic()
                continue
            with live.lock:
                result = live.thread.call(_step, trainer, live.governor)
            live.pending.append(result.as_point())
            live.recent.append(live.pending[-1])
            live.ends.append(result.time)
            if live.throttle.ready():
                self._flush(live, trainer.iterations)
            if trainer.iteration % interval == 0:
                self._checkpoint(run_id, live, trainer)
            if trainer.should_stop_early:
                break
        duration += time.monotonic() - started
        self._finish(run_id, live, trainer, duration)

    def _wait_paused(self, run_id: str, live: LiveRun, trainer: Trainer, duration: float):
        self._flush(live, trainer.iterations)
        live.resumed = Event()
        self._set_state(run_id, PAUSED, duration_s=duration)
        if live.pause and not live.stop:
            live.resumed.wait()
        if not live.stop:
            self._set_state(run_id, RUNNING)

    def _checkpoint(self, run_id: str, live: LiveRun, trainer: Trainer) -> None:
        self._flush(live, trainer.iterations)
        with live.lock:
            iteration = live.thread.call(trainer.save_checkpoint, self.checkpoint_path(run_id))
        self.table.update(run_id, checkpoint_iteration=iteration)
        kept_iteration, record = trainer.kept()
        self.table.save_report(
            run_id, validation=to_json(record), weights_from_iteration=kept_iteration
        )

    def _finish(self, run_id: str, live: LiveRun, trainer: Trainer, duration: float) -> None:
        self._flush(live, trainer.iterations)
        state = STOPPED if live.stop else COMPLETED
        values: dict[str, Any] = {"duration_s": duration}
        if trainer.iteration > 0:
            self._validate_last(run_id, live, trainer)
            self._checkpoint(run_id, live, trainer)
            values["app_id"] = self._save_app(run_id, live, trainer, duration)
            live.thread.call(trainer.log_final, figures.final_values(self.history(run_id)))
        self._set_state(run_id, state, **values)

    def _validate_last(self, run_id: str, live: LiveRun, trainer: Trainer) -> None:
        """A run stopped between validations: validate its last weights too, so the app's
        choice of weights and the final validation figures include them."""
        with live.lock:
            record = live.thread.call(trainer.validate_last)
        if record is None:
            return
        self.table.set_validation(run_id, record["iteration"], record["loss"], record["error_rate"])

    def current_model(self, run_id: str) -> tuple[dict, dict[str, torch.Tensor]]:
        """For a live preview: an app-like config and the current weights of a running or
        paused run (KeyError when unknown, Conflict when it has no model now)."""
        row = self.table.row(run_id)
        live = self.live.get(run_id)
        if live is None or live.trainer is None:
            raise Conflict(f"The run has no model in memory now ({row['state']})")
        with live.lock:
            weights = live.thread.call(live.trainer.weights)
        config = self._app_config(run_id, live.trainer, row["duration_s"], live.trainer.iteration)
        return config, weights

    def _save_app(self, run_id: str, live: LiveRun, trainer: Trainer, duration: float) -> str:
        weights, iteration = live.thread.call(trainer.app_weights)
        config = self._app_config(run_id, trainer, duration, iteration)
        self.table.save_report(run_id, weights_from_iteration=iteration)
        return compute(save_app, self.ctx.config.data_dir, config, weights)

    def _app_config(self, run_id: str, trainer: Trainer, duration: float, weights_from: int):
        """The app.json of the run's model now; `weights_from`: the weights' iteration."""
        kept_iteration, record = trainer.kept()
        return app_config(
            run_id,
            self.table.row(run_id),
            trainer.settings,
            figures.final_values(self.history(run_id)),
            record if kept_iteration == weights_from else None,  # else a preview's weights
            Lineage(trainer.iteration, weights_from, duration),
        )

    def _fail(self, run_id: str, live: LiveRun, message: str, hint: str | None) -> None:
        self._flush(live, self.table.row(run_id)["iterations"])
        error = {"message": message, "hint": hint}
        log.warning("training run %s failed: %s", run_id, message)
        self._set_state(run_id, FAILED, error=to_json(error))
        self.ctx.emit("job:error", {"run_id": run_id, **error}, room("run", run_id))


def _step(trainer: Trainer, governor: CoreGovernor | None):
    """One training step, with as many torch threads as the governor allows now."""
    if governor is not None:
        governor.apply()
    return trainer.step()


def _phase(live: LiveRun | None, state: str) -> dict:
    """`phase` (preparing | training, None unless running or paused) and `progress` (the
    preparation's, None once training)."""
    phase = live.phase if live and state in (RUNNING, PAUSED) else None
    progress = asdict(live.progress) if live and phase == PREPARING else None
    return {"phase": phase, "progress": progress}


def _crop(settings: dict) -> int:
    from server.training.augment import crop_size

    return crop_size(settings["patch_size"], settings["augmentation"]["scale_jitter"])
