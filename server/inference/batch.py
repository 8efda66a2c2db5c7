"""`slidelab apply APP SLIDE... --out DIR [--threshold T]`: batch inference from the shell.

APP is an app id in the data folder, an app folder, or an exported `.slidelab-app` file.
Each slide is predicted (tissue only unless `--region whole`) with a progress bar per run
and per slide; the app's post-processing steps run on its labels; its GeoJSON, label
TIFF, CSV of areas and CSV of objects are written to DIR as `<slide>.geojson`,
`<slide>.tif`, `<slide>.csv`, `<slide>.objects.csv`. DIR's manifest (see
`server.inference.manifest`) makes a rerun skip finished slides, and its `summary.csv`
gets one row per slide: status, seconds, areas, fractions, object counts and densities.
`--shard i/N` takes every N-th slide (a Slurm job array); `--ray [ADDRESS]` runs the
slides on a Ray cluster (`server.inference.ray_apply`). The probability store lives in a
temporary folder and is removed after.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
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
from server.inference.manifest import DONE, FAILED, Manifest, parse_shard, run_key, shard
from server.inference.measurements import pixel_um, summary, write_objects
from server.inference.planning import SlideFacts
from server.inference.prediction import PredictionJob, predict_steps
from server.inference.probstore import ProbStore
from server.inference.regions import RegionSpec
from server.inference.stats import pixel_area_um2
from server.inference.thresholds import parse_threshold
from server.inference.tiler import Grid, TileGeometry
from server.models import model_from_state
from server.slides.metadata import read_info, slide_bounds

KINDS = ("geojson", "tiff", "csv")
SUFFIX = {"geojson": ".geojson", "tiff": ".tif", "csv": ".csv", "objects": ".objects.csv"}
# A per-slide progress bar: called with total, desc and unit; has update(n), n and close().
BarFactory = Callable[..., Any]
NO_BAR: BarFactory = partial(tqdm, disable=True)


@dataclass(frozen=True)
class AppData:
    """An app read for batch use: config, weights on the CPU, the files it came from."""

    config: dict[str, Any]
    state: dict[str, torch.Tensor]
    files: list[Path]

    def model(self, device: torch.device) -> torch.nn.Module:
        """The app's model on `device`, in eval mode."""
        return model_from_state(self.config, self.state, device)


@dataclass(frozen=True)
class ApplyOptions:
    """How every slide of a run is applied."""

    out: Path
    threshold: float
    region: str = "tissue"
    batch_size: int | None = None


def read_app(app: str, data_dir: Path) -> AppData:
    """The app named by APP (see module doc); AppInvalid/AppNotFound if not."""
    path = Path(app)
    if path.is_file():
        config, state = apps.read_app_file(path)
        return AppData(config, state, [path])
    in_folder = (path / apps.CONFIG_NAME).is_file()
    root, app_id = (path.parent, path.name) if in_folder else (data_dir, app)
    apps.check_app(root, app_id)
    config, state = apps.load_app_state(root, app_id)
    folder = apps.app_dir(root, app_id)
    return AppData(config, state, [folder / apps.CONFIG_NAME, folder / apps.WEIGHTS_NAME])


def apply_one(
    slide_path: Path,
    model: torch.nn.Module,
    config: dict,
    device: torch.device,
    options: ApplyOptions,
    bar: BarFactory,
) -> dict[str, Any]:
    """Apply the model to one slide; its outcome: slide, state, seconds, and the
    written files and summary row (done) or the error (failed). A slide that fails is
    reported, never raised, so one bad slide does not stop a run of thousands."""
    started = time.monotonic()
    outcome: dict[str, Any] = {"slide": str(slide_path)}
    try:
        written, row = apply_to_slide(slide_path, model, config, device, options, bar)
    except Exception as exc:  # noqa: BLE001 - reported per slide, see docstring
        if not isinstance(exc, openslide.OpenSlideError | OSError | ValueError):
            traceback.print_exc()
        outcome.update(state=FAILED, error=str(exc) or type(exc).__name__)
    else:
        outcome.update(state=DONE, outputs={k: str(v) for k, v in written.items()}, row=row)
    outcome["seconds"] = time.monotonic() - started
    return outcome


def apply_to_slide(
    slide_path: Path,
    model: torch.nn.Module,
    config: dict,
    device: torch.device,
    options: ApplyOptions,
    bar: BarFactory = NO_BAR,
    geometry: TileGeometry | None = None,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Predict one slide and write its exports; returns ({kind: path}, its summary row)."""
    with openslide.OpenSlide(slide_path) as slide:
        info = read_info(slide, slide_path)
        bounds = slide_bounds(slide)
    facts = SlideFacts(str(slide_path), info.width, info.height, info.mpp, bounds)
    meta = {
        "classes": config["classes"],
        "slide_name": slide_path.name,
        "slide_mpp": info.mpp,
        "app_name": config["name"],
    }
    threshold, out = options.threshold, options.out
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="slidelab-apply-") as tmp:
        job = PredictionJob(
            RegionSpec(options.region),
            facts,
            config,
            None,
            geometry or TileGeometry(),
            Path(tmp) / "p.zarr",
            meta,
            options.batch_size,
        )
        tiles = None
        for event in predict_steps(job, lambda _: (model, config), device):
            if "meta" in event:
                tiles = bar(total=event["meta"]["tiles"], unit="tile", desc=slide_path.name)
                for warning in event["meta"]["warnings"]:
                    print(f"slidelab: {slide_path.name}: {warning}", file=sys.stderr)
            elif tiles is not None:
                tiles.update(round(event["progress"] * tiles.total) - tiles.n)
        if tiles is not None:
            tiles.update(tiles.total - tiles.n)
            tiles.close()
        store = ProbStore.open(job.store)
        meta = store.meta
        scale = Grid.from_dict(meta["grid"]).scale
        labels = _post_processed(store, config, Path(tmp), scale, info.mpp, threshold)
        area = pixel_area_um2(scale, info.mpp)
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


def apply_here(
    app: AppData, slides: list[Path], options: ApplyOptions, device_name: str
) -> Iterator[dict[str, Any]]:
    """Each slide's outcome (see apply_one), applied in this process one after another."""
    device = select_device(device_name)
    print(f"slidelab: applying '{app.config['name']}' on {describe(device)}", file=sys.stderr)
    model = app.model(device)
    bar = partial(tqdm, leave=False, position=1)
    for slide in slides:
        yield apply_one(slide, model, app.config, device, options, bar)


def run(args: argparse.Namespace) -> int:
    """The `apply` command (arguments: see server.inference.command)."""
    try:
        threshold = parse_threshold(args.threshold)
        part = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        print(f"slidelab: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    try:
        app = read_app(args.app, data_dir)
    except apps.AppNotFound:
        print(f"slidelab: no app {args.app!r} (not a file, folder or app id)", file=sys.stderr)
        return 2
    except (apps.AppInvalid, ValueError) as exc:
        print(f"slidelab: the app cannot be used: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    slides = [Path(name).resolve() for name in args.slides]
    slides = shard(slides, *part) if part else slides
    manifest = Manifest(out, run_key(app.files, threshold, args.region))
    todo = manifest.pending(slides)
    finished = len(set(slides)) - len(todo)
    print(f"slidelab: {len(todo)} slide(s) to do, {finished} finished before", file=sys.stderr)
    options = ApplyOptions(out, threshold, args.region, args.batch_size)
    if args.ray is not None:
        try:
            from server.inference.ray_apply import Workers, apply_on_ray
        except ImportError:
            print("slidelab: --ray needs Ray: pip install 'slidelab[ray]'", file=sys.stderr)
            return 2
        workers = Workers(args.workers, args.cpus_per_worker, args.device)
        outcomes = apply_on_ray(app, todo, options, workers, args.ray or None)
    else:
        outcomes = apply_here(app, todo, options, args.device)
    failed = 0
    for outcome in tqdm(outcomes, total=len(todo), unit="slide", desc="slides", position=0):
        slide = Path(outcome["slide"])
        fields = {k: outcome[k] for k in ("row", "outputs", "error", "worker") if k in outcome}
        if not manifest.record(slide, outcome["state"], outcome["seconds"], **fields):
            continue
        if outcome["state"] == FAILED:
            failed += 1
            print(f"slidelab: {slide.name}: {outcome['error']}", file=sys.stderr)
        else:
            tqdm.write(json.dumps({"slide": str(slide), **outcome["outputs"]}))
    return 1 if failed else 0
