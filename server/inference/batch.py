"""`slidelab apply APP SLIDE... --out DIR [--threshold T]`: batch inference from the shell.

APP is an app id in the data folder, an app folder, or an exported `.slidelab-app` file.
Each slide is predicted (tissue only unless `--region whole`) with a progress bar; the
app's post-processing steps run on its labels; its GeoJSON, label TIFF, CSV of areas and
CSV of objects are written to DIR as `<slide>.geojson`, `<slide>.tif`, `<slide>.csv`,
`<slide>.objects.csv`, and `DIR/summary.csv` gets one row per slide (areas, fractions,
object counts and densities per class), rewritten after each slide. The probability
store lives in a temporary folder and is removed after.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import openslide
import torch
from tqdm import tqdm

from server import apps
from server.config import default_data_dir
from server.device import describe, select_device
from server.inference.export import write_export
from server.inference.labels import LabelStore, label_stats, post_processed
from server.inference.measurements import pixel_um, summary, write_objects
from server.inference.pipeline import Pipeline, run_defaults
from server.inference.planning import SlideFacts, make_plan
from server.inference.predictor import Predictor
from server.inference.probstore import ProbStore
from server.inference.regions import RegionError, RegionSpec
from server.inference.stats import pixel_area_um2
from server.inference.thresholds import parse_threshold
from server.inference.tiler import TileGeometry
from server.models import model_from_state
from server.slides.metadata import read_info, slide_bounds

KINDS = ("geojson", "tiff", "csv")
SUFFIX = {"geojson": ".geojson", "tiff": ".tif", "csv": ".csv", "objects": ".objects.csv"}
SUMMARY = "summary.csv"


def load_model(app: str, data_dir: Path, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The model and config named by APP (see module doc); AppInvalid/AppNotFound if not."""
    path = Path(app)
    if path.is_file():
        config, state = apps.read_app_file(path)
    elif (path / apps.CONFIG_NAME).is_file():
        apps.check_app(path.parent, path.name)
        return apps.load_app_model(path.parent, path.name, device)
    else:
        apps.check_app(data_dir, app)
        return apps.load_app_model(data_dir, app, device)
    return model_from_state(config, state, device), config


def apply_to_slide(
    slide_path: Path,
    model: torch.nn.Module,
    config: dict,
    device: torch.device,
    out: Path,
    threshold: float,
    region: str = "tissue",
    batch_size: int | None = None,
    geometry: TileGeometry | None = None,
    progress: bool = True,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Predict one slide and write its exports; returns ({kind: path}, its summary row)."""
    geometry = geometry or TileGeometry()
    cuda = device.type == "cuda"
    with openslide.OpenSlide(slide_path) as slide:
        info = read_info(slide, slide_path)
        bounds = slide_bounds(slide)
    facts = SlideFacts(str(slide_path), info.width, info.height, info.mpp, bounds)
    plan = make_plan(RegionSpec(region), facts, float(config["mpp"]), geometry)
    for warning in plan.warnings:
        print(f"slidelab: {slide_path.name}: {warning}", file=sys.stderr)
    meta = {
        "grid": plan.grid.as_dict(),
        "classes": config["classes"],
        "slide_name": slide_path.name,
        "slide_mpp": info.mpp,
        "app_name": config["name"],
    }
    predictor = Predictor.for_app(model, config, device)
    default_batch, readers, writers = run_defaults(cuda)
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="slidelab-apply-") as tmp:
        store = ProbStore.create(
            Path(tmp) / "p.zarr",
            plan.grid.width,
            plan.grid.height,
            len(config["classes"]),
            geometry.core,
            meta,
        )
        pipeline = Pipeline(
            plan,
            lambda: openslide.OpenSlide(slide_path),
            predictor,
            store,
            batch_size or default_batch,
            readers,
            writers,
        )
        with tqdm(
            total=pipeline.total, unit="tile", desc=slide_path.name, disable=not progress
        ) as bar:
            pipeline.run(lambda p: bar.update(p.written - bar.n))
            bar.update(pipeline.total - bar.n)
        labels = _post_processed(store, config, Path(tmp), plan.grid.scale, info.mpp, threshold)
        area = pixel_area_um2(plan.grid.scale, info.mpp)
        stats = label_stats(store, labels, threshold, config["classes"], area)
        source = labels or store
        for kind in KINDS:
            path = out / f"{slide_path.stem}{SUFFIX[kind]}"
            write_export(kind, source, meta, stats, threshold, path)
            written[kind] = path
        written["objects"] = out / f"{slide_path.stem}{SUFFIX['objects']}"
        objects = write_objects("csv", store, source, meta, threshold, written["objects"])
        counted = summary(objects, config["classes"], stats["region_pixels"], pixel_um(meta))
    return written, summary_row(slide_path.name, threshold, counted)


def _post_processed(
    store: ProbStore,
    config: dict,
    folder: Path,
    scale: float,
    slide_mpp: float | None,
    threshold: float,
) -> LabelStore | None:
    """The labels after the app's post-processing steps (None without steps or µm/px)."""
    steps = config.get("postprocessing") or []
    if not steps or not slide_mpp:
        if steps:
            print("slidelab: the slide has no µm/px: post-processing skipped", file=sys.stderr)
        return None
    key = apps.postprocessing_key(config)
    return post_processed(
        store, folder / "labels", steps, key, apps.class_ids(config), scale * slide_mpp, threshold
    )


def summary_row(slide: str, threshold: float, counted: dict[str, Any]) -> dict[str, Any]:
    """One slide's row of summary.csv: region area, then per class its area, fraction of
    the region, object count and objects per mm²."""
    row: dict[str, Any] = {
        "slide": slide,
        "threshold": threshold,
        "region_area_mm2": counted["region_area_mm2"],
    }
    for cls in counted["classes"]:
        name = cls["name"]
        row[f"{name} area_mm2"] = cls["area_mm2"]
        row[f"{name} area_fraction"] = round(cls["area_fraction"], 6)
        row[f"{name} count"] = cls["count"]
        row[f"{name} density_per_mm2"] = cls["density_per_mm2"]
    return row


def write_summary(rows: list[dict[str, Any]], path: Path) -> None:
    """summary.csv: one row per slide (columns: the union of the rows' keys, in order)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    """The `apply` command (arguments: see server.inference.command)."""
    try:
        threshold = parse_threshold(args.threshold)
    except ValueError as exc:
        print(f"slidelab: {exc}", file=sys.stderr)
        return 2
    device = select_device(args.device)
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    try:
        model, config = load_model(args.app, data_dir, device)
    except apps.AppNotFound:
        print(f"slidelab: no app {args.app!r} (not a file, folder or app id)", file=sys.stderr)
        return 2
    except (apps.AppInvalid, ValueError) as exc:
        print(f"slidelab: the app cannot be used: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"slidelab: applying '{config['name']}' on {describe(device)}", file=sys.stderr)
    failed = 0
    rows: list[dict[str, Any]] = []
    for name in args.slides:
        slide_path = Path(name)
        try:
            written, row = apply_to_slide(
                slide_path, model, config, device, out, threshold, args.region, args.batch_size
            )
        except (openslide.OpenSlideError, FileNotFoundError, RegionError) as exc:
            failed += 1
            print(f"slidelab: {slide_path.name}: {exc}", file=sys.stderr)
            continue
        rows.append(row)
        write_summary(rows, out / SUMMARY)
        print(json.dumps({"slide": str(slide_path), **{k: str(v) for k, v in written.items()}}))
    return 1 if failed else 0
