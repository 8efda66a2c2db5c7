"""HTTP API for apps: list, details, rename, delete, export and import as one file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file

from server import apps
from server.context import current_context
from server.downloads import attachment
from server.errors import Conflict, NotFound, UserError
from server.jobs import compute
from server.measure.postprocess import parse_steps

bp = Blueprint("apps", __name__)

MAX_IMPORT_BYTES = apps.MAX_WEIGHTS_BYTES + apps.MAX_CONFIG_BYTES
HIDDEN = ("format", "version")


def _data_dir() -> Path:
    return Path(current_context().config.data_dir)


def summary(config: dict) -> dict:
    """The API form of an app: its config without the file-format fields, its
    post-processing steps (always a list) and their key."""
    out = {k: v for k, v in config.items() if k not in HIDDEN}
    out["postprocessing"] = config.get("postprocessing") or []
    out["postprocessing_key"] = apps.postprocessing_key(config)
    return out


def _config(app_id: str) -> dict:
    try:
        return compute(apps.load_app_config, _data_dir(), app_id)
    except apps.AppNotFound as exc:
        raise NotFound("App not found") from exc
    except (apps.AppInvalid, ValueError) as exc:
        raise Conflict(f"The app file is damaged: {exc}") from exc


@bp.get("/api/apps")
def list_apps():
    """Every app, newest first."""
    return jsonify([summary(c) for c in compute(apps.list_apps, _data_dir())])


@bp.get("/api/apps/<app_id>")
def get_app(app_id: str):
    """One app's details."""
    return jsonify(summary(_config(app_id)))


@bp.patch("/api/apps/<app_id>")
def update_app(app_id: str):
    """Rename and/or replace the post-processing steps: {name?, postprocessing?}."""
    config = _config(app_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not {"name", "postprocessing"} & set(body):
        raise UserError("Expected {name} and/or {postprocessing: [steps]}")
    if "postprocessing" in body:  # checked before anything is written
        parse_steps(body["postprocessing"], apps.class_ids(config))
    if "name" in body:
        try:
            config = compute(apps.rename_app, _data_dir(), app_id, body["name"])
        except apps.AppInvalid as exc:
            raise UserError(str(exc), field="name") from exc
    if "postprocessing" in body:
        config = compute(apps.set_postprocessing, _data_dir(), app_id, body["postprocessing"])
    return jsonify(summary(config))


@bp.delete("/api/apps/<app_id>")
def delete_app(app_id: str):
    """Delete an app (results made with it keep their classes and stay viewable)."""
    _config(app_id)
    compute(apps.delete_app, _data_dir(), app_id)
    return jsonify({"deleted": app_id})


@bp.get("/api/apps/<app_id>/export")
def export_app(app_id: str):
    """The app as one `.slidelab-app` zip (app.json + model.safetensors)."""
    config = _config(app_id)
    # The file is unlinked as soon as it is open: nothing is left on disk whether or not
    # the client reads the response to its end.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"app{apps.APP_FILE_SUFFIX}"
        compute(apps.export_app, _data_dir(), app_id, path)
        stream = path.open("rb")
    response = send_file(stream, mimetype="application/zip")
    name = str(config.get("name") or "").strip() or app_id
    return attachment(response, f"{name}{apps.APP_FILE_SUFFIX}")


@bp.post("/api/apps/import")
def import_app():
    """Import an exported app (multipart field `file`) → 201 the new app."""
    request.max_content_length = MAX_IMPORT_BYTES
    upload = request.files.get("file")
    if upload is None:
        raise UserError("Send the app file as multipart field 'file'")
    tmp = tempfile.NamedTemporaryFile(suffix=apps.APP_FILE_SUFFIX, delete=False)  # noqa: SIM115
    tmp.close()
    path = Path(tmp.name)
    try:
        upload.save(path)
        config = compute(apps.import_app, _data_dir(), path)
    except apps.AppInvalid as exc:
        raise UserError(f"Not a valid slidelab app: {exc}") from exc
    finally:
        path.unlink(missing_ok=True)
    return jsonify(summary(config)), 201
