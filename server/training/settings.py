"""Training settings: defaults chosen for the device, and validation with per-field messages.

Settings are a JSON object; `augmentation` is a nested group. Omitted settings take the
device's defaults. `validate` never raises for user input: it returns the complete
settings and a dict `{"field" or "group.field": message}` of everything wrong.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from server.models import ARCHITECTURES, EncoderWeightsError, encoder_weights_path
from server.training import memory

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step")
LOSSES = ("cross_entropy", "dice", "focal", "cross_entropy_dice")
CLASS_WEIGHTING = ("none", "auto", "manual")
ENCODER_WEIGHTS = ("none", "imagenet", "file")
MIXED_PRECISION = ("auto", "on", "off")
KEEP_WEIGHTS = ("best", "last")  # an app gets the best validated or the last weights
CONTEXT_SCALES = (0, 2, 4)  # context view: off, or that many times the patch's field of view

# Common objective magnifications and their usual resolution (10× ≙ 1 µm/px).
MPP_PRESETS = [
    {"label": "40×", "mpp": 0.25},
    {"label": "20×", "mpp": 0.5},
    {"label": "10×", "mpp": 1.0},
    {"label": "5×", "mpp": 2.0},
    {"label": "2.5×", "mpp": 4.0},
    {"label": "1.25×", "mpp": 8.0},
]

_AUGMENTATION = {
    "flips": True,
    "rotate90": True,
    "scale_jitter": 0.1,
    "brightness": 0.1,
    "contrast": 0.1,
    "saturation": 0.1,
    "hue": 0.02,
    "stain_jitter": 0.05,
    "blur": 0.0,
}

_COMMON = {
    "architecture": "unet",
    "encoder": "resnet18",
    "encoder_weights": "none",
    "weights_file": None,
    "optimizer": "adam",
    "momentum": 0.9,
    "weight_decay": 0.0001,
    "schedule": "constant",
    "warmup_iterations": 0,
    "step_size": 1000,
    "step_gamma": 0.5,
    "loss": "cross_entropy",
    "class_weighting": "none",
    "class_weights": None,
    "augmentation": _AUGMENTATION,
    # Input and sampling (sampler.class_probabilities): how patch centres are drawn
    "class_balance": 1.0,  # 0: as labelled pixels, 1: every class equally often
    "label_passes": 0.0,  # >0: iterations from the labelled area (at most `iterations`)
    # 0: off; 2 or 4: a second view, that many times the patch's field of view (sampler)
    "context_scale": 0,
    "validation_fraction": 0.15,  # spatial blocks held out (sampler.split_holdout)
    "validation_interval": 25,
    "early_stopping": False,
    "early_stopping_patience": 5,
    "keep_weights": "best",
    "mixed_precision": "auto",
    "seed": 0,
    "checkpoint_interval": 100,
    "tensorboard_image_interval": 100,
}

# On a CPU the demo slide's classes separate within a few minutes with these.
_CPU = {
    "mpp": 2.0,
    "patch_size": 128,
    "batch_size": 8,
    "learning_rate": 0.001,
    "iterations": 300,
}
_CUDA = {
    "mpp": 1.0,
    "patch_size": 256,
    "batch_size": 16,
    "learning_rate": 0.001,
    "iterations": 2000,
}


# One line of help per setting (dotted paths for augmentation): what it does, its unit, when
# to change it. The Advanced dialog shows it under the field, the OpenAPI document with it.
HELP: dict[str, str] = {
    "architecture": "The network: U-Net (default) for most tissue; DeepLabv3+ for large "
    "structures; FCN-8s is the classic, slower on a CPU.",
    "mpp": "µm per pixel the network sees: coarser (larger) for tissue regions, finer (smaller) "
    "for cells and nuclei.",
    "patch_size": "Side of a training patch in pixels (a multiple of 32): larger gives more "
    "context per step, and costs memory.",
    "batch_size": "Patches per iteration: more gives a steadier curve, and costs memory.",
    "learning_rate": "Step size of the optimizer: lower it when the curve jumps about, raise it "
    "when the loss falls very slowly.",
    "iterations": "Training steps; Continue adds more later without starting again.",
    "encoder": "The feature extractor inside the network: resnet18 is fast; deeper ones learn "
    "more from many labels.",
    "encoder_weights": "Start from ImageNet weights (when in the local cache; nothing is "
    "downloaded), from a .safetensors file, or from random weights (none).",
    "weights_file": "Path of a .safetensors file of encoder weights on the server.",
    "optimizer": "Adam (default) suits most runs; SGD with momentum needs a higher learning "
    "rate and more iterations.",
    "momentum": "SGD only: how much of the previous step carries over (0–1).",
    "weight_decay": "Shrinks weights a little every step (0–1), against over-fitting.",
    "schedule": "How the learning rate changes: constant, cosine (down to 0 at the end), or "
    "step (multiplied by the step factor every N iterations).",
    "warmup_iterations": "Iterations over which the learning rate rises from 0 at the start.",
    "step_size": "Step schedule only: iterations between learning-rate drops.",
    "step_gamma": "Step schedule only: factor the learning rate is multiplied by at each drop.",
    "loss": "What training minimises: cross-entropy (default); Dice or a mix helps small, "
    "rare classes; focal down-weights easy pixels.",
    "class_weighting": "Weight classes in the loss: none, auto (rarer classes weigh more), or "
    "manual (the weights below).",
    "class_weights": "Manual class weighting: one weight per class, 0 or more.",
    "augmentation.flips": "Random horizontal and vertical flips.",
    "augmentation.rotate90": "Random rotations by multiples of 90°.",
    "augmentation.scale_jitter": "Random zoom of ± this fraction (0.1 = ±10 %).",
    "augmentation.brightness": "Random brightness change of ± this fraction.",
    "augmentation.contrast": "Random contrast change of ± this fraction.",
    "augmentation.saturation": "Random saturation change of ± this fraction.",
    "augmentation.hue": "Random hue rotation of ± this fraction of the colour circle (0.02 = ±7°).",
    "augmentation.stain_jitter": "Random H&E stain change: each stain's optical density "
    "scaled and shifted by ± this fraction (scanner and staining differences).",
    "augmentation.blur": "Random Gaussian blur up to this sigma, in training pixels "
    "(0 = none; focus differences).",
    "class_balance": "1: every class is the centre of a patch equally often, so rare classes "
    "are seen as often as common ones. 0: uniform over labelled pixels (classes as often as "
    "they are labelled). "
    "In between: ∝ labelled pixels^(1 − balance).",
    "label_passes": "0: train the iterations set above. Above 0: as many iterations as "
    "needed to see the labelled area that many times (at most the iterations above).",
    "context_scale": "0: off. 2 or 4: the network also sees a coarser view around each "
    "patch, that many times its field of view (measured: +0.13–0.16 pixel-F1 on nuclei; "
    "Apply costs about 1.8×).",
    "validation_fraction": "Share of the labelled area held out, in spatial blocks, to "
    "measure the app on pixels it did not train on (0 = no validation).",
    "validation_interval": "Iterations between validations (validation line on the chart).",
    "early_stopping": "Stop when validation has not improved for the patience below.",
    "early_stopping_patience": "Validations without improvement before stopping early.",
    "keep_weights": "Which weights the app gets: the best validated (default) or the last.",
    "mixed_precision": "Half-precision maths on a GPU (auto: on CUDA only); faster, less "
    "memory. No effect on a CPU.",
    "seed": "Random seed: the same seed and settings repeat a run.",
    "checkpoint_interval": "Iterations between checkpoints (what Continue resumes from).",
    "tensorboard_image_interval": "Iterations between example images in TensorBoard.",
}


def defaults(device_type: str) -> dict[str, Any]:
    """Every setting with its default for a device type ("cpu" or "cuda")."""
    basic = _CUDA if device_type == "cuda" else _CPU
    merged = {"architecture": _COMMON["architecture"], **basic, **_COMMON}
    return copy.deepcopy(merged)


def choices() -> dict[str, list[str]]:
    """The allowed values of every choice setting, for the UI's select boxes."""
    return {
        "architecture": list(ARCHITECTURES),
        "optimizer": list(OPTIMIZERS),
        "schedule": list(SCHEDULES),
        "loss": list(LOSSES),
        "class_weighting": list(CLASS_WEIGHTING),
        "encoder_weights": list(ENCODER_WEIGHTS),
        "mixed_precision": list(MIXED_PRECISION),
        "keep_weights": list(KEEP_WEIGHTS),
    }


@dataclass(frozen=True)
class Number:
    """A numeric field: integer or real, inclusive bounds (exclusive low when `open_low`)."""

    integer: bool
    low: float
    high: float
    open_low: bool = False
    multiple_of: int | None = None

    def check(self, value: Any) -> str | None:
        """A message when `value` does not fit, else None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if isinstance(value, float) and not math.isfinite(value):  # ints: huge ones overflow
            return "must be a finite number"
        if self.integer and value != int(value):
            return "must be a whole number"
        if value < self.low or (self.open_low and value == self.low):
            bound = "greater than" if self.open_low else "at least"
            return f"must be {bound} {_fmt(self.low)}"
        if value > self.high:
            return f"must be at most {_fmt(self.high)}"
        if self.multiple_of and int(value) % self.multiple_of:
            return f"must be a multiple of {self.multiple_of}"
        return None

    def clean(self, value: Any) -> int | float:
        """The value as int or float."""
        return int(value) if self.integer else float(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


BIG = 10_000_000
NUMBERS: dict[str, Number] = {
    "mpp": Number(False, 0.05, 100.0, open_low=False),
    "patch_size": Number(True, 64, 2048, multiple_of=32),
    "batch_size": Number(True, 1, 1024),
    "learning_rate": Number(False, 0.0, 1.0, open_low=True),
    "iterations": Number(True, 1, BIG),
    "momentum": Number(False, 0.0, 0.999),
    "weight_decay": Number(False, 0.0, 1.0),
    "warmup_iterations": Number(True, 0, BIG),
    "step_size": Number(True, 1, BIG),
    "step_gamma": Number(False, 0.0, 1.0, open_low=True),
    "class_balance": Number(False, 0.0, 1.0),
    "label_passes": Number(False, 0.0, 10_000.0),
    "context_scale": Number(True, 0, 4),
    "validation_fraction": Number(False, 0.0, 0.5),
    "validation_interval": Number(True, 1, BIG),
    "early_stopping_patience": Number(True, 1, 10_000),
    "seed": Number(True, 0, 2**31 - 1),
    "checkpoint_interval": Number(True, 1, BIG),
    "tensorboard_image_interval": Number(True, 0, BIG),
}
AUGMENT_NUMBERS: dict[str, Number] = {
    "scale_jitter": Number(False, 0.0, 0.5),
    "brightness": Number(False, 0.0, 0.9),
    "contrast": Number(False, 0.0, 0.9),
    "saturation": Number(False, 0.0, 1.0),
    "hue": Number(False, 0.0, 0.5),
    "stain_jitter": Number(False, 0.0, 0.5),
    "blur": Number(False, 0.0, 5.0),
}
AUGMENT_FLAGS = ("flips", "rotate90")
CHOICES = {
    "architecture": tuple(ARCHITECTURES),
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "loss": LOSSES,
    "class_weighting": CLASS_WEIGHTING,
    "encoder_weights": ENCODER_WEIGHTS,
    "mixed_precision": MIXED_PRECISION,
    "keep_weights": KEEP_WEIGHTS,
}
FLAGS = ("early_stopping",)


def validate(raw: Any, device_type: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Complete settings (defaults filled in) and per-field error messages (empty when valid)."""
    settings = defaults(device_type)
    errors: dict[str, str] = {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return settings, {"settings": "must be an object"}
    for key, value in raw.items():
        if key not in settings:
            errors[key] = "is not a known setting"
        elif key == "augmentation":
            _merge_augmentation(settings["augmentation"], value, errors)
        else:
            message = _check_field(key, value)
            if message:
                errors[key] = message
            else:
                settings[key] = _clean_field(key, value)
    _check_together(settings, errors, "encoder" in raw, device_type)
    _check_memory(settings, errors, device_type)
    return settings, errors


def _check_memory(settings: dict, errors: dict[str, str], device_type: str) -> None:
    """Refuse a batch × patch² × model whose memory cannot fit (see server.training.memory).

    The sampler's cache of the labelled regions is bounded separately (sampler.MAX_CACHE_BYTES).
    """
    fields = ("architecture", "encoder", "batch_size", "patch_size", "augmentation.scale_jitter")
    if any(f in errors for f in fields):
        return
    for key, message in memory.check_training(settings, device_type).items():
        errors.setdefault(key, message)


def _merge_augmentation(target: dict, value: Any, errors: dict[str, str]) -> None:
    if not isinstance(value, dict):
        errors["augmentation"] = "must be an object"
        return
    for key, item in value.items():
        path = f"augmentation.{key}"
        if key in AUGMENT_FLAGS:
            if isinstance(item, bool):
                target[key] = item
            else:
                errors[path] = "must be true or false"
        elif key in AUGMENT_NUMBERS:
            message = AUGMENT_NUMBERS[key].check(item)
            if message:
                errors[path] = message
            else:
                target[key] = AUGMENT_NUMBERS[key].clean(item)
        else:
            errors[path] = "is not a known augmentation"


def _check_field(key: str, value: Any) -> str | None:
    if key in NUMBERS:
        return NUMBERS[key].check(value)
    if key in CHOICES:
        if value not in CHOICES[key]:
            return f"must be one of {', '.join(CHOICES[key])}"
        return None
    if key in FLAGS:
        return None if isinstance(value, bool) else "must be true or false"
    if key == "encoder":
        return None if isinstance(value, str) and value else "must name an encoder"
    if key == "weights_file":
        return None if value is None or isinstance(value, str) else "must be a file path"
    if key == "class_weights":
        return _check_class_weights(value)
    return None


def _check_class_weights(value: Any) -> str | None:
    if value is None:
        return None
    items = value.values() if isinstance(value, dict) else value
    if not isinstance(value, dict | list):
        return "must map class ids to weights"
    for weight in items:
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return "every weight must be a number"
        if not math.isfinite(weight) or weight < 0:
            return "every weight must be a number ≥ 0"
    if not any(w > 0 for w in items):
        return "at least one weight must be above 0"
    return None


def _clean_field(key: str, value: Any) -> Any:
    if key in NUMBERS:
        return NUMBERS[key].clean(value)
    if key == "weights_file" and isinstance(value, str):
        return value.strip() or None
    return value


def _check_together(
    settings: dict, errors: dict[str, str], encoder_given: bool, device_type: str
) -> None:
    """Rules that involve several fields (skipped for fields already in error)."""
    if "architecture" in errors:
        return
    spec = ARCHITECTURES[settings["architecture"]]
    if not encoder_given:
        settings["encoder"] = spec.default_encoder
    elif "encoder" not in errors and settings["encoder"] not in spec.encoders:
        errors["encoder"] = f"{spec.label} takes one of {', '.join(spec.encoders)}"
    _check_weights(settings, errors)
    if settings["mixed_precision"] == "on" and device_type != "cuda":
        errors["mixed_precision"] = "needs a CUDA device; use auto or off on this machine"
    if settings["early_stopping"] and settings["validation_fraction"] <= 0:
        errors["early_stopping"] = "needs a validation hold-out (validation_fraction above 0)"
    if "context_scale" not in errors and settings["context_scale"] not in CONTEXT_SCALES:
        errors["context_scale"] = "must be 0 (off), 2 or 4"
    if settings["class_weighting"] == "manual" and not settings["class_weights"]:
        errors.setdefault("class_weights", "give a weight per class for manual weighting")


def _check_weights(settings: dict, errors: dict[str, str]) -> None:
    choice = settings["encoder_weights"]
    if "encoder_weights" in errors or "encoder" in errors or choice == "none":
        return
    field = "weights_file" if choice == "file" else "encoder_weights"
    source = settings["weights_file"] if choice == "file" else "imagenet"
    if choice == "file" and not source:
        errors["weights_file"] = "give the path of a .safetensors weights file"
        return
    try:
        encoder_weights_path(settings["encoder"], source)
    except EncoderWeightsError as exc:
        errors[field] = f"{exc.message}. {exc.hint}" if exc.hint else exc.message


def encoder_weights_source(settings: dict) -> str | None:
    """What to pass as `encoder_weights` to build_model for validated settings."""
    choice = settings["encoder_weights"]
    if choice == "imagenet":
        return "imagenet"
    if choice == "file":
        return settings["weights_file"]
    return None


def uses_amp(settings: dict, device_type: str) -> bool:
    """Whether the run trains in mixed precision on this device."""
    return device_type == "cuda" and settings["mixed_precision"] != "off"
