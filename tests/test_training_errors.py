"""Every common training error ends cleanly with its message and hint; the server serves on."""

from __future__ import annotations

import shutil

import pytest
from safetensors.torch import save_file
from shapely.geometry import LineString, box, mapping

from server.models import build_model
from tests.helpers import DEMO_DIR, DEMO_SLIDE, ServerProcess, slide_id_by_name
from tests.test_training_api import Watcher, run_info
from tests.training_support import TINY, tissue_and_background, wait_for

BACKGROUND = {"name": "Background", "color": [240, 240, 240]}
TISSUE = {"name": "Tissue", "color": [192, 48, 122]}


def feature(geom, classification: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": mapping(geom),
        "properties": {"objectType": "annotation", "classification": classification},
    }


def put_labels(server, slide_id: str, features: list[dict]) -> dict[str, int]:
    """Replace the slide's labels through the annotations API; returns class ids by name."""
    body = {"type": "FeatureCollection", "features": features}
    response = server.request("PUT", f"/api/slides/{slide_id}/annotations", json=body)
    assert response.status_code == 200, response.text
    return {c["name"]: c["id"] for c in server.get("/api/classes").json()}


def train(server, slide_id: str, classes: list[int] | None = None, **settings):
    body = {"slides": [slide_id], "settings": {**TINY, "iterations": 3, **settings}}
    if classes is not None:
        body["classes"] = classes
    return server.post("/api/training", json=body)


def failed_with(server, run_id: str) -> dict:
    run = wait_for(server, run_id, lambda r: r["state"] == "failed" or r["state"] == "completed")
    assert run["state"] == "failed", run
    return run["error"]


@pytest.fixture(scope="module")
def labels():
    return tissue_and_background()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess([DEMO_DIR], tmp_path_factory.mktemp("errors-data")).start()
    srv.slide = slide_id_by_name(srv, DEMO_SLIDE.name)
    yield srv
    srv.stop()


def test_no_labels_and_a_single_labelled_class_are_refused(server, labels):
    tissue, background = labels
    for name in ("Background", "Tissue"):
        assert server.post("/api/classes", json={"name": name}).status_code == 201
    response = train(server, server.slide)
    assert response.status_code == 400
    assert response.json()["error"] == "There are no labels on the chosen slides"
    assert "Paint at least two classes" in response.json()["hint"]

    ids = put_labels(server, server.slide, [feature(tissue, TISSUE)])
    response = train(server, server.slide, [ids["Background"], ids["Tissue"]])
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Only one class ('Tissue') is labelled; training needs at least two"
    )

    ids = put_labels(
        server, server.slide, [feature(tissue, TISSUE), feature(background, BACKGROUND)]
    )
    response = train(server, server.slide, [ids["Tissue"]])
    assert response.status_code == 400
    assert response.json()["fields"] == {"classes": "choose at least two classes"}
    assert server.get("/api/training").json() == []  # nothing half-made


def test_labels_thinner_than_a_pixel_fail_the_run_with_a_hint(server, labels):
    tissue, background = labels
    thin = LineString([(300, 300), (1500, 2000)]).buffer(2)  # 4 level-0 px wide
    ids = put_labels(server, server.slide, [feature(thin, TISSUE), feature(background, BACKGROUND)])
    # A long run holds the device, so the failing run queues and a watcher sees it fail.
    blocker = train(server, server.slide, iterations=5000).json()["run_id"]
    run_id = train(server, server.slide, [ids["Background"], ids["Tissue"]], mpp=8.0).json()[
        "run_id"
    ]
    assert run_info(server, run_id)["state"] == "queued"
    watcher = Watcher(server, run_id)
    server.post(f"/api/training/{blocker}/stop")
    error = failed_with(server, run_id)
    assert error["message"] == (
        "The labels of 'Tissue' are thinner than one pixel at 8 µm/px and vanish"
    )
    assert "finer resolution" in error["hint"]
    wait_for(server, run_id, lambda r: watcher.errors)
    assert watcher.errors == [{"run_id": run_id, **error}]
    assert watcher.states[-1]["state"] == "failed" and watcher.states[-1]["error"] == error
    watcher.close()
    assert server.get("/api/health").json()["ok"] is True


def test_too_few_labels_for_a_hold_out_train_without_validation_and_say_so(server, labels):
    _, background = labels
    speck = box(0, 0, 16, 16)  # 2 training pixels wide at 4 µm/px, in the slide's corner
    features = [feature(speck, TISSUE), feature(background.difference(speck), BACKGROUND)]
    ids = put_labels(server, server.slide, features)
    response = train(server, server.slide, [ids["Background"], ids["Tissue"]], iterations=4)
    assert response.status_code == 201, response.text
    run = wait_for(server, response.json()["run_id"], lambda r: r["state"] == "completed")
    assert run["settings"]["validation_fraction"] == 0.15  # the default
    assert run["warnings"] == [
        "No validation: the labels of 'Tissue' are too few to hold part of every class out. "
        "The run trains on every label and the app keeps the last weights; paint more "
        "(in more than one place) to get validation figures."
    ]
    assert not any("val_loss" in p for p in run["history"])
    assert run["validation"] is None and run["final"]["val_loss"] is None
    assert run["weights_from_iteration"] == 4
    app = server.get(f"/api/apps/{run['app_id']}").json()
    assert app["weights_from_iteration"] == 4 and "validation" not in app


def test_a_loss_that_is_not_a_number_fails_with_a_learning_rate_hint(server, labels, tmp_path):
    tissue, background = labels
    put_labels(server, server.slide, [feature(tissue, TISSUE), feature(background, BACKGROUND)])
    broken = tmp_path / "broken-encoder.safetensors"
    encoder = build_model("unet", "resnet18", 2).encoder.state_dict()
    save_file({k: v.float().fill_(float("nan")) for k, v in encoder.items()}, str(broken))
    response = train(server, server.slide, encoder_weights="file", weights_file=str(broken))
    assert response.status_code == 201, response.text
    error = failed_with(server, response.json()["run_id"])
    assert error["message"] == "The loss became nan (not a finite number) at iteration 1"
    assert "Lower the learning rate" in error["hint"] and "encoder weights" in error["hint"]


def test_unavailable_encoder_weights_are_a_field_error(server, tmp_path):
    response = train(server, server.slide, encoder_weights="file", weights_file="/nowhere.pth")
    assert response.status_code == 400
    assert "Pickled checkpoints (.pth) are refused" in response.json()["fields"]["weights_file"]
    missing = str(tmp_path / "missing.safetensors")
    response = train(server, server.slide, encoder_weights="file", weights_file=missing)
    assert response.json()["fields"]["weights_file"].startswith("Encoder weights file not found")


def test_a_slide_that_became_unreadable_fails_the_run(tmp_path, labels):
    tissue, background = labels
    slides = tmp_path / "slides"
    slides.mkdir()
    copy = slides / DEMO_SLIDE.name
    shutil.copy(DEMO_SLIDE, copy)
    server = ServerProcess([slides], tmp_path / "data").start()
    try:
        slide = slide_id_by_name(server, DEMO_SLIDE.name)
        put_labels(server, slide, [feature(tissue, TISSUE), feature(background, BACKGROUND)])
        copy.write_bytes(b"not a slide any more" * 100)
        error = failed_with(server, train(server, slide).json()["run_id"])
        assert error["message"].startswith(f"Slide '{DEMO_SLIDE.name}' could not be read")
        assert "slide folder" in error["hint"]
        assert server.get("/api/health").json()["ok"] is True
    finally:
        server.stop()
