"""The app a training run makes: its app.json, from the run's record and its trainer."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from server.models import ARCHITECTURES, IMAGENET_MEAN, IMAGENET_STD
from server.store import from_json
from server.training import figures


@dataclass(frozen=True)
class Lineage:
    """Where an app's weights come from: iterations trained, the weights' iteration, time."""

    iterations: int
    weights_from: int
    duration_s: float


def app_config(
    run_id: str,
    row: sqlite3.Row,
    settings: dict[str, Any],
    final: dict[str, Any] | None,
    validation_record: dict[str, Any] | None,
    lineage: Lineage,
) -> dict[str, Any]:
    """The app.json of a run's model: `row` is the run's record, `final` its final values,
    `validation_record` the validation of these weights (None when not validated)."""
    classes = from_json(row["classes"])
    label = ARCHITECTURES[settings["architecture"]].label.replace(" (Default)", "")
    return {
        # What tells a run's apps apart (a continuation has more iterations, a later date).
        "name": f"{label} · {', '.join(c['name'] for c in classes)} · "
        f"{lineage.iterations} it. · {time.strftime('%d %b %Y %H:%M')}",
        "architecture": settings["architecture"],
        "encoder": settings["encoder"],
        "num_classes": len(classes),
        "classes": classes,
        "mpp": settings["mpp"],
        "patch_size": settings["patch_size"],
        "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "final": final,
        "validation": figures.validation_report(validation_record, classes),
        "weights_from_iteration": lineage.weights_from,
        "training": {
            "run_id": run_id,
            "iterations": lineage.iterations,
            # the same numbers as `final`, for clients that read only these
            "final_loss": final["loss"] if final else None,
            "final_error_rate": final["error_rate"] if final else None,
            "duration_s": round(lineage.duration_s, 3),
            "slides": from_json(row["slides"]),
            "settings": settings,
        },
    }
