"""Training through the real server: learning on the demo slide, live events, controls,
queueing, tiles while training, TensorBoard event files (TensorBoard itself:
test_tensorboard.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import openslide
import pytest
import socketio
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from server.apps import load_app_config, load_app_model
from server.training.augment import normalize, to_float
from server.training.sampler import read_rgb
from tests.helpers import DEMO_SLIDE
from tests.test_openapi import check
from tests.training_support import (
    THUMB_DOWNSAMPLE,
    labelled_server,
    start_run,
    truth_masks,
    wait_for,
)

ERROR_BOUND = 0.05  # the finished app misclassifies under 5 % of the labelled pixels


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = labelled_server(tmp_path_factory.mktemp("training-data"))
    yield srv
    srv.stop()


def run_info(server, run_id: str) -> dict:
    return server.get(f"/api/training/{run_id}").json()


def control(server, run_id: str, action: str, **body) -> dict:
    response = server.post(f"/api/training/{run_id}/{action}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


class Watcher:
    """A separate Socket.IO client that watches one run and records what arrives."""

    def __init__(self, server, run_id: str) -> None:
        self.history: dict | None = None
        self.iterations: list[dict] = []
        self.states: list[dict] = []
        self.errors: list[dict] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("training:history", lambda d: setattr(self, "history", d))
        self.client.on("training:iteration", self.iterations.append)
        self.client.on("training:state", self.states.append)
        self.client.on("job:error", self.errors.append)
        self.client.connect(server.url, transports=["websocket"], wait_timeout=20)
        self.client.call("watch", {"run_id": run_id}, timeout=20)

    def points(self) -> list[int]:
        """Iteration numbers in arrival order: history first, then every event's points."""
        numbers = [p["iteration"] for p in self.history["history"]]
        for event in self.iterations:
            numbers += [p["iteration"] for p in event["points"]]
        return numbers

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture(scope="module")
def finished(server):
    """One run of 40 iterations with a hold-out, watched by a client that joins mid-run."""
    run_id = start_run(
        server,
        iterations=40,
        validation_fraction=0.25,
        validation_interval=10,
        tensorboard_image_interval=20,
    )
    wait_for(server, run_id, lambda r: r["iteration"] >= 8)
    watcher = Watcher(server, run_id)
    run = wait_for(server, run_id, lambda r: r["state"] == "completed")
    deadline = time.monotonic() + 10
    while not any(s["state"] == "completed" for s in watcher.states):
        assert time.monotonic() < deadline, "no training:state completed event"
        time.sleep(0.1)
    watcher.close()
    return run, watcher


def test_options_describe_device_defaults_and_choices(server):
    options = server.get("/api/training/options").json()
    assert options["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert [a["name"] for a in options["architectures"]] == ["unet", "deeplabv3plus", "fcn8s"]
    assert options["architectures"][0]["label"] == "U-Net (Default)"
    defaults = options["defaults"]
    assert {"architecture", "encoder", "mpp", "patch_size", "batch_size"} <= set(defaults)
    assert defaults["augmentation"]["flips"] is True
    assert options["choices"]["loss"] == ["cross_entropy", "dice", "focal", "cross_entropy_dice"]
    # A validation hold-out by default, and the app keeps the best validated weights.
    assert defaults["validation_fraction"] == 0.15 and defaults["keep_weights"] == "best"
    assert options["choices"]["keep_weights"] == ["best", "last"]
    assert "resnet18" in options["encoders"] and "vgg16" in options["encoders"]
    # One line of help for every setting the Advanced dialog shows (augmentation by path).
    paths = {k for k in defaults if k != "augmentation"}
    paths |= {f"augmentation.{k}" for k in defaults["augmentation"]}
    assert set(options["help"]) == paths and all(len(t) > 20 for t in options["help"].values())
    assert "±7°" in options["help"]["augmentation.hue"]
    # Which encoders have ImageNet weights here (none are downloaded in the test machine).
    assert set(options["imagenet_cached"]) <= set(options["encoders"])


def test_invalid_settings_are_refused_per_field(server):
    before = len(server.get("/api/training").json())
    body = {
        "slides": [server.ids["slide_id"]],
        "settings": {
            "patch_size": 70,
            "batch_size": 0,
            "loss": "l2",
            "encoder_weights": "imagenet",
        },
    }
    response = server.post("/api/training", json=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "Some settings are not valid"
    fields = answer["fields"]
    assert fields["patch_size"] == "must be a multiple of 32"
    assert fields["batch_size"] == "must be at least 1"
    assert fields["loss"].startswith("must be one of cross_entropy")
    if "encoder_weights" in fields:  # unless ImageNet weights happen to be cached here
        assert "not in the local cache" in fields["encoder_weights"]
    assert len(server.get("/api/training").json()) == before


def test_a_small_model_separates_tissue_from_background(server, finished):
    run, _ = finished
    history = run["history"]
    assert [p["iteration"] for p in history] == list(range(1, 41))
    losses = [p["loss"] for p in history]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])  # the loss falls
    validated = [p for p in history if "val_error_rate" in p]
    assert [p["iteration"] for p in validated] == [10, 20, 30, 40]
    assert validated[-1]["val_error_rate"] < ERROR_BOUND
    # The app it became, applied to the whole slide, agrees with the labels' pixels.
    app = load_app_config(server.data_dir, run["app_id"])
    assert app["training"]["run_id"] == run["id"] and app["training"]["iterations"] == 40
    assert [c["name"] for c in app["classes"]] == ["Background", "Tissue"]
    assert app["mpp"] == 4.0 and app["architecture"] == "unet"
    assert app_error_rate(server.data_dir, run["app_id"]) < ERROR_BOUND


def app_error_rate(data_dir: Path, app_id: str) -> float:
    """Share of the test's label pixels (thumbnail masks) the app gets wrong."""
    model, app = load_app_model(data_dir, app_id, torch.device("cpu"))
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        ds = app["mpp"] / float(slide.properties["openslide.mpp-x"])
        w, h = (int(np.ceil(d / ds)) for d in slide.dimensions)
        pw, ph = (-w) % app["patch_size"], (-h) % app["patch_size"]
        image = read_rgb(slide, 0, 0, w + pw, h + ph, ds)
    x = normalize(to_float(torch.from_numpy(image)[None]))
    size = app["patch_size"]  # applied tile by tile at the training patch size, as inference does
    tiles = x.unfold(2, size, size).unfold(3, size, size)  # 1×3×rows×cols×size×size
    rows, cols = tiles.shape[2:4]
    batch = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, size, size)
    with torch.no_grad():
        classes = model(batch).argmax(1).reshape(rows, cols, size, size)
    predicted = classes.permute(0, 2, 1, 3).reshape(rows * size, cols * size).numpy()[:h, :w]
    tissue, background = truth_masks()
    # Compare at the thumbnail grid: each thumbnail pixel is THUMB_DOWNSAMPLE level-0 px.
    ys, xs = np.nonzero(tissue | background)
    py = np.minimum((ys * THUMB_DOWNSAMPLE / ds).astype(int), h - 1)
    px = np.minimum((xs * THUMB_DOWNSAMPLE / ds).astype(int), w - 1)
    truth = tissue[ys, xs].astype(int)  # 1 = Tissue (class index 1), 0 = Background
    return float((predicted[py, px] != truth).mean())


def test_a_client_joining_mid_run_gets_every_iteration_once_in_order(finished):
    run, watcher = finished
    # It joined mid-run: history holds the stored points; pending ones come as events.
    assert watcher.history["state"] == "running" and watcher.history["iteration"] >= 1
    assert watcher.history["iteration"] == watcher.history["history"][-1]["iteration"]
    assert watcher.history["settings"]["patch_size"] == 64
    assert watcher.points() == list(range(1, 41))
    assert len(watcher.iterations) >= 1
    for event in watcher.iterations:  # top-level fields are the latest point's
        latest = event["points"][-1]
        assert event["iteration"] == latest["iteration"] and event["loss"] == latest["loss"]
        assert event["it_per_s"] is None or event["it_per_s"] > 0
    assert watcher.states[-1]["app_id"] == run["app_id"]


def test_tensorboard_event_files_have_scalars_and_image_triplets(server, finished):
    run, _ = finished
    events = EventAccumulator(str(server.data_dir / "runs" / run["id"] / "tb"))
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/error_rate", "train/learning_rate"} <= set(tags["scalars"])
    assert {"validation/loss", "validation/error_rate"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 41))
    assert set(tags["images"]) == {"samples/input", "samples/label", "samples/prediction"}
    assert [e.step for e in events.Images("samples/prediction")] == [1, 20, 40]
    # The run's final values, as the run JSON and the app state them, at the last iteration.
    final = run_info(server, run["id"])["final"]
    assert {"final/loss", "final/error_rate", "final/val_loss"} <= set(tags["scalars"])
    for name in ("loss", "error_rate", "val_loss", "val_error_rate"):
        (event,) = events.Scalars(f"final/{name}")
        assert event.step == 40 and event.value == pytest.approx(final[name], rel=1e-6)


def test_pause_stops_iterations_resume_continues_the_same_optimizer_stop_saves_an_app(server):
    run_id = start_run(server, iterations=5000, checkpoint_interval=5000)
    wait_for(server, run_id, lambda r: r["iteration"] >= 3)
    control(server, run_id, "pause")
    paused = wait_for(server, run_id, lambda r: r["state"] == "paused")
    time.sleep(2)
    still = run_info(server, run_id)
    assert still["state"] == "paused" and still["iteration"] == paused["iteration"]
    assert len(still["history"]) == paused["iteration"]
    control(server, run_id, "resume")
    wait_for(server, run_id, lambda r: r["iteration"] >= paused["iteration"] + 3)
    control(server, run_id, "stop")
    stopped = wait_for(server, run_id, lambda r: r["state"] == "stopped")
    assert [p["iteration"] for p in stopped["history"]] == list(range(1, stopped["iteration"] + 1))
    assert stopped["app_id"] and load_app_config(server.data_dir, stopped["app_id"])
    # Adam counts its steps: one optimizer saw every iteration, before and after the pause.
    state = torch.load(
        server.data_dir / "runs" / run_id / "checkpoint.pt", map_location="cpu", weights_only=True
    )
    assert state["iteration"] == stopped["iteration"]
    steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert steps == {stopped["iteration"]}


def test_runs_queue_for_the_device_and_tiles_keep_answering(server):
    first = start_run(server, iterations=5000)
    second = start_run(server, iterations=5)
    assert run_info(server, second)["state"] == "queued"
    begun = wait_for(server, first, lambda r: r["iteration"] >= 2)["iteration"]
    levels = range(9, 13)
    for level in levels:  # every tile of four pyramid levels, none cached yet
        for col in range(3):
            for row in range(3):
                response = server.get(
                    f"/slides/{server.ids['slide_id']}_files/{level}/{col}_{row}.jpeg",
                    timeout=15,  # generous: a tile must never wait for training steps
                )
                assert response.status_code in (200, 404)
    assert run_info(server, first)["iteration"] > begun  # training went on meanwhile
    assert run_info(server, second)["state"] == "queued"
    assert control(server, second, "stop")["state"] == "stopped"
    control(server, first, "stop")
    wait_for(server, first, lambda r: r["state"] == "stopped")
    assert run_info(server, second)["app_id"] is None
    listed = [r["id"] for r in server.get("/api/training").json()]
    assert listed[:2] == [second, first]  # newest first
    conflict = server.post(f"/api/training/{second}/pause")
    assert conflict.status_code == 409 and "running" in conflict.json()["error"]


def test_the_run_and_its_app_state_one_final_value_and_the_validation_of_its_weights(
    server, finished
):
    run_id = finished[0]["id"]
    run = run_info(server, run_id)
    history = run["history"]
    losses = [p["loss"] for p in history]
    errors = [p["error_rate"] for p in history]
    final = run["final"]
    # 40 iterations: the final value is the mean of the last 10 (at least 10, 10 % of a run).
    assert (final["iteration"], final["over"]) == (40, 10)
    assert final["loss"] == pytest.approx(np.mean(losses[-10:]))
    assert final["error_rate"] == pytest.approx(np.mean(errors[-10:]))
    assert (final["last_loss"], final["last_error_rate"]) == (losses[-1], errors[-1])
    assert (final["val_iteration"], final["val_loss"]) == (40, history[-1]["val_loss"])
    # The app keeps the weights of the lowest validation loss, and says from which iteration.
    validated = [p for p in history if "val_loss" in p]
    best = min(validated, key=lambda p: p["val_loss"])
    assert run["weights_from_iteration"] == best["iteration"]
    validation = run["validation"]
    assert validation["iteration"] == best["iteration"]
    assert validation["loss"] == best["val_loss"]
    assert validation["error_rate"] == best["val_error_rate"]
    confusion = np.array(validation["confusion"])
    assert confusion.shape == (2, 2) and (confusion.sum(axis=1) > 0).all()
    assert 1 - np.trace(confusion) / confusion.sum() == pytest.approx(best["val_error_rate"])
    ids = [server.ids["background"], server.ids["tissue"]]
    assert [c["id"] for c in validation["classes"]] == ids
    for c, cls in enumerate(validation["classes"]):
        tp = confusion[c, c]
        fp, fn = confusion[:, c].sum() - tp, confusion[c].sum() - tp
        assert cls["iou"] == pytest.approx(tp / (tp + fp + fn))
        assert cls["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert cls["precision"] == pytest.approx(tp / (tp + fp))
        assert cls["recall"] == pytest.approx(tp / (tp + fn))
        assert cls["iou"] > 0.8  # the two classes separate well on held-out blocks
    assert run["warnings"] == []
    # The app states the same numbers: one definition.
    app = server.get(f"/api/apps/{run['app_id']}").json()
    assert app["final"] == final
    assert app["validation"] == validation
    assert app["weights_from_iteration"] == best["iteration"]
    assert app["training"]["final_loss"] == final["loss"]
    assert app["training"]["final_error_rate"] == final["error_rate"]
    assert app["training"]["iterations"] == 40
    # Both answers match the published OpenAPI schemas.
    doc = server.get("/api/openapi.json").json()
    check(doc, "/api/training/{run_id}", "get", server.get(f"/api/training/{run_id}"))
    check(doc, "/api/apps/{app_id}", "get", server.get(f"/api/apps/{run['app_id']}"))
    # ...and so does the completed event; the app's weights are the best ones of the checkpoint.
    completed = [e for e in finished[1].states if e["state"] == "completed"][-1]
    assert completed["final"] == final and completed["validation"] == validation
    checkpoint = torch.load(
        server.data_dir / "runs" / run_id / "checkpoint.pt", map_location="cpu", weights_only=True
    )
    assert checkpoint["best_validation"]["iteration"] == best["iteration"]
    weights = load_file(server.data_dir / "apps" / run["app_id"] / "model.safetensors")
    assert weights.keys() == checkpoint["best_weights"].keys()
    assert all(torch.equal(weights[k], checkpoint["best_weights"][k]) for k in weights)


def test_keep_weights_last_gives_the_app_the_weights_of_the_stop(server):
    run_id = start_run(
        server,
        iterations=5000,
        validation_fraction=0.25,
        validation_interval=4,
        keep_weights="last",
        checkpoint_interval=5000,
    )
    wait_for(server, run_id, lambda r: r["iteration"] >= 6)
    control(server, run_id, "stop")
    run = wait_for(server, run_id, lambda r: r["state"] == "stopped")
    last = run["history"][-1]["iteration"]
    assert run["weights_from_iteration"] == last
    # A stop between validations validates the last weights too.
    assert "val_loss" in run["history"][-1]
    assert run["validation"]["iteration"] == last
    assert run["final"]["val_iteration"] == last
    app = server.get(f"/api/apps/{run['app_id']}").json()
    assert app["weights_from_iteration"] == last and app["validation"] == run["validation"]
    assert app["final"] == run["final"]
    checkpoint = torch.load(
        server.data_dir / "runs" / run_id / "checkpoint.pt", map_location="cpu", weights_only=True
    )
    assert checkpoint["iteration"] == last
    weights = load_file(server.data_dir / "apps" / run["app_id"] / "model.safetensors")
    learned = [k for k in weights if k.endswith(".weight") and weights[k].dim() == 4]
    assert learned and all(torch.equal(weights[k], checkpoint["model"][k]) for k in learned)
