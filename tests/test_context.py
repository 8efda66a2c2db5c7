"""Context-aware region mapping (`context_scale`): the network also sees a coarser view
around each patch. Training builds it, augmentation keeps both views together, the app
records it, and Apply gives every window the view training gave its patches."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
import torch
from safetensors.torch import load_file, save_file
from shapely.geometry import Polygon, box

from server.apps import load_app_config
from server.inference.reader import ContextLayout, WindowReader
from server.inference.tiler import Grid, Tile
from server.models import build_model
from server.slides import raster
from server.training import settings as training_settings
from server.training.augment import AugmentConfig, augment
from server.training.sampler import PatchSampler, SlideSource, add_context, load_cache
from tests.helpers import DEMO_SLIDE
from tests.inference_support import wait_for_result
from tests.training_support import (
    THUMB_DOWNSAMPLE,
    labelled_server,
    start_run,
    truth_masks,
    wait_for,
)

DEMO_MPP = 0.499


def demo_cache(mpp: float, crop: int, factor: int):
    labels = {
        0: box(300, 400, 900, 700),
        1: Polygon([(1000, 1000), (1900, 1100), (1500, 1900)]),
    }
    source = SlideSource("s", "demo", DEMO_SLIDE, DEMO_MPP, labels)
    cache = load_cache([source], mpp, crop, ["a", "b"])
    add_context(cache, factor, crop)
    return cache


@pytest.mark.parametrize("factor", [2, 4])
def test_inference_reads_the_context_training_reads(factor):
    """Each window of a tile, and its context view, hold the pixels a training crop at the
    same place holds (within one grey level: both are resampled from the slide by
    raster.read_box, as parts of different boxes)."""
    mpp, patch = 2.0, 64
    ds = raster.downsample(mpp, DEMO_MPP)
    cache = demo_cache(mpp, patch, factor)
    sampler = PatchSampler(cache, patch, 0)
    layout = ContextLayout(factor, patch, 96)
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        cols, rows = raster.grid_size(*slide.dimensions, ds)
        reader = WindowReader(slide, Grid(0.0, 0.0, ds, cols, rows), layout)
        compared = 0
        # Tiles inside the triangle's region (training px ~217..506 each way).
        for tile in (Tile(288, 288, 96, 96), Tile(384, 288, 96, 96), Tile(288, 384, 96, 96)):
            inputs = reader.read_context_tile(tile)
            assert inputs.shape == (layout.windows, patch, patch, 6)
            for i, (sy, sx) in enumerate((a, b) for a in layout.starts for b in layout.starts):
                x, y = tile.x - layout.margin + sx, tile.y - layout.margin + sy
                for region in cache.regions:
                    lx, ly = x - region.origin[0], y - region.origin[1]
                    h, w = region.image.shape[:2]
                    if not (0 <= lx <= w - patch and 0 <= ly <= h - patch):
                        continue
                    # The window's centre is on the context grid, as the sampler's are.
                    assert sampler._snap(ly, ly + patch // 2, region.origin[1]) == ly
                    assert sampler._snap(lx, lx + patch // 2, region.origin[0]) == lx
                    context = sampler._context(region, ly, lx)
                    crop = region.image[ly : ly + patch, lx : lx + patch]
                    assert np.abs(context.astype(int) - inputs[i, ..., 3:]).max() <= 1
                    assert np.abs(crop.astype(int) - inputs[i, ..., :3]).max() <= 1
                    compared += 1
        assert compared == 12
        # The view is `factor` times the field of view, centred: its middle is the patch,
        # coarser.
        view = inputs[0, ..., 3:].astype(float)
        side = patch // factor
        middle = view[(patch - side) // 2 : (patch + side) // 2, (patch - side) // 2 :][:, :side]
        coarse = inputs[0, ..., :3].reshape(side, factor, side, factor, 3).mean((1, 3))
        assert np.abs(middle - coarse).mean() < 6
        assert np.abs(view - inputs[0, ..., :3]).mean() > 6  # and not the patch itself


def test_drawn_crops_carry_their_context_view():
    cache = demo_cache(2.0, 64, 4)
    images, labels = PatchSampler(cache, 64, 0).draw(16)
    assert images.shape == (16, 64, 64, 6) and labels.shape == (16, 64, 64)
    assert all((labels[i] != 255).any() for i in range(16))  # around a labelled pixel
    assert (images[..., 3:] != images[..., :3]).any(axis=(1, 2, 3)).all()


def test_augmentation_treats_both_views_alike():
    """Two identical views stay identical through every augmentation."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (4, 72, 72, 3), dtype=np.uint8)
    images = torch.from_numpy(np.concatenate([rgb, rgb], axis=-1))
    labels = torch.zeros((4, 72, 72), dtype=torch.uint8)
    cfg = AugmentConfig.from_settings(
        training_settings.defaults("cpu")["augmentation"] | {"blur": 1.0, "scale_jitter": 0.1}
    )
    x, y = augment(images, labels, 64, cfg, torch.Generator().manual_seed(0))
    assert x.shape == (4, 6, 64, 64) and y.shape == (4, 64, 64)
    assert torch.allclose(x[:, :3], x[:, 3:], atol=1e-5)
    plain, _ = augment(images[..., :3], labels, 64, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(plain, x[:, :3], atol=1e-5)  # the patch's view as without context


def test_pretrained_rgb_filters_serve_both_views(tmp_path):
    rgb = build_model("unet", "resnet18", 2)
    path = Path(tmp_path) / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.encoder.state_dict().items()}, str(path))
    six = build_model("unet", "resnet18", 2, str(path), in_channels=6)
    assert six.encoder.conv1.weight.shape == (64, 6, 7, 7)
    x = torch.rand(1, 3, 64, 64)
    rgb.eval(), six.eval()
    with torch.no_grad():
        same = six.encoder(torch.cat([x, x], 1))[-1]
        assert torch.allclose(same, rgb.encoder(x)[-1], atol=1e-4)


def test_settings_accept_context_scales():
    assert training_settings.defaults("cpu")["context_scale"] == 0
    for value in (0, 2, 4):
        settings, errors = training_settings.validate({"context_scale": value}, "cpu")
        assert not errors and settings["context_scale"] == value
    for value in (1, 3, 8, "2", True):
        _, errors = training_settings.validate({"context_scale": value}, "cpu")
        assert "context_scale" in errors


def test_a_run_with_context_trains_and_its_app_applies(tmp_path):
    server = labelled_server(tmp_path)
    try:
        run_id = start_run(
            server, context_scale=2, iterations=40, validation_fraction=0.15, validation_interval=20
        )
        run = wait_for(server, run_id, lambda r: r["state"] == "completed")
        losses = [p["loss"] for p in run["history"]]
        assert np.mean(losses[-10:]) < np.mean(losses[:5])
        app = load_app_config(server.data_dir, run["app_id"])
        assert app["context_scale"] == 2
        weights = load_file(server.data_dir / "apps" / run["app_id"] / "model.safetensors")
        assert weights["encoder.conv1.weight"].shape[1] == 6
        body = {"app_id": run["app_id"], "slide_id": server.ids["slide_id"], "region": "whole"}
        response = server.post("/api/inference", json=body)
        assert response.status_code == 201, response.text
        result = wait_for_result(server, response.json()["result_id"])
        tif = server.get(f"/api/results/{result['id']}/export.tiff", params={"threshold": 0})
        assert tif.status_code == 200
        predicted = tifffile.imread(io.BytesIO(tif.content))  # class position + 1
        assert error_rate(predicted, app["mpp"]) < 0.1
    finally:
        server.stop()


def error_rate(predicted: np.ndarray, mpp: float) -> float:
    """Share of the labels' pixels (thumbnail masks) the prediction gets wrong."""
    tissue, background = truth_masks()
    ds = mpp / DEMO_MPP
    h, w = predicted.shape
    ys, xs = np.nonzero(tissue | background)
    py = np.minimum((ys * THUMB_DOWNSAMPLE / ds).astype(int), h - 1)
    px = np.minimum((xs * THUMB_DOWNSAMPLE / ds).astype(int), w - 1)
    wanted = np.where(tissue[ys, xs], 2, 1)
    return float((predicted[py, px] != wanted).mean())
