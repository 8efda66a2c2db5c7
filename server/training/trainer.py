"""The training step and everything it needs between steps (model, optimizer, sampler).

A `Trainer` is used from compute threads only, one call at a time: the run's greenlet
calls `step()` through `compute` and gets plain numbers back. On CUDA the next batch is
drawn on the CPU while the GPU still works on the current step.

Validation measures loss, error rate and a confusion matrix on fixed held-out batches every
`validation_interval` iterations (and on the last). The weights of the best measurement
(lowest validation loss, BatchNorm recalibrated) are kept aside for the app unless the
settings say `keep_weights: "last"`; they and their measurement are in the checkpoint.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from server.device import autocast, grad_scaler, prepare_model, to_device
from server.errors import UserError
from server.models import build_model, input_channels
from server.training.augment import AugmentConfig, augment, center, crop_size
from server.training.losses import class_weights, error_rate, make_loss
from server.training.prefetch import Prefetcher
from server.training.sampler import IGNORE, LabelCache, PatchSampler, add_context
from server.training.settings import encoder_weights_source, uses_amp
from server.training.tensorboard import RunLog

VALIDATION_BATCHES = 4
CALIBRATION_PATCHES = 32  # patches whose statistics BatchNorm's running averages get


@dataclass
class StepResult:
    """The figures of one iteration; `time` is the wall-clock time (epoch s) it ended."""

    iteration: int
    loss: float
    error_rate: float
    lr: float
    time: float
    val_loss: float | None = None
    val_error_rate: float | None = None

    def as_point(self) -> dict[str, Any]:
        """The history point of the API (validation figures only when measured)."""
        point = asdict(self)
        if point["val_loss"] is None:
            del point["val_loss"], point["val_error_rate"]
        return point


def learning_rate(settings: dict, iteration: int, total: int) -> float:
    """The learning rate of (0-based) `iteration`: warm-up, then the schedule."""
    base = settings["learning_rate"]
    warmup = settings["warmup_iterations"]
    if iteration < warmup:
        return base * (iteration + 1) / warmup
    schedule = settings["schedule"]
    if schedule == "cosine":
        span = max(1, total - warmup)
        progress = min(1.0, (iteration - warmup) / span)
        return base * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return base * settings["step_gamma"] ** ((iteration - warmup) // settings["step_size"])
    return base


def make_optimizer(settings: dict, params) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum, as the settings say.

    The fused implementations update all parameters in one kernel: on a CPU that makes
    Adam's step about four times faster than the per-tensor default.
    """
    lr, decay = settings["learning_rate"], settings["weight_decay"]
    params = list(params)
    kind: type[torch.optim.Optimizer]
    if settings["optimizer"] == "sgd":
        kind, extra = torch.optim.SGD, {"momentum": settings["momentum"]}
    elif settings["optimizer"] == "adamw":
        kind, extra = torch.optim.AdamW, {}
    else:
        kind, extra = torch.optim.Adam, {}
    try:
        return kind(params, lr=lr, weight_decay=decay, fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):  # a device or dtype without a fused kernel
        return kind(params, lr=lr, weight_decay=decay, **extra)


class Trainer:
    """Model, optimizer, sampler and logging of one run; `step()` does one iteration."""

    def __init__(
        self,
        settings: dict,
        classes: list[dict],
        cache: LabelCache,
        device: torch.device,
        run_dir: Path | None = None,
        prefetch: bool | None = None,
    ) -> None:
        self.settings = settings
        self.classes = classes
        self.device = device
        self.iterations = settings["iterations"]
        self.iteration = 0
        self.amp = uses_amp(settings, device.type)
        torch.manual_seed(settings["seed"])
        model = build_model(
            settings["architecture"],
            settings["encoder"],
            len(classes),
            encoder_weights_source(settings),
            in_channels=input_channels(settings),
        )
        self.model = prepare_model(model, device).train()
        self.optimizer = make_optimizer(settings, self.model.parameters())
        self.scaler = grad_scaler(device, self.amp)
        self.patch = settings["patch_size"]
        self.augment = AugmentConfig.from_settings(settings["augmentation"])
        crop = crop_size(self.patch, self.augment.scale_jitter)
        inner = int(self.patch / (1 + self.augment.scale_jitter))
        if settings.get("context_scale"):  # a second, coarser view around each crop
            crop += crop % 2  # an even crop has a centre on the context grid (PatchSampler)
            add_context(cache, settings["context_scale"], crop, workers=2)
        self.sampler = PatchSampler(
            cache, crop, settings["seed"], inner=inner, balance=settings.get("class_balance", 1.0)
        )
        self.gen = torch.Generator().manual_seed(settings["seed"])  # augmentation, on the CPU
        manual = manual_weights(settings, classes)
        weights = class_weights(settings["class_weighting"], cache.class_pixels, manual)
        self.loss_fn = make_loss(
            settings["loss"], weights.to(device) if weights is not None else None
        )
        self.val_set = []
        if settings["validation_fraction"] > 0:
            batches = self.sampler.validation_set(
                VALIDATION_BATCHES, settings["batch_size"], settings["seed"]
            )
            self.val_set = [(_tensor(i), _tensor(lb)) for i, lb in batches]
        self.best_val = math.inf
        self.stale_validations = 0
        # Validation measurements {iteration, loss, error_rate, confusion}: the latest one,
        # the best one (lowest loss) and the best one's weights (CPU, BatchNorm recalibrated).
        self.last_validation: dict[str, Any] | None = None
        self.best_validation: dict[str, Any] | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.log = RunLog(run_dir / "tb", classes) if run_dir else None
        self._calibration_rng = np.random.default_rng(settings["seed"] + 1)
        # On a GPU the next batch is drawn in a background thread while the step runs.
        use_thread = device.type == "cuda" if prefetch is None else prefetch
        self._prefetch = Prefetcher(self._draw) if use_thread else None
        self._ready: tuple[torch.Tensor, torch.Tensor] | None = None
        self._next_batch()

    # ---- one iteration ---------------------------------------------------------------

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        # A checkpoint stores the sampler state from before the pending batch was drawn,
        # so that a restored trainer draws that same batch next.
        self._sampler_state = self.sampler.state_dict()
        batch, crop = self.settings["batch_size"], self.sampler.crop
        pin = self.device.type == "cuda"  # crops land in pinned memory: async copies to the GPU
        channels = self.sampler.channels
        images = torch.empty((batch, crop, crop, channels), dtype=torch.uint8, pin_memory=pin)
        labels = torch.empty((batch, crop, crop), dtype=torch.uint8, pin_memory=pin)
        self.sampler.draw(batch, out=(images.numpy(), labels.numpy()))
        return images, labels

    def _next_batch(self) -> None:
        """Start drawing the next batch (in the background on a GPU)."""
        if self._prefetch is not None:
            self._prefetch.request()
        else:
            self._ready = self._draw()

    def _take_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch for this step; the following one starts drawing at once."""
        if self._ready is not None:
            batch, self._ready = self._ready, None
        else:
            assert self._prefetch is not None  # no ready batch: one is being prefetched
            batch = self._prefetch.get()
        self._next_batch()
        return batch

    def _settle_batch(self) -> None:
        """Wait for a background draw in flight and keep its batch for the next step."""
        if self._prefetch is not None and self._ready is None:
            self._ready = self._prefetch.get()

    def step(self) -> StepResult:
        """Train on one batch and return the iteration's figures (UserError on failure)."""
        try:
            return self._step()
        except torch.OutOfMemoryError as exc:
            self.model.zero_grad(set_to_none=True)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise UserError(
                "The GPU ran out of memory",
                "Use a smaller batch size or patch size, or close other GPU programs.",
            ) from exc

    def _step(self) -> StepResult:
        lr = learning_rate(self.settings, self.iteration, self.iterations)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, labels = self._take_batch()
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        x, y = augment(images, labels, self.patch, self.augment, self.gen)
        x = to_device(x, self.device)
        with autocast(self.device, self.amp):
            logits = self.model(x)
        loss = self.loss_fn(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        wrong, labelled = error_rate(logits.detach(), y)
        # One device sync per step, for the three figures together.
        figures = torch.stack([loss.detach().float(), wrong.float(), labelled.float()])
        loss_value, wrong, labelled = figures.tolist()
        self.iteration += 1
        if not math.isfinite(loss_value):
            hint = "Lower the learning rate (e.g. by 10×) and train again."
            if self.iteration == 1:
                hint += " At the first iteration it can also mean broken encoder weights."
            raise UserError(
                f"The loss became {loss_value} (not a finite number) at iteration {self.iteration}",
                hint,
            )
        result = StepResult(
            self.iteration,
            loss_value,
            wrong / max(labelled, 1.0),
            lr,
            time.time(),
        )
        self._after_step(result, x, y, logits)
        result.time = time.time()
        return result

    def _after_step(self, result: StepResult, x, y, logits) -> None:
        interval = self.settings["validation_interval"]
        if self.val_set and (self.iteration % interval == 0 or self.iteration == self.iterations):
            record = self.validate()
            result.val_loss, result.val_error_rate = record["loss"], record["error_rate"]
            self._track_validation(record)
        if self.log:
            self.log.scalars(result)
            every = self.settings["tensorboard_image_interval"]
            if every and (self.iteration % every == 0 or self.iteration == 1):
                self.log.images(self.iteration, x[0, :3], y[0], logits[0].detach())

    def recalibrate_batchnorm(self) -> None:
        """Recompute BatchNorm running statistics for the current weights ("precise BN").

        Training uses batch statistics; the running averages used at inference lag behind
        weights that change quickly, which with small batches can flip an otherwise good
        model's predictions. A few forward passes on unaugmented patches, averaged with
        equal weight, make inference see the statistics of the weights it runs. The patches
        are centred uniformly over the labelled pixels, whatever the class balance, so that
        they look like the images the app will meet (class-balanced patches of a rare class
        gave statistics that halved its recall on new images). Uses its own random state,
        so training continues exactly as it would have.
        """
        norms = [m for m in self.model.modules() if isinstance(m, _BatchNorm)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        batch = self.settings["batch_size"]
        self.model.train()
        with torch.no_grad():
            for _ in range(min(8, max(2, math.ceil(CALIBRATION_PATCHES / batch)))):
                images, labels = self.sampler.draw(
                    batch, rng=self._calibration_rng, as_labelled=True
                )
                x, _ = center(_tensor(images).to(self.device), _tensor(labels), self.patch)
                with autocast(self.device, self.amp):
                    self.model(to_device(x, self.device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum

    def validate(self) -> dict[str, Any]:
        """Loss, error rate and confusion matrix (pixels, rows true class, columns predicted)
        on the held-out batches, no augmentation, no gradients: `{iteration, loss,
        error_rate, confusion}`. BatchNorm statistics are recalibrated first."""
        self.recalibrate_batchnorm()
        self.model.eval()
        n = len(self.classes)
        total_loss = 0.0
        confusion = torch.zeros(n * n, dtype=torch.int64, device=self.device)
        with torch.no_grad():
            for images, labels in self.val_set:
                x, y = center(images.to(self.device), labels.to(self.device), self.patch)
                with autocast(self.device, self.amp):
                    logits = self.model(to_device(x, self.device))
                total_loss += float(self.loss_fn(logits, y))
                labelled = y != IGNORE
                pairs = y[labelled] * n + logits.argmax(1)[labelled]
                confusion += torch.bincount(pairs, minlength=n * n)
        self.model.train()
        matrix = confusion.view(n, n).cpu()
        labelled = int(matrix.sum())
        wrong = labelled - int(matrix.diagonal().sum())
        return {
            "iteration": self.iteration,
            "loss": total_loss / len(self.val_set),
            "error_rate": wrong / max(labelled, 1),
            "confusion": matrix.tolist(),
        }

    def _track_validation(self, record: dict[str, Any]) -> None:
        self.last_validation = record
        if record["loss"] < self.best_val - 1e-6:
            self.best_val, self.stale_validations = record["loss"], 0
            self.best_validation = record
            # validate() recalibrated BatchNorm: these are the weights an app would get now.
            self.best_weights = {
                k: v.detach().to("cpu", copy=True).contiguous()
                for k, v in self.model.state_dict().items()
            }
        else:
            self.stale_validations += 1

    def validate_last(self) -> dict[str, Any] | None:
        """Validate the current weights unless this iteration already was (a stopped run);
        the measurement, or None without a hold-out or when already validated."""
        done = self.last_validation and self.last_validation["iteration"] == self.iteration
        if not self.val_set or self.iteration == 0 or done:
            return None
        record = self.validate()
        self._track_validation(record)
        if self.log:  # the validation scalars alone (the step's were written already)
            self.log.scalars(
                SimpleNamespace(
                    iteration=self.iteration,
                    time=time.time(),
                    val_loss=record["loss"],
                    val_error_rate=record["error_rate"],
                )
            )
        return record

    @property
    def keeps_best(self) -> bool:
        """Whether an app gets the best validated weights (rather than the last ones)."""
        return self.settings.get("keep_weights", "best") == "best" and self.best_weights is not None

    def kept(self) -> tuple[int, dict[str, Any] | None]:
        """The iteration whose weights an app gets now, and the validation of those weights
        (with `keep_weights: "last"`, the latest measurement; None without any)."""
        if self.keeps_best and self.best_validation is not None:
            return self.best_validation["iteration"], self.best_validation
        return self.iteration, self.last_validation

    def app_weights(self) -> tuple[dict[str, torch.Tensor], int]:
        """The weights for an app (best validated or last, as the settings say) and their
        iteration."""
        if self.keeps_best and self.best_weights and self.best_validation:
            return dict(self.best_weights), self.best_validation["iteration"]
        return self.weights(), self.iteration

    def log_final(self, final: dict[str, Any] | None) -> None:
        """Write the run's final values to TensorBoard (the figures module's definition)."""
        if self.log and final:
            self.log.final(final)
            self.log.flush()

    @property
    def should_stop_early(self) -> bool:
        """Early stopping: validation loss has not improved for `patience` validations."""
        return (
            self.settings["early_stopping"]
            and bool(self.val_set)
            and self.stale_validations >= self.settings["early_stopping_patience"]
        )

    # ---- state -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly: weights, optimizer, scaler, random states."""
        self._settle_batch()
        return {
            "iteration": self.iteration,
            "model": {k: v.contiguous() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self._sampler_state,
            "torch_rng": torch.get_rng_state(),
            "augment_rng": self.gen.get_state(),
            "best_val": self.best_val,
            "stale_validations": self.stale_validations,
            "last_validation": self.last_validation,
            "best_validation": self.best_validation,
            "best_weights": self.best_weights or {},
        }

    def save_checkpoint(self, path: Path) -> int:
        """Write the state atomically (tensors and plain values only); returns the iteration."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        if self.log:
            self.log.flush()
        return self.iteration

    def load_checkpoint(self, path: Path) -> int:
        """Restore a checkpoint (weights-only unpickling); returns its iteration."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        self._settle_batch()  # no draw may run while the sampler's state is replaced
        self._ready = None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        self.gen.set_state(state["augment_rng"])
        self.best_val = state["best_val"]
        self.stale_validations = state["stale_validations"]
        self.last_validation = state.get("last_validation")
        self.best_validation = state.get("best_validation")
        self.best_weights = state.get("best_weights") or None
        if self.best_validation is None:  # a checkpoint from before the best was kept
            self.best_weights = None
        self.iteration = state["iteration"]
        self._next_batch()
        return self.iteration

    def weights(self) -> dict[str, torch.Tensor]:
        """The model's weights on the CPU for inference (an app, a live preview)."""
        self.recalibrate_batchnorm()
        return {k: v.detach().to("cpu").contiguous() for k, v in self.model.state_dict().items()}

    def close(self) -> None:
        """Flush and close the TensorBoard log; end the prefetch thread."""
        if self._prefetch is not None:
            self._prefetch.close()
        if self.log:
            self.log.close()


def _tensor(array: np.ndarray, pin: bool = False) -> torch.Tensor:
    tensor = torch.from_numpy(array)
    return tensor.pin_memory() if pin else tensor


def manual_weights(settings: dict, classes: list[dict]) -> list[float] | None:
    """Manual class weights in class order: from a list, or a dict keyed by class id (1.0
    for classes it does not name)."""
    weights = settings.get("class_weights")
    if isinstance(weights, list):
        return [float(w) for w in weights]
    if isinstance(weights, dict):
        by_id: dict[Any, float] = weights
        return [float(by_id.get(str(c["id"]), by_id.get(c["id"], 1.0))) for c in classes]
    return None
