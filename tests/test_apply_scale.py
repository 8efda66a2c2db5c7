"""`slidelab apply` at scale: DIR's manifest (reruns resume), shards for job arrays, and
Ray: a local Ray and a simulated two-node cluster, which must give the plain run's files."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tifffile

from server import apps
from server.inference.batch import ApplyOptions, apply_here, read_app
from server.inference.manifest import Manifest, parse_shard, run_key, shard
from tests.helpers import DEMO_SLIDE, REPO, slidelab_here
from tests.inference_support import make_app


@pytest.fixture(scope="module")
def app_file(tmp_path_factory) -> Path:
    """The fitted test app, exported as a `.slidelab-app` file."""
    tmp = tmp_path_factory.mktemp("app")
    app_id = make_app(tmp / "data")
    return apps.export_app(tmp / "data", app_id, tmp / "skin.slidelab-app")


def copies(folder: Path, count: int) -> list[Path]:
    """`count` copies of the demo slide: an archive of slides in a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(DEMO_SLIDE, folder / f"slide-{i}.svs")) for i in range(count)]


def start_apply(app_file: Path, slides: list[Path], out: Path, *extra: str) -> subprocess.Popen:
    args = ["apply", str(app_file), *map(str, slides), "--out", str(out), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = proc.communicate(timeout=600)
    return proc.returncode, stdout, stderr


def wait_for_done(out: Path, proc: subprocess.Popen, timeout: float = 300) -> dict:
    """Wait until the manifest in `out` records a finished slide; that slide's entry."""
    deadline = time.monotonic() + timeout
    while not (done := [e for e in manifest(out).values() if e["state"] == "done"]):
        assert proc.poll() is None, finish(proc)[2]
        assert time.monotonic() < deadline, "no slide finished"
        time.sleep(0.05)
    return done[0]


def manifest(out: Path) -> dict[str, dict]:
    try:
        return json.loads((out / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def shapes(geojson: Path) -> list[dict]:
    """A GeoJSON export's features without their ids (a fresh UUID each export)."""
    features = json.loads(geojson.read_text())["features"]
    return [{k: v for k, v in f.items() if k != "id"} for f in features]


def summary(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "summary.csv").open()))


def test_manifest_keys_shards_and_duplicates(tmp_path: Path, app_file: Path):
    (slide,) = copies(tmp_path / "slides", 1)
    key = run_key([app_file], 0.5, "tissue")
    assert key == run_key([app_file], 0.5, "tissue")
    assert len({key, run_key([app_file], 0.6, "tissue"), run_key([app_file], 0.5, "whole")}) == 3
    done = Manifest(tmp_path, key)
    assert done.pending([slide, slide]) == [slide]
    assert done.record(slide, "done", 1.0, row={"slide": slide.name})
    assert done.pending([slide]) == []
    assert not done.record(slide, "done", 2.0)  # a retried worker's second answer
    assert done.entries()[str(slide)]["seconds"] == 1.0
    assert Manifest(tmp_path, run_key([app_file], 0.6, "tissue")).pending([slide]) == [slide]
    os.utime(slide, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert done.pending([slide]) == [slide]

    assert shard(list(range(7)), 1, 3) == [1, 4]
    assert [x for i in range(3) for x in shard(list(range(7)), i, 3)] == [0, 3, 6, 1, 4, 2, 5]
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/4", "1", "a/b"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)


def test_a_rerun_skips_finished_slides_and_redoes_changed_or_failed(
    tmp_path: Path, app_file: Path, capsys
):
    slides = copies(tmp_path / "slides", 3)
    broken = tmp_path / "slides" / "broken.svs"
    broken.write_bytes(b"not a slide")
    out = tmp_path / "out"
    interrupted = start_apply(app_file, [*slides, broken], out)
    wait_for_done(out, interrupted)
    interrupted.kill()
    interrupted.wait()
    before = {k: e for k, e in manifest(out).items() if e["state"] == "done"}
    first = Path(next(iter(before)))
    made = (out / f"{first.stem}.tif").stat().st_mtime_ns

    def rerun() -> tuple[int, str, str]:
        args = ["apply", str(app_file), *map(str, slides), str(broken), "--out", str(out)]
        done = slidelab_here(capsys, *args)
        return done.returncode, done.stdout, done.stderr

    code, stdout, stderr = rerun()
    assert code == 1, stderr  # the broken slide failed
    assert f"{4 - len(before)} slide(s) to do, {len(before)} finished before" in stderr
    assert (out / f"{first.stem}.tif").stat().st_mtime_ns == made
    assert {json.loads(line)["slide"] for line in stdout.splitlines()} == {
        str(s) for s in slides if str(s) not in before
    }
    rows = {row["slide"]: row for row in summary(out)}
    assert sorted(rows) == sorted([s.name for s in slides] + [broken.name])
    assert rows[broken.name]["status"] == "failed" and rows[broken.name]["error"]
    for slide in slides:
        assert rows[slide.name]["status"] == "done" and float(rows[slide.name]["seconds"]) > 0
        assert float(rows[slide.name]["Stroma area_mm2"]) > 0

    # A changed slide is redone, and the failed one is tried again.
    os.utime(slides[2], ns=(time.time_ns(), time.time_ns() + 10**9))
    code, stdout, stderr = rerun()
    assert code == 1 and "2 slide(s) to do, 2 finished before" in stderr
    assert [json.loads(line)["slide"] for line in stdout.splitlines()] == [str(slides[2])]


@pytest.fixture
def local_ray():
    """A local Ray of two CPUs for the test, shut down after it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    yield ray
    ray.shutdown()


def test_ray_gives_the_plain_run_s_files(tmp_path: Path, app_file: Path, local_ray):
    from server.inference.ray_apply import Workers, apply_on_ray

    slides = copies(tmp_path / "slides", 2)
    app = read_app(str(app_file), tmp_path)
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    plain.mkdir(), on_ray.mkdir()
    here = list(apply_here(app, slides, ApplyOptions(plain, 0.5), "cpu"))
    there = list(apply_on_ray(app, slides, ApplyOptions(on_ray, 0.5), Workers(2, 1, "cpu"), None))
    assert sorted(o["slide"] for o in there) == sorted(map(str, slides))
    assert all(o["state"] == "done" and o["worker"]["pid"] != os.getpid() for o in there)
    by_slide = {o["slide"]: o for o in there}
    for outcome in here:
        assert by_slide[outcome["slide"]]["row"] == outcome["row"]
        stem = Path(outcome["slide"]).stem
        for suffix in (".csv", ".objects.csv"):
            name = f"{stem}{suffix}"
            assert (on_ray / name).read_text() == (plain / name).read_text(), name
        assert shapes(on_ray / f"{stem}.geojson") == shapes(plain / f"{stem}.geojson")
        labels = tifffile.imread(plain / f"{stem}.tif")
        assert (labels > 0).any()
        assert (tifffile.imread(on_ray / f"{stem}.tif") == labels).all()


def test_a_node_lost_mid_run_still_ends_with_every_slide_done_once(tmp_path: Path, app_file: Path):
    from ray.cluster_utils import Cluster

    # The head runs the driver only; three one-CPU nodes hold two workers and a spare.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(3)]
    try:
        slides = copies(tmp_path / "slides", 4)
        out = tmp_path / "out"
        workers = ["--workers", "2", "--cpus-per-worker", "1", "--device", "cpu"]
        run = start_apply(app_file, slides, out, "--ray", cluster.address, *workers)
        first = wait_for_done(out, run)
        busy = next(n for n in nodes if n.node_id == first["worker"]["node"])
        cluster.remove_node(busy)  # its worker is on its next slide by now
        code, stdout, stderr = finish(run)
    finally:
        cluster.shutdown()
    assert code == 0, stderr
    # Ray's own notes (a retried slide, say) share stdout with the JSON lines.
    printed = [json.loads(line)["slide"] for line in stdout.splitlines() if line[:1] == "{"]
    assert sorted(printed) == sorted(map(str, slides))
    entries = manifest(out)
    assert sorted(entries) == sorted(map(str, slides))
    assert all(e["state"] == "done" for e in entries.values())
    assert [row["status"] for row in summary(out)] == ["done"] * 4
