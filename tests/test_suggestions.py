"""Suggestions: uncertain windows inside the region, diverse, sorted, skipping labelled ones."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from server.inference.suggestions import rank
from server.inference.tiler import Grid
from tests.al_support import apply, open_store, start_env

SIZE = 400  # level-0 px: about 50 result pixels of the test app


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = start_env(tmp_path_factory.mktemp("suggestions-data"))
    yield env
    env["server"].stop()


@pytest.fixture(scope="module")
def tissue(env):
    return apply(env)


def suggestions(env: dict, rid: str, expect: int = 200, **query) -> dict:
    response = env["server"].get(f"/api/results/{rid}/suggestions", params=query)
    assert response.status_code == expect, response.text
    return response.json()


def window_stats(store, grid: Grid, bbox: list[float]) -> tuple[float, float]:
    """(region coverage, mean uncertainty over region pixels) of a level-0 box, at level 0."""
    x, y, w, h = bbox
    c0, r0 = round((x - grid.x0) / grid.scale), round((y - grid.y0) / grid.scale)
    side = round(w / grid.scale)
    assert side == round(h / grid.scale)
    valid = store.read(0, c0, r0, side, side).any(axis=0)
    u = store.read_uncertainty(0, c0, r0, side, side).astype(float) / 255
    return float(valid.mean()), float(u[valid].mean()) if valid.any() else 0.0


def distance(a: list[float], b: list[float]) -> float:
    """Distance between two bboxes' centres."""
    return float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2))


def overlap(a: list[float], b: list[float]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def test_suggestions_are_inside_sorted_diverse_and_uncertain(env, tissue):
    rid = tissue["id"]
    store = open_store(env, tissue)
    grid = Grid.from_dict(store.meta["grid"])
    answer = suggestions(env, rid, n=8, size=SIZE)
    found = answer["suggestions"]
    assert answer["window_px"] == pytest.approx(SIZE, rel=0.1)
    assert 4 <= len(found) <= 8
    scores = [s["score"] for s in found]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    for i, s in enumerate(found):
        x, y, w, h = s["bbox"]
        assert w == h == answer["window_px"]
        assert grid.x0 - 1e-6 <= x and x + w <= grid.x0 + grid.width * grid.scale + 1e-6
        assert grid.y0 - 1e-6 <= y and y + h <= grid.y0 + grid.height * grid.scale + 1e-6
        coverage, mean = window_stats(store, grid, s["bbox"])
        assert coverage >= 0.45  # ≥ 50 % on the coarse level it was ranked on
        assert s["mean_uncertainty"] == pytest.approx(mean, abs=0.05)
        assert s["score"] == pytest.approx(s["mean_uncertainty"])  # nothing labelled yet
        for other in found[i + 1 :]:
            assert overlap(s["bbox"], other["bbox"]) < 1e-6

    # The best window is more uncertain than a typical window of the region.
    rng = np.random.default_rng(1)
    side = round(answer["window_px"] / grid.scale)
    means = []
    while len(means) < 30:
        c0, r0 = rng.integers(0, grid.width - side), rng.integers(0, grid.height - side)
        bbox = [grid.x0 + c0 * grid.scale, grid.y0 + r0 * grid.scale, side * grid.scale] * 1
        bbox = [bbox[0], bbox[1], bbox[2], bbox[2]]
        coverage, mean = window_stats(store, grid, bbox)
        if coverage >= 0.5:
            means.append(mean)
    top = window_stats(store, grid, found[0]["bbox"])[1]
    assert top > np.median(means) and top >= max(means) - 0.02

    default = suggestions(env, rid)
    assert default["window_px"] == pytest.approx(256 * grid.scale, rel=0.05)
    assert 1 <= len(default["suggestions"]) <= 5


def test_labelled_windows_drop(env, tissue):
    server, rid = env["server"], tissue["id"]
    before = suggestions(env, rid, n=8, size=SIZE)["suggestions"]
    top = before[0]["bbox"]
    cls = server.post("/api/classes", json={"name": "Checked"}).json()
    x, y, w, h = top
    square = [[x - 2, y - 2], [x + w + 2, y - 2], [x + w + 2, y + h + 2], [x - 2, y + h + 2]]
    edit = server.post(
        f"/api/slides/{env['slide']}/annotations/edits",
        json={"tool": "polygon", "points": square, "class_id": cls["id"]},
    )
    assert edit.status_code == 200, edit.text
    after = suggestions(env, rid, n=8, size=SIZE)["suggestions"]
    assert after and all(overlap(s["bbox"], top) < 0.999 * w * h for s in after)
    # Windows that do not touch the labels stay, worth less the nearer they are to them.
    scores = {tuple(s["bbox"]): s["score"] for s in before}
    kept = [s for s in after if tuple(s["bbox"]) in scores and overlap(s["bbox"], top) == 0]
    assert kept
    gains = sorted((distance(s["bbox"], top), s["score"] / scores[tuple(s["bbox"])]) for s in kept)
    assert all(g <= 1 for _, g in gains)
    assert [g for _, g in gains] == pytest.approx(sorted(g for _, g in gains), abs=0.05)
    for s in after:  # partly labelled windows are down-weighted
        labelled = overlap(s["bbox"], top) / (w * h)
        assert s["score"] <= s["mean_uncertainty"] * (1 - labelled) + 0.05


def test_bad_requests_and_old_results(env, tissue):
    rid = tissue["id"]
    for query in ({"n": 0}, {"n": 51}, {"n": "x"}, {"size": -5}, {"size": "big"}):
        assert "error" in suggestions(env, rid, expect=400, **query)
    assert suggestions(env, "nope", expect=404)
    old = apply(env, region={"bbox": [600, 900, 600, 500]})
    zarr.open_group(str(open_store(env, old).path), mode="r+").attrs["uncertainty"] = False
    refused = suggestions(env, old["id"], expect=409)
    assert "re-apply" in refused["error"].lower()


def test_rank_picks_hot_spots_apart_and_skips_labelled_and_outside_windows():
    u = np.full((100, 120), 20, dtype=np.uint8)
    u[10:30, 10:30] = 250  # the hottest spot
    u[60:80, 70:90] = 200  # the second
    u[12:28, 34:50] = 240  # next to the first: its windows overlap the first's
    valid = np.ones_like(u, dtype=bool)
    valid[:, 100:] = False  # outside the region
    u[:, 100:] = 0
    labelled = np.zeros_like(valid)
    picks = rank(u, valid, labelled, 20, 10)
    assert (picks[0].row, picks[0].col) == (10, 10) and picks[0].mean == pytest.approx(250 / 255)
    assert (picks[1].row, picks[1].col) == (60, 70)
    scores = [p.score for p in picks]
    assert scores == sorted(scores, reverse=True)
    for i, a in enumerate(picks):
        assert a.col + 20 <= 100 + 10  # at least half inside the region
        for b in picks[i + 1 :]:
            assert abs(a.row - b.row) >= 20 or abs(a.col - b.col) >= 20  # never overlap
    labelled[10:30, 10:30] = True
    relabelled = rank(u, valid, labelled, 20, 10)
    assert (relabelled[0].row, relabelled[0].col) != (10, 10)
    assert all((p.row, p.col) != (10, 10) for p in relabelled)  # fully labelled: gone
    assert rank(u, np.zeros_like(valid), labelled, 20, 5) == []


def test_rank_prefers_windows_away_from_labels():
    u = np.full((20, 200), 200, dtype=np.uint8)  # a strip, equally uncertain everywhere
    valid = np.ones_like(u, dtype=bool)
    labelled = np.zeros_like(valid)
    labelled[:, 0:20] = True  # a label at the left end
    picks = rank(u, valid, labelled, 20, 3)
    assert picks[0].col == 180  # the farthest window first
    assert [p.col for p in picks] == sorted((p.col for p in picks), reverse=True)
    near = rank(u, valid, labelled, 20, 20)
    by_col = {p.col: p.score for p in near}
    assert by_col[20] < 0.7 * by_col[180]  # beside the label: worth less
    assert by_col[180] == pytest.approx(200 / 255, rel=0.01)  # far away: all its uncertainty
