"""Labels for the training tests, made from the demo slide's real pixels.

Tissue is what is coloured (H&E stain), background what is bright and grey; each label
keeps only blocks well inside its region, so the labels are true to the pixels.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import openslide
from PIL import Image, ImageFilter
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from tests.helpers import DEMO_DIR, DEMO_SLIDE, ServerProcess

# Small and fast on a busy 2-core CPU; the demo slide at 4 µm/px is 277 × 371 pixels.
TINY = {"mpp": 4.0, "patch_size": 64, "batch_size": 4, "learning_rate": 0.001, "seed": 1}
THUMB_DOWNSAMPLE = 8
BLOCK = 4  # thumbnail pixels per label block


def _masks(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with openslide.OpenSlide(str(path)) as slide:
        w, h = slide.dimensions
        thumb = slide.get_thumbnail((w // THUMB_DOWNSAMPLE, h // THUMB_DOWNSAMPLE))
    rgb = np.asarray(thumb.convert("RGB")).astype(np.int16)
    spread = Image.fromarray((rgb.max(2) - rgb.min(2)).astype(np.uint8))
    spread = np.asarray(spread.filter(ImageFilter.BoxBlur(2)))  # stained texture -> smooth
    brightness = np.asarray(
        Image.fromarray(rgb.mean(2).astype(np.uint8)).filter(ImageFilter.BoxBlur(2))
    )
    tissue = (spread > 25) & (brightness < 215)
    background = (spread < 12) & (brightness > 225)
    shrink = ImageFilter.MinFilter(7)  # keep 3 thumbnail px away from the edges
    tissue = np.asarray(Image.fromarray(tissue).filter(shrink))
    background = np.asarray(Image.fromarray(background).filter(shrink))
    return tissue, background


def _blocks(mask: np.ndarray) -> BaseGeometry:
    """Union of the BLOCK×BLOCK cells that lie fully inside the mask, in level-0 px."""
    h, w = mask.shape
    cells = mask[: h - h % BLOCK, : w - w % BLOCK].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    full = cells.all(axis=(1, 3))
    s = BLOCK * THUMB_DOWNSAMPLE
    ys, xs = np.nonzero(full)
    boxes = [box(x * s, y * s, (x + 1) * s, (y + 1) * s) for y, x in zip(ys, xs, strict=True)]
    return unary_union(boxes)


def tissue_and_background(path: Path = DEMO_SLIDE) -> tuple[BaseGeometry, BaseGeometry]:
    """(tissue, background) label geometries in level-0 pixels, disjoint and non-empty."""
    tissue, background = _masks(path)
    return _blocks(tissue), _blocks(background)


def truth_masks(path: Path = DEMO_SLIDE) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnail-resolution boolean masks (tissue, background) the labels came from."""
    return _masks(path)


def seed_labels(data_dir: Path, slide_name: str = DEMO_SLIDE.name) -> dict:
    """Before a server starts on `data_dir`: classes Background and Tissue, labelled on the
    slide `slide_name` (in the first slide folder) from its pixels. Returns the ids."""
    from server.annotations import classes
    from server.annotations.repository import replace_label_geometry
    from server.slides.library import slide_id
    from server.store import Store

    tissue, background = tissue_and_background()
    store = Store(Path(data_dir) / "slidelab.sqlite3")
    try:
        bg = classes.create_class(store, "Background", "#f0f0f0")
        ts = classes.create_class(store, "Tissue", "#c0307a")
        sid = slide_id(slide_name)
        replace_label_geometry(store, sid, bg["id"], background)
        replace_label_geometry(store, sid, ts["id"], tissue)
    finally:
        store.close()
    return {"slide_id": sid, "background": bg["id"], "tissue": ts["id"]}


def labelled_server(data_dir: Path) -> ServerProcess:
    """A started demo server whose slide is labelled by `seed_labels`; its ids in `.ids`."""
    ids = seed_labels(data_dir)
    server = ServerProcess([DEMO_DIR], data_dir).start()
    server.ids = ids
    return server


def start_run(server: ServerProcess, **settings) -> str:
    """Start a TINY run (with `settings` on top) on a `labelled_server`; its id."""
    body = {
        "slides": [server.ids["slide_id"]],
        "classes": [server.ids["background"], server.ids["tissue"]],
        "settings": {**TINY, **settings},
    }
    response = server.post("/api/training", json=body)
    assert response.status_code == 201, response.text
    return response.json()["run_id"]


def wait_for(server: ServerProcess, run_id: str, check, timeout: float = 240) -> dict:
    """Poll the run until `check(run)` holds; AssertionError when it fails or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = server.get(f"/api/training/{run_id}").json()
        if check(run):
            return run
        if run["state"] == "failed":
            raise AssertionError(f"run failed: {run['error']}\n{server.log()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out; last: {run['state']} at {run['iteration']}")
