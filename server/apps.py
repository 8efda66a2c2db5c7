"""The app store: trained models kept as folders `data_dir/apps/<id>/`.

Each app folder holds `app.json` (what the model is: architecture, classes and colours,
resolution, normalisation, training summary) and `model.safetensors` (its weights).
Weights are never pickled, so opening an app cannot run code. A new app is written
into a temporary folder and renamed into place, so a half-written app is never listed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from server.errors import UserError
from server.measure.postprocess import parse_steps
from server.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    context_scale,
    model_from_state,
)

FORMAT = "slidelab-app"
VERSION = 1
CONFIG_NAME = "app.json"
WEIGHTS_NAME = "model.safetensors"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

REQUIRED = ("name", "architecture", "encoder", "num_classes", "classes", "mpp", "patch_size")
# What training says about the model: final values, validation of these weights, and the
# iteration the weights are from.
OUTCOME = {"final": dict, "validation": dict, "weights_from_iteration": int}


class AppNotFound(KeyError):
    """No app with that id (or the id is not a valid app id)."""


class AppInvalid(ValueError):
    """An app config that does not describe a usable model."""


def apps_dir(data_dir: Path) -> Path:
    """The folder that holds every app."""
    return Path(data_dir) / "apps"


def app_dir(data_dir: Path, app_id: str) -> Path:
    """The folder of one app; AppNotFound for ids that could escape the apps folder."""
    if not isinstance(app_id, str) or not _ID.match(app_id):
        raise AppNotFound(app_id)
    return apps_dir(data_dir) / app_id


def now_iso() -> str:
    """The current UTC time as ISO 8601 (what `created` holds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def normalize_config(config: dict[str, Any], app_id: str) -> dict[str, Any]:
    """The full app.json for `config`: format, version, id, defaults; AppInvalid when unusable."""
    missing = [key for key in REQUIRED if key not in config]
    if missing:
        raise AppInvalid(f"app config lacks {', '.join(missing)}")
    classes = config["classes"]
    if len(classes) != int(config["num_classes"]) or int(config["num_classes"]) < 2:
        raise AppInvalid("an app needs one entry in classes per output channel (at least two)")
    out = {
        "format": FORMAT,
        "version": VERSION,
        "id": app_id,
        "name": str(config["name"]),
        "created": config.get("created") or now_iso(),
        "architecture": config["architecture"],
        "encoder": config["encoder"],
        "num_classes": int(config["num_classes"]),
        "classes": [
            {"index": i, "id": c.get("id"), "name": c["name"], "color": c["color"]}
            for i, c in enumerate(classes)
        ],
        "mpp": float(config["mpp"]),
        "patch_size": int(config["patch_size"]),
        "normalization": config.get("normalization")
        or {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "training": config.get("training") or {},
    }
    if config.get("postprocessing"):
        out["postprocessing"] = config["postprocessing"]
    if context_scale(config):  # the model also takes a coarser view (training/sampler.py)
        out["context_scale"] = context_scale(config)
    for key, kind in OUTCOME.items():  # from training (training/figures.py); not in older apps
        value = config.get(key)
        if isinstance(value, kind) and not isinstance(value, bool):  # else dropped
            out[key] = value
    return out


def save_app(data_dir: Path, config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """Store a new app (config + weights) and return its new id."""
    app_id = uuid.uuid4().hex[:12]
    full = normalize_config(config, app_id)
    final = app_dir(data_dir, app_id)
    tmp = apps_dir(data_dir) / f".tmp-{app_id}"
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT})
        (tmp / CONFIG_NAME).write_text(json.dumps(full, indent=2))
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return app_id


def load_app_config(data_dir: Path, app_id: str) -> dict[str, Any]:
    """The app.json of one app; AppNotFound when there is none."""
    path = app_dir(data_dir, app_id) / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise AppNotFound(app_id) from exc
    if config.get("format") != FORMAT:
        raise AppInvalid(f"{path} is not a slidelab app")
    return config


def load_app_state(data_dir: Path, app_id: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The app's config and its weights on the CPU."""
    config = load_app_config(data_dir, app_id)
    return config, load_file(str(app_dir(data_dir, app_id) / WEIGHTS_NAME), device="cpu")


def load_app_model(
    data_dir: Path, app_id: str, device: torch.device
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The app's model on `device` in eval mode, with its config."""
    config, state = load_app_state(data_dir, app_id)
    return model_from_state(config, state, device), config


def list_apps(data_dir: Path) -> list[dict[str, Any]]:
    """Every app's config, newest first; unreadable folders are skipped."""
    root = apps_dir(data_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            found.append(load_app_config(data_dir, folder.name))
        except (AppNotFound, AppInvalid, ValueError):
            continue
    return sorted(found, key=lambda c: (c.get("created", ""), c["id"]), reverse=True)


# ---- managing apps: validation, rename, delete, export and import (inference issue) ----

APP_FILE_SUFFIX = ".slidelab-app"
MAX_CONFIG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 4 << 30
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


MAX_NAME_CHARS = 200
MAX_CLASS_NAME_CHARS = 100
MPP_RANGE = (0.01, 1000.0)  # µm/px an app may work at
PATCH_RANGE = (16, 4096)  # px a side of the patches it was trained on
CONTEXT_SCALES = (0, 2, 4)  # its context view: none, or that many times a patch's view


def validate_config(config: Any) -> None:
    """Check an app.json against the schema; AppInvalid naming the first problem."""
    from server.models import ARCHITECTURES

    if not isinstance(config, dict):
        raise AppInvalid("app.json must hold a JSON object")
    if config.get("format") != FORMAT:
        raise AppInvalid(f"app.json is not a {FORMAT} file (format field)")
    version = config.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise AppInvalid(f"app.json version {_short(version)} is not supported")
    missing = [key for key in REQUIRED if key not in config]
    if missing:
        raise AppInvalid(f"app.json lacks {', '.join(missing)}")
    name = config["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise AppInvalid(f"the app needs a name of 1-{MAX_NAME_CHARS} characters")
    architecture, encoder = config["architecture"], config["encoder"]
    spec = ARCHITECTURES.get(architecture) if isinstance(architecture, str) else None
    if spec is None:
        raise AppInvalid(f"unknown architecture {_short(architecture)}")
    if not isinstance(encoder, str) or encoder not in spec.encoders:
        raise AppInvalid(f"{spec.label} does not take encoder {_short(encoder)}")
    _validate_classes(config)
    _check_number(config["mpp"], "mpp", *MPP_RANGE)
    patch = config["patch_size"]
    if isinstance(patch, bool) or not isinstance(patch, int):
        raise AppInvalid("patch_size must be a whole number of pixels")
    _check_number(patch, "patch_size", *PATCH_RANGE)
    _validate_normalization(config.get("normalization"))
    if config.get("context_scale", 0) not in CONTEXT_SCALES:
        raise AppInvalid("context_scale must be 0, 2 or 4")
    if config.get("training") is not None and not isinstance(config["training"], dict):
        raise AppInvalid("training must be an object")
    if config.get("created") is not None and not isinstance(config["created"], str):
        raise AppInvalid("created must be a date as text")
    try:
        parse_steps(config.get("postprocessing"), class_ids(config))
    except UserError as exc:
        raise AppInvalid(f"{', '.join(exc.fields) or 'postprocessing'}: {exc.message}") from exc


def class_ids(config: dict[str, Any]) -> list[int]:
    """The ids post-processing steps name the app's classes by: each class's id, or its
    index where the app does not record ids."""
    return [c["id"] if c.get("id") is not None else i for i, c in enumerate(config["classes"])]


def postprocessing_key(config: dict[str, Any]) -> str:
    """A short hash of the app's post-processing steps, "" when it has none."""
    steps = config.get("postprocessing") or []
    if not steps:
        return ""
    return hashlib.sha1(json.dumps(steps, sort_keys=True).encode()).hexdigest()[:12]


def _short(value: Any) -> str:
    """`value` for a message: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool); huge ints count as not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_number(value: Any, key: str, low: float, high: float) -> None:
    if not _is_number(value) or not low <= value <= high:
        raise AppInvalid(f"{key} must be a number from {low:g} to {high:g}")


def _validate_normalization(norm: Any) -> None:
    if norm is None:
        return
    for key in ("mean", "std"):
        values = norm.get(key) if isinstance(norm, dict) else None
        if not (isinstance(values, list) and len(values) == 3):
            raise AppInvalid(f"normalization.{key} must be three numbers")
        if not all(_is_number(v) for v in values):
            raise AppInvalid(f"normalization.{key} must be three finite numbers")
    if not all(v > 0 for v in norm["std"]):
        raise AppInvalid("normalization.std must be positive")


def _validate_classes(config: dict) -> None:
    num = config["num_classes"]
    if isinstance(num, bool) or not isinstance(num, int) or not 2 <= num <= 255:
        raise AppInvalid("num_classes must be an integer from 2 to 255")
    classes = config["classes"]
    if not isinstance(classes, list) or len(classes) != num:
        raise AppInvalid("classes must list one class per output channel")
    for i, cls in enumerate(classes):
        if not isinstance(cls, dict) or not isinstance(cls.get("name"), str):
            raise AppInvalid(f"class {i} needs a name")
        if len(cls["name"]) > MAX_CLASS_NAME_CHARS:
            raise AppInvalid(f"class {i}: names are limited to {MAX_CLASS_NAME_CHARS} characters")
        if not isinstance(cls.get("color"), str) or not _COLOR.match(cls["color"]):
            raise AppInvalid(f"class {i} needs a colour as #rrggbb")
        if cls.get("index", i) != i:
            raise AppInvalid(f"class {i} has index {_short(cls.get('index'))}")
        if not _valid_class_id(cls.get("id")):
            raise AppInvalid(f"class {i} has id {_short(cls.get('id'))}: expected a number")


def _valid_class_id(value: Any) -> bool:
    """A class id as trained apps record it: None or a whole number of at most 64 bits."""
    if value is None:
        return True
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def check_app(data_dir: Path, app_id: str) -> dict[str, Any]:
    """The config of an app that looks usable: valid app.json and a readable weights header.

    AppNotFound when absent; AppInvalid (with the reason) when its files are damaged.
    Reads only the safetensors header, so it is cheap enough for every request.
    """
    from safetensors import safe_open

    try:
        config = load_app_config(data_dir, app_id)
    except json.JSONDecodeError as exc:
        raise AppInvalid(f"app.json is not valid JSON ({exc.msg})") from exc
    validate_config(config)
    weights = app_dir(data_dir, app_id) / WEIGHTS_NAME
    try:
        with safe_open(str(weights), framework="pt") as handle:
            if not list(handle.keys()):
                raise AppInvalid("the weights file holds no tensors")
    except AppInvalid:
        raise
    except Exception as exc:
        raise AppInvalid(f"the weights file cannot be read ({exc})") from exc
    return config


def rename_app(data_dir: Path, app_id: str, name: str) -> dict[str, Any]:
    """Give an app a new display name; returns its config."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise AppInvalid("name must be 1-200 characters")
    config = load_app_config(data_dir, app_id)
    config["name"] = name.strip()
    _write_config(data_dir, app_id, config)
    return config


def set_postprocessing(data_dir: Path, app_id: str, steps: object) -> dict[str, Any]:
    """Replace an app's post-processing steps; UserError naming the field of a bad step."""
    config = load_app_config(data_dir, app_id)
    parsed = parse_steps(steps, class_ids(config))
    if parsed:
        config["postprocessing"] = parsed
    else:
        config.pop("postprocessing", None)
    _write_config(data_dir, app_id, config)
    return config


def _write_config(data_dir: Path, app_id: str, config: dict[str, Any]) -> None:
    path = app_dir(data_dir, app_id) / CONFIG_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2))
    tmp.replace(path)


def delete_app(data_dir: Path, app_id: str) -> None:
    """Remove an app's folder; AppNotFound when there is none."""
    folder = app_dir(data_dir, app_id)
    if not (folder / CONFIG_NAME).is_file():
        raise AppNotFound(app_id)
    trash = folder.with_name(f".deleted-{app_id}-{uuid.uuid4().hex[:6]}")
    folder.rename(trash)  # atomic: never listed half-deleted
    shutil.rmtree(trash, ignore_errors=True)


def export_app(data_dir: Path, app_id: str, out: Path) -> Path:
    """Write the app as one zip file (app.json + model.safetensors) at `out`."""
    import zipfile

    folder = app_dir(data_dir, app_id)
    config = load_app_config(data_dir, app_id)
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(CONFIG_NAME, json.dumps(config, indent=2), zipfile.ZIP_DEFLATED)
        archive.write(folder / WEIGHTS_NAME, WEIGHTS_NAME, zipfile.ZIP_STORED)
    return out


def read_app_file(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Config and weights of an exported app file, fully validated; AppInvalid if not.

    Only `app.json` (JSON) and `model.safetensors` are read, never pickles; the weights
    must load exactly (strict) into the model the config describes.
    """
    import zipfile

    from safetensors.torch import load as load_safetensors

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AppInvalid("not a slidelab app file (expected a zip archive)") from exc
    with archive:
        names = set(archive.namelist())
        if CONFIG_NAME not in names or WEIGHTS_NAME not in names:
            raise AppInvalid(f"the file must contain {CONFIG_NAME} and {WEIGHTS_NAME}")
        if archive.getinfo(CONFIG_NAME).file_size > MAX_CONFIG_BYTES:
            raise AppInvalid(f"{CONFIG_NAME} is too large")
        if archive.getinfo(WEIGHTS_NAME).file_size > MAX_WEIGHTS_BYTES:
            raise AppInvalid(f"{WEIGHTS_NAME} is too large")
        try:
            config = json.loads(archive.read(CONFIG_NAME))
            blob = archive.read(WEIGHTS_NAME)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise AppInvalid(f"the app file is damaged ({exc})") from exc
    validate_config(config)
    try:
        state = load_safetensors(blob)
    except Exception as exc:
        raise AppInvalid(f"the weights are not a valid safetensors file ({exc})") from exc
    try:
        model_from_state(config, state)
    except RuntimeError as exc:
        raise AppInvalid("the weights do not fit the architecture the app describes") from exc
    return config, state


def import_app(data_dir: Path, path: Path) -> dict[str, Any]:
    """Add the app in an exported file under a new id; returns its config."""
    config, state = read_app_file(path)
    config = {k: v for k, v in config.items() if k not in ("format", "version", "id")}
    app_id = save_app(data_dir, config, state)
    return load_app_config(data_dir, app_id)
