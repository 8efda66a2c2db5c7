"""Preparing a run (merging label pieces, rasterising regions) and drawing its patches:
the building blocks on real geometry, and the preparing phase of a real server's run."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import shapely
import socketio
from shapely.geometry import Polygon, box

from server.annotations import classes as class_store
from server.annotations import repository
from server.annotations.geometry import merge_pieces
from server.store import Store
from server.training import settings as training_settings
from server.training.augment import crop_size
from server.training.sampler import (
    IGNORE,
    LabelCache,
    PatchSampler,
    Region,
    Shapes,
    SlideSource,
    class_probabilities,
    iterations_for_passes,
    load_cache,
    opened,
    polygon_mask,
    rasterize,
)
from tests.helpers import DEMO_SLIDE
from tests.training_support import (
    TINY,
    labelled_server,
    start_run,
    tissue_and_background,
    wait_for,
)

DEMO_MPP = 0.499


def nuclei(count: int, seed: int, area: tuple[float, float, float, float]) -> list[Polygon]:
    """Small irregular convex-ish polygons (nuclei outlines) scattered over `area`."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = area
    out = []
    while len(out) < count:
        cx, cy = rng.uniform(x0 + 20, x1 - 20), rng.uniform(y0 + 20, y1 - 20)
        angles = np.linspace(0, 2 * np.pi, int(rng.integers(12, 22)), endpoint=False)
        radius = rng.uniform(5, 14) * (1 + 0.2 * rng.uniform(-1, 1, len(angles)))
        poly = Polygon(np.c_[cx + radius * np.cos(angles), cy + 0.8 * radius * np.sin(angles)])
        if poly.is_valid:
            out.append(poly)
    return out


@pytest.fixture(scope="module")
def painted(tmp_path_factory):
    """A store where "Other" fills two fields and 400 nuclei are painted over them (so
    Other has a hole per nucleus), cut into grid cells as the editor stores them."""
    store = Store(tmp_path_factory.mktemp("prepare") / "db.sqlite3")
    other = class_store.create_class(store, "Other", "#f0f0f0")["id"]
    nucleus = class_store.create_class(store, "Nucleus", "#3040c0")["id"]
    fields = [(100, 150, 1300, 1100), (1500, 1400, 2200, 2100)]
    repository.replace_label_geometry(
        store, "s", other, shapely.union_all([box(*f) for f in fields])
    )
    shapes = [p for i, f in enumerate(fields) for p in nuclei(200, i, f)]
    repository.replace_label_geometry(store, "s", nucleus, shapely.union_all(shapes))
    yield store, {"other": other, "nucleus": nucleus}
    store.close()


# ---- merging label pieces -------------------------------------------------------------------


def test_merging_only_where_labels_cross_cells_gives_the_plain_union(painted):
    store, ids = painted
    pieces = repository.load_label_pieces(store, "s")
    assert len(pieces[ids["other"]]) > 40  # many cells: the fields cross cell edges
    merged = repository.merge_label_pieces(pieces)
    for class_id, blobs in pieces.items():
        plain = merge_pieces(shapely.from_wkb(b) for b in blobs)
        fast = merged[class_id]
        assert fast.is_valid
        assert fast.symmetric_difference(plain).area < 1e-6 * plain.area
        parts_fast, parts_plain = shapely.get_parts(fast), shapely.get_parts(plain)
        assert len(parts_fast) == len(parts_plain)
        holes = shapely.get_num_interior_rings
        assert holes(parts_fast).sum() == holes(parts_plain).sum()
    # Other: two fields, one polygon each, with the nuclei inside them as holes (and maybe
    # a speck that touching nuclei enclose).
    fields = sorted(shapely.get_parts(merged[ids["other"]]), key=lambda p: p.area)[-2:]
    assert min(f.area for f in fields) > 0.9 * 700 * 700
    assert shapely.get_num_interior_rings(fields).sum() > 300


def test_merge_cells_joins_a_shape_cut_by_cell_edges_and_keeps_its_holes():
    ring = box(100, 100, 700, 500).difference(box(300, 200, 340, 240))  # a hole in one cell
    cut = [ring.intersection(box(x, y, x + 256, y + 256)) for x in (0, 256, 512) for y in (0, 256)]
    merged = repository.merge_cells([c for c in cut if not c.is_empty])
    assert merged.geom_type == "Polygon" and merged.is_valid
    assert len(merged.interiors) == 1
    assert merged.symmetric_difference(ring).area < 1e-9


# ---- rasterising -----------------------------------------------------------------------------


def test_overlapping_polygons_count_once():
    """Opening a label may leave overlapping parts: a pixel inside two of them is inside
    (nonzero winding), not cancelled out (even-odd)."""
    mask = polygon_mask([box(0, 0, 10, 10), box(5, 0, 15, 10)], (10, 20))
    assert mask[:, :15].all() and not mask[:, 15:].any()
    # A hole of one polygon covered by another polygon is labelled.
    holed = Polygon(box(0, 0, 10, 10).exterior, [box(2, 2, 8, 8).exterior.coords[::-1]])
    mask = polygon_mask([holed, box(4, 4, 6, 6)], (10, 10))
    assert mask[5, 5] and not mask[3, 3] and mask[1, 1]
    assert mask.sum() == 100 - 36 + 4
    # The origin moves the pixel grid.
    assert polygon_mask([box(10, 20, 12, 23)], (5, 5), origin=(10, 20)).sum() == 6


def test_opening_a_label_with_many_holes_matches_the_plain_buffer():
    """Growing the outline and shrinking the holes on their own gives the pixels of GEOS's
    buffer of the whole; thin walls between holes and outline still open up."""
    outline = box(0, 0, 600, 400)
    holes = shapely.get_parts(shapely.union_all(nuclei(120, 7, (0, 0, 600, 400))))
    field = outline.difference(shapely.union_all(holes))
    field = field.difference(box(0.6, 2, 10, 8))  # leaves a wall 0.6 px thin at the edge
    assert shapely.get_num_interior_rings(shapely.get_parts(field)).sum() > 60
    assert polygon_mask(field, (400, 600))[5, 0]
    reference = shapely.buffer(shapely.buffer(field, -0.5), 0.5, join_style="mitre")
    fast = polygon_mask(opened(field), (400, 600))
    plain = polygon_mask(reference, (400, 600))
    assert (fast != plain).sum() <= 3
    assert not fast[5, 0] and not plain[5, 0]  # the thin wall is gone in both


def test_rasterize_picks_the_polygons_near_each_region():
    shapes = Shapes.of(shapely.MultiPolygon([box(0, 0, 10, 10), box(100, 100, 110, 110)]))
    assert len(shapes.near(95, 95, 120, 120)) == 1 and len(shapes.near(5, 5, 200, 200)) == 2
    label = rasterize({0: shapes}, (98, 98), (20, 20))
    assert (label == 0).sum() == 100 and label[0, 0] == IGNORE and label[5, 5] == 0


def test_load_cache_reports_progress_and_threads_give_the_same_cache():
    spots = [box(x, y, x + 200, y + 200) for x, y in ((100, 100), (1500, 2000), (1800, 200))]
    labels = {0: shapely.union_all(spots[:2]), 1: spots[2].union(box(100, 2500, 300, 2700))}
    source = SlideSource("demo", DEMO_SLIDE.name, DEMO_SLIDE, DEMO_MPP, labels)
    calls: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            calls.append((done, total))

    names = ["Background", "Tissue"]
    threaded = load_cache([source], 2.0, 64, names, 0.15, 1, progress=progress, workers=3)
    single = load_cache([source], 2.0, 64, names, 0.15, 1)
    total = len(threaded.regions)
    assert total == 4  # four spots far apart
    assert calls[0] == (0, total) and sorted(calls) == [(i, total) for i in range(total + 1)]
    assert len(single.regions) == total
    for a, b in zip(single.regions, threaded.regions, strict=True):
        assert a.origin == b.origin
        assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert np.array_equal(single.class_pixels, threaded.class_pixels)


# ---- sampling --------------------------------------------------------------------------------

PIXELS = (9000, 900, 100)  # labelled pixels per class of the synthetic cache


def synthetic_cache() -> LabelCache:
    """One 100 × 100 region whose labels have exactly PIXELS pixels per class."""
    label = np.full(100 * 100, IGNORE, np.uint8)
    start = 0
    for c, n in enumerate(PIXELS):
        label[start : start + n] = c
        start += n
    label = np.random.default_rng(0).permutation(label).reshape(100, 100)
    region = Region(0, (0, 0), np.zeros((100, 100, 3), np.uint8), label)
    counts = np.bincount(label.ravel(), minlength=256)[:3]
    return LabelCache([region], 3, counts, np.zeros(3, np.int64))


@pytest.mark.parametrize("balance", [0.0, 0.5, 1.0])
def test_patch_centres_follow_the_class_balance(balance):
    """Class c is the centre of a patch with probability ∝ pixels_c^(1 − balance)."""
    expected = np.power(PIXELS, 1 - balance) / np.power(PIXELS, 1 - balance).sum()
    assert class_probabilities(np.array(PIXELS), balance) == pytest.approx(expected)
    sampler = PatchSampler(synthetic_cache(), 9, seed=5, inner=1, balance=balance)
    draws = 20_000
    _, labels = sampler.draw(draws)
    centres = labels[:, 4, 4]  # inner 1: the drawn labelled pixel is the crop's centre
    frequencies = np.bincount(centres, minlength=3)[:3] / draws
    assert frequencies == pytest.approx(expected, abs=0.015)


def test_balance_zero_draws_uniformly_over_labelled_pixels():
    sampler = PatchSampler(synthetic_cache(), 9, seed=2, inner=1, balance=0.0)
    _, labels = sampler.draw(20_000)
    assert (labels[:, 4, 4] == 0).mean() == pytest.approx(0.9, abs=0.015)
    assert class_probabilities(np.array([0, 50, 150]), 0.0) == pytest.approx([0, 0.25, 0.75])


def test_batchnorm_calibration_patches_are_drawn_as_labelled_whatever_the_balance():
    """The patches BatchNorm statistics come from should look like the images an app meets:
    centred uniformly over labelled pixels, not class-balanced."""
    sampler = PatchSampler(synthetic_cache(), 9, seed=4, inner=1, balance=1.0)
    _, labels = sampler.draw(20_000, rng=np.random.default_rng(1), as_labelled=True)
    frequencies = np.bincount(labels[:, 4, 4], minlength=3)[:3] / 20_000
    assert frequencies == pytest.approx(np.array(PIXELS) / sum(PIXELS), abs=0.015)


def test_sampling_settings_are_validated_and_set_iterations_from_the_area():
    settings, errors = training_settings.validate({"class_balance": 0.25}, "cpu")
    assert not errors and settings["class_balance"] == 0.25 and settings["label_passes"] == 0
    _, errors = training_settings.validate({"class_balance": 1.5, "label_passes": -1}, "cpu")
    assert errors == {"class_balance": "must be at most 1", "label_passes": "must be at least 0"}
    # 2 passes over 100,000 labelled pixels with batches of 8 patches of 64²: 7 iterations.
    assert iterations_for_passes(2.0, 100_000, 8, 64) == math.ceil(200_000 / (8 * 64 * 64)) == 7
    assert iterations_for_passes(0.001, 10, 8, 64) == 1


# ---- the preparing phase of a real run -------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = labelled_server(tmp_path_factory.mktemp("prepare-server"))
    yield srv
    srv.stop()


class Recorder:
    """A Socket.IO client watching one run: every event with its name, in arrival order."""

    def __init__(self, server, run_id: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for name in ("training:history", "training:state", "training:progress"):
            self.client.on(name, self._recorder(name))
        self.client.on("training:iteration", self._recorder("training:iteration"))
        self.client.connect(server.url, transports=["websocket"], wait_timeout=20)
        self.client.call("watch", {"run_id": run_id}, timeout=20)

    def _recorder(self, name: str):
        def record(payload: dict) -> None:
            with self.lock:
                self.events.append((name, payload))

        return record

    def named(self, name: str) -> list[dict]:
        with self.lock:
            return [payload for n, payload in self.events if n == name]

    def close(self) -> None:
        self.client.disconnect()


def test_a_run_reports_its_preparation_before_its_first_iteration(server):
    # A run queued behind another is watched before it starts, so nothing is missed.
    first = start_run(server, iterations=5000, checkpoint_interval=5000)
    wait_for(server, first, lambda r: r["iteration"] >= 1)
    run_id = start_run(server, iterations=5000, checkpoint_interval=5000)
    recorder = Recorder(server, run_id)
    queued = server.get(f"/api/training/{run_id}").json()
    assert queued["state"] == "queued" and queued["phase"] is None and queued["prepare_s"] == 0
    server.post(f"/api/training/{first}/stop")
    wait_for(server, run_id, lambda r: r["iteration"] >= 3)
    server.post(f"/api/training/{run_id}/stop")
    run = wait_for(server, run_id, lambda r: r["state"] == "stopped")
    time.sleep(0.5)  # the last events
    recorder.close()

    names = [name for name, _ in recorder.events]
    first_iteration = names.index("training:iteration")
    progress = recorder.named("training:progress")
    assert progress, "no training:progress event"
    assert max(i for i, n in enumerate(names) if n == "training:progress") < first_iteration
    assert all(p["phase"] == "preparing" and 0 <= p["done"] <= p["total"] for p in progress)
    steps = [p["step"] for p in progress]
    assert steps == sorted(steps, key=["labels", "regions", "model"].index)  # in order
    assert (progress[0]["step"], progress[0]["done"], progress[0]["total"]) == ("labels", 0, 1)
    assert (progress[-1]["step"], progress[-1]["done"], progress[-1]["total"]) == ("model", 1, 1)
    assert [p["elapsed_s"] for p in progress] == sorted(p["elapsed_s"] for p in progress)
    # The state says "running" throughout; its phase goes from preparing to training.
    states = [(s["state"], s["phase"]) for s in recorder.named("training:state")]
    assert states.index(("running", "preparing")) < states.index(("running", "training"))
    trained = next(s for s in recorder.named("training:state") if s["phase"] == "training")
    assert trained["prepare_s"] > 0 and trained["prepare_s"] >= progress[-1]["elapsed_s"]
    # The run's duration counts the preparation, which is also reported alone.
    assert run["prepare_s"] == pytest.approx(trained["prepare_s"])
    assert run["duration_s"] >= run["prepare_s"] > 0
    assert run["phase"] is None and run["progress"] is None
    iterations = run["history"]
    span = iterations[-1]["time"] - iterations[0]["time"]
    assert run["duration_s"] >= run["prepare_s"] + span * 0.9


def test_a_run_joined_while_preparing_sees_its_progress_in_the_replay(server):
    first = start_run(server, iterations=5000, checkpoint_interval=5000)
    run_id = start_run(server, iterations=2)
    recorder = Recorder(server, run_id)
    server.post(f"/api/training/{first}/stop")
    done = wait_for(server, run_id, lambda r: r["state"] == "completed")
    recorder.close()
    (history,) = recorder.named("training:history")
    assert history["state"] == "queued" and history["phase"] is None
    assert history["progress"] is None and "prepare_s" in history
    assert done["iterations"] == 2 and done["prepare_s"] > 0


def test_label_passes_set_the_iterations_from_the_labelled_area(server):
    settings = {"label_passes": 0.5, "iterations": 100_000, "validation_fraction": 0.0}
    run_id = start_run(server, **settings)
    run = wait_for(server, run_id, lambda r: r["phase"] == "training" or r["iteration"] > 0)
    server.post(f"/api/training/{run_id}/stop")
    tissue, background = tissue_and_background()
    source = SlideSource("demo", DEMO_SLIDE.name, DEMO_SLIDE, DEMO_MPP, {0: background, 1: tissue})
    crop = crop_size(TINY["patch_size"], run["settings"]["augmentation"]["scale_jitter"])
    cache = load_cache([source], TINY["mpp"], crop, ["Background", "Tissue"])
    labelled = int(cache.class_pixels.sum())
    expected = math.ceil(0.5 * labelled / (TINY["batch_size"] * TINY["patch_size"] ** 2))
    assert run["iterations"] == expected < 100_000
    assert server.get(f"/api/training/{run_id}").json()["iterations"] == expected
