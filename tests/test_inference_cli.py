"""`slidelab apply`: batch inference from the shell, in a subprocess like a user runs it
(the first test), and through the same entry point in this process (the others)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tifffile
from skimage.measure import label

from server import apps
from tests.helpers import DEMO_SLIDE, REPO, slidelab_here
from tests.inference_support import CLASSES, make_app


def slidelab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_apply_writes_the_exports_per_slide(tmp_path: Path, capsys):
    data = tmp_path / "data"
    app_id = make_app(data)
    app_file = apps.export_app(data, app_id, tmp_path / "skin.slidelab-app")
    out = tmp_path / "out"
    done = slidelab(
        "apply", str(app_file), str(DEMO_SLIDE), "--out", str(out), "--threshold", "0.5"
    )
    assert done.returncode == 0, done.stderr
    assert "tile" in done.stderr  # the progress bar
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["slide"] == str(DEMO_SLIDE)
    stem = DEMO_SLIDE.stem
    rows = list(csv.DictReader((out / f"{stem}.csv").open()))
    assert [r["class"] for r in rows][:3] == [c["name"] for c in CLASSES]
    assert all(r["threshold"] == "0.5" for r in rows)
    geo = json.loads((out / f"{stem}.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and geo["features"]
    with tifffile.TiffFile(out / f"{stem}.tif") as tif:
        labels = tif.pages[0].asarray()
    region = int(rows[-1]["pixels"])
    assert sum(int(r["pixels"]) for r in rows[:3]) == int((labels > 0).sum())
    assert region > int((labels > 0).sum()) > 0

    # The same app by id in the data folder gives the same numbers.
    again = slidelab_here(
        capsys,
        "apply",
        app_id,
        str(DEMO_SLIDE),
        "--out",
        str(tmp_path / "o2"),
        "--data-dir",
        str(data),
        "--threshold",
        "0.5",
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "o2" / f"{stem}.csv").read_text() == (out / f"{stem}.csv").read_text()

    # Objects per slide and one summary row per slide.
    objects = list(csv.DictReader((out / f"{stem}.objects.csv").open()))
    assert len(objects) == label(labels, background=0, connectivity=1).max()
    (summary,) = list(csv.DictReader((out / "summary.csv").open()))
    assert summary["slide"] == DEMO_SLIDE.name
    for cls in CLASSES:
        mine = [o for o in objects if o["class"] == cls["name"]]
        assert int(summary[f"{cls['name']} count"]) == len(mine)
        area = sum(float(o["area_um2"]) for o in mine) / 1e6
        assert float(summary[f"{cls['name']} area_mm2"]) == pytest.approx(area, rel=1e-4)


def test_apply_runs_the_app_s_post_processing(tmp_path: Path, capsys):
    data = tmp_path / "data"
    app_id = make_app(data)
    nuclei = CLASSES[2]
    step = {"op": "remove_small_objects", "class_id": nuclei["id"], "min_area_um2": 500}
    apps.set_postprocessing(data, app_id, [step])
    out = tmp_path / "out"
    args = ["--out", str(out), "--data-dir", str(data), "--threshold", "0.5"]
    done = slidelab_here(capsys, "apply", app_id, str(DEMO_SLIDE), *args)
    assert done.returncode == 0, done.stderr
    stem = DEMO_SLIDE.stem
    objects = list(csv.DictReader((out / f"{stem}.objects.csv").open()))
    nuclei_areas = [float(o["area_um2"]) for o in objects if o["class"] == nuclei["name"]]
    assert nuclei_areas and min(nuclei_areas) >= 500
    with tifffile.TiffFile(out / f"{stem}.tif") as tif:
        labels = tif.pages[0].asarray()
    assert int((labels == 3).sum()) * 16 == pytest.approx(sum(nuclei_areas))
    rows = list(csv.DictReader((out / f"{stem}.csv").open()))
    assert int(rows[2]["pixels"]) == int((labels == 3).sum())


def test_apply_refuses_bad_arguments(tmp_path: Path, capsys):
    def apply(*args: str) -> subprocess.CompletedProcess:
        return slidelab_here(capsys, "apply", *args, "--out", str(tmp_path))

    bad = apply("no-such-app", str(DEMO_SLIDE), "--data-dir", str(tmp_path))
    assert bad.returncode == 2 and "no app" in bad.stderr
    (tmp_path / "x.slidelab-app").write_bytes(b"junk")
    junk = apply(str(tmp_path / "x.slidelab-app"), str(DEMO_SLIDE))
    assert junk.returncode == 2 and "cannot be used" in junk.stderr
    threshold = apply("x", str(DEMO_SLIDE), "--threshold", "2")
    assert threshold.returncode == 2 and "between 0 and 1" in threshold.stderr
    shard = apply("x", str(DEMO_SLIDE), "--shard", "3/3")
    assert shard.returncode == 2 and "--shard 3/3: i must be from 0 to N-1" in shard.stderr
