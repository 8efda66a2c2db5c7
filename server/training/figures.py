"""The figures a run reports, each with one definition used everywhere.

- **Final value** of a run: the mean loss and mean error rate of its last N iterations,
  N = `final_window(iterations done)` (10 % of the iterations, at least 10, at most 100, never
  more than were done), with the last raw values beside it and the last validation
  measurement. The run's heading, its app card, the chart and TensorBoard all show this one.
- **Validation report**: per-class IoU, Dice, precision and recall from a confusion matrix of
  validation pixels (rows: true class, columns: predicted class, in model channel order).
- **Over-fitting**: validation error rising over the last `OVERFIT_VALIDATIONS` validations
  while the training loss falls.

Pure functions on plain numbers: the server, the app store and the tests share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FINAL_FRACTION = 0.1  # the final value averages over this share of the iterations done...
FINAL_MIN = 10  # ...but over at least this many iterations (a noisy curve needs some)...
FINAL_MAX = 100  # ...and at most this many (the end of a long run, not its middle)
OVERFIT_VALIDATIONS = 3  # validations the over-fitting warning looks back over


def final_window(iterations: int) -> int:
    """How many of the last iterations the final value averages over (0 when none were done)."""
    if iterations <= 0:
        return 0
    wanted = max(FINAL_MIN, min(FINAL_MAX, round(FINAL_FRACTION * iterations)))
    return min(iterations, wanted)


def window_text(over: int) -> str:
    """The definition in words, as the UI and the docs state it."""
    return f"mean of the last {over} iterations"


def final_values(history: Sequence[dict]) -> dict[str, Any] | None:
    """The final value of a run from its history (or the tail of it; iterations are 1..n).

    `{loss, error_rate, iteration, over, last_loss, last_error_rate, val_loss,
    val_error_rate, val_iteration}`: `loss` and `error_rate` are the means over the last
    `over` iterations up to `iteration`; `last_*` the raw values of that last iteration;
    `val_*` the last validation measurement (None without one). None for an empty history.
    """
    if not history:
        return None
    last = history[-1]
    over = final_window(int(last["iteration"]))
    first = int(last["iteration"]) - over
    window = [p for p in history if p["iteration"] > first]
    validated = [p for p in history if p.get("val_loss") is not None]
    val = validated[-1] if validated else {}
    return {
        "loss": _mean(p["loss"] for p in window),
        "error_rate": _mean(p["error_rate"] for p in window),
        "iteration": int(last["iteration"]),
        "over": len(window),
        "last_loss": float(last["loss"]),
        "last_error_rate": float(last["error_rate"]),
        "val_loss": val.get("val_loss"),
        "val_error_rate": val.get("val_error_rate"),
        "val_iteration": val.get("iteration"),
    }


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values)


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def class_metrics(confusion: Sequence[Sequence[int]] | np.ndarray) -> list[dict[str, Any]]:
    """Per class (in channel order): IoU, Dice, precision, recall and its validation pixels.

    `confusion[t][p]` counts validation pixels of true class t predicted as p. A figure whose
    denominator is 0 (a class neither present nor predicted) is None.
    """
    m = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(m)
    true = m.sum(axis=1)  # pixels of the class
    predicted = m.sum(axis=0)  # pixels predicted as the class
    out = []
    for c in range(len(m)):
        fp, fn = predicted[c] - tp[c], true[c] - tp[c]
        out.append(
            {
                "iou": _ratio(tp[c], tp[c] + fp + fn),
                "dice": _ratio(2 * tp[c], 2 * tp[c] + fp + fn),
                "precision": _ratio(tp[c], predicted[c]),
                "recall": _ratio(tp[c], true[c]),
                "pixels": int(true[c]),
            }
        )
    return out


def validation_report(record: dict | None, classes: list[dict]) -> dict[str, Any] | None:
    """The API form of one validation measurement `{iteration, loss, error_rate, confusion}`:
    `{iteration, loss, error_rate, classes: [{id, name, iou, dice, precision, recall, pixels}],
    confusion}` (classes in model channel order, as the confusion's rows and columns)."""
    if not record or record.get("confusion") is None:
        return None
    metrics = class_metrics(record["confusion"])
    return {
        "iteration": int(record["iteration"]),
        "loss": float(record["loss"]),
        "error_rate": float(record["error_rate"]),
        "classes": [
            {"id": c.get("id"), "name": c.get("name"), **m}
            for c, m in zip(classes, metrics, strict=True)
        ],
        "confusion": [[int(v) for v in row] for row in record["confusion"]],
    }


def overfitting(history: Sequence[dict], n: int = OVERFIT_VALIDATIONS) -> dict[str, Any] | None:
    """Validation error rising over the last `n` validations while the training loss falls.

    The training loss is compared as the mean over the iterations leading up to the first and
    to the last of those validations (since the validation before each). Returns
    `{from_iteration, to_iteration, val_error_rates, train_losses}` when it happens, else None.
    """
    validated = [i for i, p in enumerate(history) if p.get("val_error_rate") is not None]
    if len(validated) < n:
        return None
    last = validated[-n:]
    errors = [history[i]["val_error_rate"] for i in last]
    if not all(b > a for a, b in zip(errors, errors[1:], strict=False)):
        return None
    before = validated[-n - 1] if len(validated) > n else -1
    first_span = history[before + 1 : last[0] + 1]
    last_span = history[last[-2] + 1 : last[-1] + 1]
    losses = (_mean(p["loss"] for p in first_span), _mean(p["loss"] for p in last_span))
    if not losses[1] < losses[0]:
        return None
    return {
        "from_iteration": history[last[0]]["iteration"],
        "to_iteration": history[last[-1]]["iteration"],
        "val_error_rates": errors,
        "train_losses": list(losses),
    }


def overfitting_warning(found: dict, keep: str, kept_iteration: int | None) -> str:
    """The run's warning text for an `overfitting()` finding."""
    a, b = found["val_error_rates"][0], found["val_error_rates"][-1]
    text = (
        f"Over-fitting: the validation error rose from {a * 100:.1f} % to {b * 100:.1f} % "
        f"between iterations {found['from_iteration']} and {found['to_iteration']} while the "
        "training loss fell."
    )
    if keep == "best" and kept_iteration is not None:
        return text + f" The app keeps the best validated weights (iteration {kept_iteration})."
    return text + " Keep the best weights (advanced settings), label more, or train less."
