"""The figures a run reports (final value, per-class validation metrics, over-fitting), the
validation hold-out of the sampler, and the trainer's best validated weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from server.training import settings as training_settings
from server.training.figures import (
    class_metrics,
    final_values,
    final_window,
    overfitting,
    validation_report,
)
from server.training.sampler import IGNORE, Region, load_cache, split_holdout
from server.training.trainer import Trainer
from tests.test_training_units import CLASSES, demo_source
from tests.training_support import tissue_and_background

# ---- the final value -------------------------------------------------------------------


def test_the_final_window_is_a_tenth_of_the_run_between_10_and_100_iterations():
    assert [final_window(n) for n in (0, 1, 5, 10, 40, 150, 300, 999, 1000, 5000)] == [
        0,
        1,
        5,
        10,
        10,
        15,
        30,
        100,
        100,
        100,
    ]


def history(n: int, validate_every: int = 0) -> list[dict]:
    points = []
    for i in range(1, n + 1):
        point = {"iteration": i, "loss": float(i), "error_rate": i / 1000, "lr": 0.1, "time": i}
        if validate_every and i % validate_every == 0:
            point.update(val_loss=i / 10, val_error_rate=i / 100)
        points.append(point)
    return points


def test_the_final_value_is_the_mean_of_the_window_with_the_last_values_beside_it():
    final = final_values(history(300, validate_every=25))
    # 300 iterations: the mean over iterations 271..300 of loss = iteration number.
    assert final["over"] == 30 and final["iteration"] == 300
    assert final["loss"] == pytest.approx(np.mean(range(271, 301)))
    assert final["error_rate"] == pytest.approx(np.mean(range(271, 301)) / 1000)
    assert (final["last_loss"], final["last_error_rate"]) == (300.0, 0.3)
    assert (final["val_iteration"], final["val_loss"], final["val_error_rate"]) == (300, 30, 3)
    # Given only the tail of the history (as the live run keeps it), the same answer.
    assert final_values(history(300, validate_every=25)[-100:]) == final
    short = final_values(history(4))
    assert short["over"] == 4 and short["loss"] == pytest.approx(2.5)
    assert short["val_loss"] is None and short["val_iteration"] is None
    assert final_values([]) is None


# ---- per-class validation metrics ------------------------------------------------------


def test_per_class_metrics_from_a_known_confusion_matrix():
    # rows: true class, columns: predicted class
    confusion = [[50, 10, 0], [5, 35, 0], [0, 0, 0]]
    background, tissue, absent = class_metrics(confusion)
    assert background["iou"] == pytest.approx(50 / 65)  # tp / (tp + fp + fn) = 50 / (50+5+10)
    assert background["dice"] == pytest.approx(100 / 115)
    assert background["precision"] == pytest.approx(50 / 55)
    assert background["recall"] == pytest.approx(50 / 60)
    assert background["pixels"] == 60
    assert tissue["iou"] == pytest.approx(35 / 50)
    assert tissue["dice"] == pytest.approx(70 / 85)
    assert tissue["precision"] == pytest.approx(35 / 45)
    assert tissue["recall"] == pytest.approx(35 / 40)
    assert absent == {"iou": None, "dice": None, "precision": None, "recall": None, "pixels": 0}
    # Predicted but never true: precision 0, recall undefined.
    wrong = class_metrics([[8, 2], [0, 0]])[1]
    assert wrong["precision"] == 0.0 and wrong["recall"] is None and wrong["iou"] == 0.0
    report = validation_report(
        {"iteration": 50, "loss": 0.2, "error_rate": 15 / 100, "confusion": confusion},
        [{"id": 7, "name": "Background"}, {"id": 9, "name": "Tissue"}, {"id": 3, "name": "X"}],
    )
    assert report["iteration"] == 50 and report["confusion"] == confusion
    assert [(c["id"], c["name"]) for c in report["classes"]] == [
        (7, "Background"),
        (9, "Tissue"),
        (3, "X"),
    ]
    assert report["classes"][1]["dice"] == pytest.approx(70 / 85)


# ---- over-fitting ----------------------------------------------------------------------


def curve(val_errors: list[float], train_losses: list[float], every: int = 10) -> list[dict]:
    """Validations every `every` iterations; the training loss constant within each span."""
    points = []
    for k, (err, loss) in enumerate(zip(val_errors, train_losses, strict=True)):
        for j in range(1, every + 1):
            point = {"iteration": k * every + j, "loss": loss, "error_rate": 0.1}
            if j == every:
                point.update(val_loss=err, val_error_rate=err)
            points.append(point)
    return points


def test_overfitting_is_validation_error_rising_while_the_training_loss_falls():
    found = overfitting(curve([0.3, 0.1, 0.12, 0.15], [1.0, 0.5, 0.4, 0.3]))
    assert (found["from_iteration"], found["to_iteration"]) == (20, 40)
    assert found["val_error_rates"] == [0.1, 0.12, 0.15]
    assert found["train_losses"] == pytest.approx([0.5, 0.3])
    assert overfitting(curve([0.3, 0.1, 0.12, 0.11], [1.0, 0.5, 0.4, 0.3])) is None  # not rising
    assert overfitting(curve([0.3, 0.1, 0.12, 0.15], [1.0, 0.3, 0.4, 0.5])) is None  # loss rises
    assert overfitting(curve([0.1, 0.12], [1.0, 0.5])) is None  # too few validations


# ---- the validation hold-out -----------------------------------------------------------


def region(label: np.ndarray, source: int = 0) -> Region:
    h, w = label.shape
    return Region(source, (0, 0), np.zeros((h, w, 3), np.uint8), label.copy())


def split_counts(regions: list[Region], classes: int) -> tuple[np.ndarray, np.ndarray]:
    train = sum(np.bincount(r.label.ravel(), minlength=256)[:classes] for r in regions)
    val = sum(
        np.bincount(r.val_label.ravel(), minlength=256)[:classes]
        for r in regions
        if r.val_label is not None
    )
    return train, val


def test_the_hold_out_takes_crop_sized_blocks_of_every_class():
    label = np.full((640, 640), IGNORE, np.uint8)
    label[:, :320] = 0
    label[:, 320:] = 1
    label[600:, :] = IGNORE
    regions = [region(label)]
    warnings = split_holdout(regions, 64, 0.15, np.random.default_rng(0), ["a", "b"])
    assert warnings == []
    train, val = split_counts(regions, 2)
    assert (train > 0).all() and (val > 0).all()
    assert train.sum() + val.sum() == (label != IGNORE).sum()  # every pixel, once
    held = regions[0].val_label != IGNORE
    # Whole 64-px blocks: a block is either held out or not.
    blocks = held[:576].reshape(9, 64, 10, 64).any(axis=(1, 3))
    assert np.array_equal(np.repeat(np.repeat(blocks, 64, 0), 64, 1), held[:576])
    assert 0.10 < blocks.mean() < 0.25


def test_few_labels_still_train_and_say_what_the_hold_out_became():
    label = np.full((200, 200), IGNORE, np.uint8)
    label[:, :] = 0
    label[10:40, 10:40] = 1  # one small patch of class b, inside a single 64-px block
    regions = [region(label)]
    warnings = split_holdout(regions, 64, 0.15, np.random.default_rng(0), ["a", "b"])
    train, val = split_counts(regions, 2)
    assert (train > 0).all() and (val > 0).all(), "smaller blocks split the small class"
    assert (
        len(warnings) == 1
        and "validation blocks are 32 px instead of a patch (64 px)" in warnings[0]
    )

    label[:, :] = 0
    label[10:14, 10:14] = 1  # 4×4 px: less than the smallest block
    regions = [region(label)]
    warnings = split_holdout(regions, 64, 0.15, np.random.default_rng(0), ["a", "b"])
    assert regions[0].val_label is None
    train, _ = split_counts(regions, 2)
    assert train.tolist() == [200 * 200 - 16, 16], "trains on every label"
    assert len(warnings) == 1 and warnings[0].startswith("No validation: the labels of 'b'")


def test_the_cache_of_the_demo_slide_holds_out_every_class_by_default():
    tissue, background = tissue_and_background()
    settings, _ = training_settings.validate({}, "cpu")
    fraction = settings["validation_fraction"]
    assert 0.1 <= fraction <= 0.2
    source = demo_source({0: background, 1: tissue})
    cache = load_cache([source], 4.0, 72, ["Background", "Tissue"], fraction, 0)
    assert (cache.class_pixels > 0).all() and (cache.val_pixels > 0).all()
    assert cache.warnings == []
    share = cache.val_pixels.sum() / (cache.val_pixels.sum() + cache.class_pixels.sum())
    assert 0.05 < share < 0.35


# ---- the trainer's validation and best weights -----------------------------------------


def test_validation_measures_a_confusion_and_the_best_weights_survive_a_checkpoint(tmp_path):
    torch.set_num_threads(1)
    tissue, background = tissue_and_background()
    settings, errors = training_settings.validate(
        {
            "patch_size": 64,
            "batch_size": 4,
            "mpp": 4.0,
            "iterations": 6,
            "validation_fraction": 0.25,
            "validation_interval": 2,
            "learning_rate": 0.01,
        },
        "cpu",
    )
    assert not errors and settings["keep_weights"] == "best"
    cache = load_cache(
        [demo_source({0: background, 1: tissue})], 4.0, 72, ["Background", "Tissue"], 0.25, 0
    )
    trainer = Trainer(settings, CLASSES, cache, torch.device("cpu"), prefetch=False)
    results = [trainer.step() for _ in range(6)]
    measured = [r for r in results if r.val_loss is not None]
    assert [r.iteration for r in measured] == [2, 4, 6]
    # The confusion counts exactly the held-out labelled pixels of the validation batches.
    off = (trainer.sampler.crop - 64) // 2  # validation is on the centred patch
    window = slice(off, off + 64)
    labelled = sum(int((lb[:, window, window] != IGNORE).sum()) for _, lb in trainer.val_set)
    last = trainer.last_validation
    assert np.array(last["confusion"]).sum() == labelled
    wrong = labelled - np.trace(np.array(last["confusion"]))
    assert last["error_rate"] == pytest.approx(wrong / labelled)
    assert last["loss"] == pytest.approx(measured[-1].val_loss)
    best = min(measured, key=lambda r: r.val_loss)
    iteration, record = trainer.kept()
    assert iteration == best.iteration and record["loss"] == best.val_loss
    weights, from_iteration = trainer.app_weights()
    assert from_iteration == best.iteration
    assert trainer.validate_last() is None  # iteration 6 was validated already

    trainer.save_checkpoint(tmp_path / "ck.pt")
    again = Trainer(settings, CLASSES, cache, torch.device("cpu"), prefetch=False)
    again.load_checkpoint(tmp_path / "ck.pt")
    restored, restored_from = again.app_weights()
    assert restored_from == best.iteration and again.kept()[1] == record
    assert all(torch.equal(restored[k], weights[k]) for k in weights)

    again.settings = {**settings, "keep_weights": "last"}
    last_weights, last_from = again.app_weights()
    assert last_from == 6 and again.kept() == (6, trainer.last_validation)
    if best.iteration != 6:
        conv = next(k for k in weights if k.endswith("conv1.weight"))
        assert not torch.equal(last_weights[conv], weights[conv])
    trainer.close()
    again.close()
