"""HTTP API for training runs and TensorBoard (see the training API contract)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from server.annotations import classes as class_store
from server.annotations import repository
from server.api.slides import readable_slide
from server.context import Context, current_context
from server.errors import UserError, not_found
from server.models import ARCHITECTURES, imagenet_available
from server.training import settings as training_settings
from server.training.runs import RunService
from server.training.tensorboard import PREFIX, EmbeddedTensorBoard

bp = Blueprint("training", __name__)


def _service() -> RunService:
    return current_context().training


def _body() -> dict:
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise UserError("The request body must be a JSON object")
    return body


def _device_type() -> str:
    return _service().device.type


@bp.get("/api/training/options")
def options():
    """Device, defaults for it, architectures, encoders and the choices of every setting."""
    device = _device_type()
    archs = []
    for spec in ARCHITECTURES.values():
        item = {
            "name": spec.name,
            "label": spec.label,
            "encoders": list(spec.encoders),
            "default_encoder": spec.default_encoder,
        }
        if spec.cpu_warning and device == "cpu":
            item["cpu_warning"] = spec.cpu_warning
        archs.append(item)
    encoders = list(dict.fromkeys(e for spec in ARCHITECTURES.values() for e in spec.encoders))
    return jsonify(
        {
            "device": device,
            "defaults": training_settings.defaults(device),
            "architectures": archs,
            "encoders": encoders,
            "choices": training_settings.choices(),
            "mpp_presets": training_settings.MPP_PRESETS,
            "help": training_settings.HELP,
            "imagenet_cached": [e for e in encoders if imagenet_available(e)],
        }
    )


@bp.post("/api/training")
def start():
    """Start (or queue) a run: `{slides: [id], classes: [class_id], settings: {...}}`."""
    body = _body()
    ctx = current_context()
    slides = _slides(body.get("slides"))
    settings, errors = training_settings.validate(body.get("settings"), _device_type())
    chosen = _classes(body.get("classes"), slides)
    _check_class_weights(settings, chosen, errors)
    if errors:
        raise UserError(
            "Some settings are not valid",
            "Correct the fields marked in red.",
            fields=errors,
        )
    _check_labels(ctx, slides, chosen)
    run = _service().create(slides, chosen, settings)
    return jsonify({"run_id": run["id"], **run}), 201


def _slides(raw) -> list[dict]:
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise UserError("Choose at least one slide", fields={"slides": "must list slide ids"})
    out = []
    for slide_id in dict.fromkeys(raw):
        entry = readable_slide(slide_id)
        if not entry.details.mpp:
            raise UserError(
                f"Slide '{entry.name}' does not record its resolution (µm/px)",
                "Training needs calibrated slides.",
            )
        out.append({"id": entry.id, "name": entry.name})
    return out


def _classes(raw, slides: list[dict]) -> list[dict]:
    """The chosen classes in class order; all classes labelled on the slides when omitted."""
    store = current_context().store
    if raw is None or raw == []:
        labelled = set()
        for slide in slides:
            labelled |= set(repository.class_areas(store, slide["id"]))
        return [c for c in class_store.list_classes(store) if c["id"] in labelled]
    if not isinstance(raw, list) or not all(isinstance(c, int) for c in raw):
        raise UserError("classes must list class ids", fields={"classes": "must list ids"})
    known = {c["id"]: c for c in class_store.list_classes(store)}
    missing = [c for c in raw if c not in known]
    if missing:
        raise UserError(
            f"Unknown class id(s): {', '.join(map(str, missing))}",
            fields={"classes": "contains unknown classes"},
        )
    wanted = set(raw)
    return [c for c in known.values() if c["id"] in wanted]


def _check_class_weights(settings: dict, chosen: list[dict], errors: dict) -> None:
    weights = settings.get("class_weights")
    if settings["class_weighting"] != "manual" or "class_weights" in errors:
        return
    if isinstance(weights, list) and len(weights) != len(chosen):
        errors["class_weights"] = f"give one weight per class ({len(chosen)})"
    elif isinstance(weights, dict):
        ids = {str(c["id"]) for c in chosen}
        unknown = [k for k in weights if str(k) not in ids]
        if unknown:
            errors["class_weights"] = f"names classes that are not trained: {', '.join(unknown)}"


def _check_labels(ctx: Context, slides: list[dict], chosen: list[dict]) -> None:
    """No labels / fewer than two classes labelled: refused before a run is made."""
    labelled = set()
    for slide in slides:
        areas = repository.class_areas(ctx.store, slide["id"])
        labelled |= {c for c, area in areas.items() if area}
    chosen_labelled = [c for c in chosen if c["id"] in labelled]
    if not chosen_labelled:
        raise UserError(
            "There are no labels on the chosen slides",
            "Paint at least two classes on a slide before training.",
        )
    if len(chosen_labelled) < 2 and len(chosen) < 2 and len(labelled) >= 2:
        raise UserError(
            "Choose at least two classes to train",
            fields={"classes": "choose at least two classes"},
        )
    if len(chosen_labelled) < 2:
        name = chosen_labelled[0]["name"]
        raise UserError(
            f"Only one class ('{name}') is labelled; training needs at least two",
            "Paint another class, e.g. the background or the tissue around it.",
        )


@bp.get("/api/training")
def list_runs():
    """Every run, newest first, without history."""
    return jsonify(_service().list_runs())


@bp.get("/api/training/<run_id>")
def get_run(run_id: str):
    """One run with its whole history."""
    try:
        return jsonify(_service().describe(run_id))
    except KeyError as exc:
        raise not_found("Training run") from exc


@bp.post("/api/training/<run_id>/<action>")
def control(run_id: str, action: str):
    """pause, resume, stop or continue (`{iterations: N, learning_rate: L}`) a run."""
    service = _service()
    handlers = {
        "pause": service.pause,
        "resume": service.resume,
        "stop": service.stop,
        "continue": lambda rid: service.continue_(
            rid, _extra_iterations(), _continue_learning_rate()
        ),
    }
    if action not in handlers:
        raise not_found("Training action")
    try:
        return jsonify(handlers[action](run_id))
    except KeyError as exc:
        raise not_found("Training run") from exc


def _extra_iterations() -> int | None:
    value = _body().get("iterations")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
        raise UserError(
            "iterations must be a whole number from 1 to 10000000",
            fields={"iterations": "must be a whole number ≥ 1"},
        )
    return value


def _continue_learning_rate() -> float | None:
    """The learning rate a continued run goes on with (None: the run's own)."""
    value = _body().get("learning_rate")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise UserError(
            "learning_rate must be a number above 0 and at most 1",
            field="learning_rate",
        )
    return float(value)


def _tensorboard() -> EmbeddedTensorBoard:
    return current_context().tensorboard


@bp.get("/api/tensorboard")
def tensorboard_status():
    """Whether TensorBoard is loaded, and its URL (relative to this server)."""
    return jsonify(_tensorboard().status())


@bp.post("/api/tensorboard")
def tensorboard_start():
    """Load TensorBoard in this server and read the runs' event files; returns its URL."""
    return jsonify(_tensorboard().load())


@bp.route(f"{PREFIX}/", defaults={"path": ""}, methods=["GET", "POST"])
@bp.route(f"{PREFIX}/<path:path>", methods=["GET", "POST"])
def tensorboard_app(path: str):
    """TensorBoard itself, behind this server's token and request checks."""
    return _tensorboard().respond(request)
