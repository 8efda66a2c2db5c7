"""Uncertainty maps: stored beside the probabilities, overlay tiles, stats, old results."""

from __future__ import annotations

import io

import numpy as np
import pytest
import zarr
from PIL import Image

from server.inference import overlay, uncertainty
from server.inference.tiler import Grid
from server.inference.viewing import dzi_geometry
from tests.al_support import apply, open_store, reference_uncertainty, start_env

TOP = 12  # the demo slide's full-resolution Deep Zoom level


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = start_env(tmp_path_factory.mktemp("uncertainty-data"))
    yield env
    env["server"].stop()


@pytest.fixture(scope="module")
def tissue(env):
    return apply(env)  # the whole slide's tissue: two pyramid levels


def tile_png(env: dict, rid: str, level: int, col: int, row: int, **query) -> np.ndarray:
    response = env["server"].get(f"/results/{rid}_files/{level}/{col}_{row}.png", params=query)
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_stored_uncertainty_is_the_normalised_entropy_at_every_level(env, tissue):
    store = open_store(env, tissue)
    assert store.has_uncertainty and store.levels >= 2
    for level in range(store.levels):
        w, h = store.shape(level)
        probs = store.read(level, 0, 0, w, h)
        stored = store.read_uncertainty(level, 0, 0, w, h).astype(np.float64) / 255
        expected, valid = reference_uncertainty(probs)
        assert valid.mean() > 0.2 and (~valid).any()  # tissue and glass both present
        assert np.abs(stored - expected).max() <= 1 / 255 + 1e-9
        assert (stored[~valid] == 0).all()
        assert expected[valid].std() > 0.05  # a real spread, not a constant


def test_stats_summarise_the_region_uncertainty(env, tissue):
    store = open_store(env, tissue)
    w, h = store.shape(0)
    u, valid = reference_uncertainty(store.read(0, 0, 0, w, h))
    for threshold in (0, 0.8):  # the uncertainty does not depend on the threshold
        stats = (
            env["server"]
            .get(f"/api/results/{tissue['id']}/stats", params={"threshold": threshold})
            .json()
        )
        summary = stats["uncertainty"]
        assert summary["mean"] == pytest.approx(u[valid].mean(), abs=1 / 255)
        assert summary["p90"] == pytest.approx(np.quantile(u[valid], 0.9), abs=2 / 255)
        assert summary["high_fraction"] == pytest.approx((u[valid] >= 0.5).mean(), abs=0.01)
        assert stats["region_pixels"] == int(valid.sum())


def test_uncertainty_tiles_follow_the_colour_map(env, tissue):
    rid = tissue["id"]
    described = env["server"].get(f"/api/results/{rid}").json()
    stops = described["uncertainty_colors"]
    assert stops == uncertainty.colour_stops() and len(stops) == 5
    assert all(len(s) == 7 and s.startswith("#") for s in stops)
    lut = uncertainty.LUT
    assert (lut[0] == 0).all() and (np.diff(lut[:, 3].astype(int)) >= 0).all()
    assert lut[255, 0] > lut[255, 1]  # red at the top

    store = open_store(env, tissue)
    meta = store.meta
    grid, dzi = Grid.from_dict(meta["grid"]), dzi_geometry(meta)
    shown = 0
    for level, col, row in ((TOP, 4, 6), (TOP, 0, 10), (TOP - 1, 2, 3), (TOP - 3, 0, 0)):
        tile = tile_png(env, rid, level, col, row, mode="uncertainty", threshold=0.9)
        # The threshold is ignored: the same tile at another threshold is the same image.
        same = tile_png(env, rid, level, col, row, mode="uncertainty", threshold=0.1)
        assert np.array_equal(tile, same)
        prepared = overlay.prepare(store, grid, dzi, level, col, row, uncertain=True)
        assert np.array_equal(tile, lut[prepared.values])
        shown += int((tile[..., 3] > 0).sum())
    assert shown > 1000
    # Glass (outside the tissue region) is transparent.
    glass = tile_png(env, rid, TOP, 0, 10, mode="uncertainty")  # level-0 ~ (116, 2606)
    assert glass[2606 - 10 * 254 + 1, 116, 3] == 0


def test_results_without_an_uncertainty_map_answer_409(env):
    result = apply(env, region={"bbox": [600, 900, 600, 500]})
    store = open_store(env, result)
    group = zarr.open_group(str(store.path), mode="r+")
    group.attrs["uncertainty"] = False  # as a store written before uncertainty maps
    rid = result["id"]
    response = env["server"].get(f"/results/{rid}_files/{TOP}/3_4.png?mode=uncertainty")
    assert response.status_code == 409, response.text
    assert "re-apply the app to see uncertainty" in response.text.lower()
    stats = env["server"].get(f"/api/results/{rid}/stats").json()
    assert stats["uncertainty"] is None and stats["region_pixels"] > 0
    classes = tile_png(env, rid, TOP, 3, 4)  # the ordinary overlay still works
    assert (classes[..., 3] == 255).all()
