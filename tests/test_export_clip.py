"""Result GeoJSON stays on the slide: a store pixel at the right or bottom edge covers more
than the slide (the grid is rounded up), and the export cuts it back (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely.geometry

from server.inference import export
from server.inference.probstore import ProbStore
from server.inference.tiler import Grid

CLASSES = [
    {"index": 0, "id": 1, "name": "A", "color": "#ff0000"},
    {"index": 1, "id": 2, "name": "B", "color": "#00ff00"},
]
W, H = 40, 30  # store pixels
SCALE = 8.016  # level-0 px per store pixel (app 4 µm/px on a 0.499 µm/px slide)
SLIDE = (320.0, 238.0)  # the slide ends inside the last column and row of store pixels


def _store(tmp_path: Path) -> ProbStore:
    probs = np.zeros((2, H, W), dtype=np.uint8)
    probs[0, :, : W // 2] = 255  # A on the left half, B on the right half
    probs[1, :, W // 2 :] = 255
    store = ProbStore.create(tmp_path / "s.zarr", W, H, 2, 64, {})
    store.write_tile(0, 0, probs)
    store.finish()
    return ProbStore.open(tmp_path / "s.zarr")


def _export(tmp_path: Path, meta: dict) -> dict:
    out = tmp_path / "r.geojson"
    with open(out, "w") as fh:
        export.write_geojson(
            _store(tmp_path),
            Grid(0.0, 0.0, SCALE, W, H),
            0.5,
            CLASSES,
            fh,
            export.slide_limit(meta),
        )
    return json.loads(out.read_text())


def test_geojson_is_cut_to_the_slide(tmp_path: Path):
    doc = _export(tmp_path, {"slide_size": [int(SLIDE[0]), int(SLIDE[1])]})
    assert SLIDE[0] < W * SCALE and SLIDE[1] < H * SCALE, "the grid reaches past the slide"
    coords = np.concatenate([np.asarray(f["geometry"]["coordinates"][0]) for f in doc["features"]])
    assert coords[:, 0].max() == SLIDE[0] and coords[:, 1].max() == SLIDE[1]
    assert coords.min() == 0
    areas = {
        f["properties"]["name"]: shapely.geometry.shape(f["geometry"]).area for f in doc["features"]
    }
    assert areas["A"] == (W // 2) * SCALE * SLIDE[1]
    assert abs(areas["B"] - (SLIDE[0] - (W // 2) * SCALE) * SLIDE[1]) < 1e-6


def test_slide_limit_from_older_results_uses_the_deep_zoom_size():
    limit = export.slide_limit({"dzi": {"width": 2220, "height": 2967, "offset_x": 0}})
    assert limit is not None and limit.bounds == (0.0, 0.0, 2220.0, 2967.0)
    assert export.slide_limit({}) is None
