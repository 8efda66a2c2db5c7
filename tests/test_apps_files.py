"""App files: export to one zip and import back, validation that never unpickles."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from server import apps
from server.inference.predictor import Predictor
from server.models import build_model
from tests.inference_support import app_config, fitted_state, make_app


def _predict(data_dir: Path, app_id: str, pixels: np.ndarray) -> np.ndarray:
    model, config = apps.load_app_model(data_dir, app_id, torch.device("cpu"))
    return Predictor.for_app(model, config, torch.device("cpu"))(pixels, 0)


def test_export_then_import_predicts_identically(tmp_path: Path):
    source, target = tmp_path / "a", tmp_path / "b"
    app_id = make_app(source, name="Skin")
    exported = apps.export_app(source, app_id, tmp_path / "skin.slidelab-app")
    with zipfile.ZipFile(exported) as archive:
        assert sorted(archive.namelist()) == ["app.json", "model.safetensors"]
    imported = apps.import_app(target, exported)
    assert imported["id"] != app_id and imported["name"] == "Skin"
    original = apps.load_app_config(source, app_id)
    for key in ("architecture", "encoder", "classes", "mpp", "normalization", "training"):
        assert imported[key] == original[key]
    pixels = np.random.default_rng(1).integers(0, 255, (2, 96, 96, 3), dtype=np.uint8)
    assert np.array_equal(
        _predict(source, app_id, pixels), _predict(target, imported["id"], pixels)
    )


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _config_bytes(**changes) -> bytes:
    config = apps.normalize_config(app_config(), "x") | changes
    return json.dumps(config).encode()


def _weights(num_classes: int = 3) -> bytes:
    if num_classes == 3:
        return save_safetensors(fitted_state())
    model = build_model("unet", "resnet18", num_classes)
    return save_safetensors({k: v.contiguous() for k, v in model.state_dict().items()})


class Exploding:
    def __reduce__(self):
        return (print, ("pickle was loaded!",))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "zip"),
        ({"app.json": _config_bytes()}, "must contain"),
        ({"app.json": b"{not json", "model.safetensors": b""}, "damaged"),
        ({"app.json": _config_bytes(format="other"), "model.safetensors": b""}, "format"),
        ({"app.json": _config_bytes(architecture="resnet"), "model.safetensors": b""}, "unknown"),
        ({"app.json": _config_bytes(mpp=-1), "model.safetensors": b""}, "mpp"),
        ({"app.json": _config_bytes(num_classes=4), "model.safetensors": b""}, "classes"),
        (
            {"app.json": _config_bytes(), "model.safetensors": pickle.dumps(Exploding())},
            "safetensors",
        ),
        ({"app.json": _config_bytes(), "model.safetensors": "WEIGHTS2"}, "do not fit"),
    ],
)
def test_import_rejects_bad_files(tmp_path: Path, files, message: str, capsys):
    if files is None:
        path = tmp_path / "x.slidelab-app"
        path.write_bytes(b"this is not a zip")
    else:
        files = {k: (_weights(2) if v == "WEIGHTS2" else v) for k, v in files.items()}
        path = _zip(tmp_path / "x.slidelab-app", files)
    with pytest.raises(apps.AppInvalid, match=message):
        apps.import_app(tmp_path / "data", path)
    assert "pickle was loaded" not in capsys.readouterr().out
    assert apps.list_apps(tmp_path / "data") == []


def test_check_app_finds_damaged_files(tmp_path: Path):
    app_id = make_app(tmp_path)
    assert apps.check_app(tmp_path, app_id)["id"] == app_id
    weights = apps.app_dir(tmp_path, app_id) / apps.WEIGHTS_NAME
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad header}")
    with pytest.raises(apps.AppInvalid, match="weights"):
        apps.check_app(tmp_path, app_id)
    (apps.app_dir(tmp_path, app_id) / apps.CONFIG_NAME).write_text("{oops")
    with pytest.raises(apps.AppInvalid, match="JSON"):
        apps.check_app(tmp_path, app_id)
    with pytest.raises(apps.AppNotFound):
        apps.check_app(tmp_path, "missing")


def test_rename_and_delete(tmp_path: Path):
    app_id = make_app(tmp_path)
    assert apps.rename_app(tmp_path, app_id, "  Dermis v2 ")["name"] == "Dermis v2"
    assert apps.load_app_config(tmp_path, app_id)["name"] == "Dermis v2"
    with pytest.raises(apps.AppInvalid):
        apps.rename_app(tmp_path, app_id, "   ")
    apps.delete_app(tmp_path, app_id)
    assert apps.list_apps(tmp_path) == []
    with pytest.raises(apps.AppNotFound):
        apps.delete_app(tmp_path, app_id)


def test_weights_file_bytes_are_safetensors(tmp_path: Path):
    app_id = make_app(tmp_path)
    header = (apps.app_dir(tmp_path, app_id) / apps.WEIGHTS_NAME).read_bytes()[:8]
    size = int.from_bytes(header, "little")
    body = (apps.app_dir(tmp_path, app_id) / apps.WEIGHTS_NAME).read_bytes()[8 : 8 + size]
    assert json.loads(body)  # a JSON header, not a pickle
