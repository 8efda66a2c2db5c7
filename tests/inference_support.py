"""Helpers for the inference and apps tests: small apps (briefly fitted on the demo slide)."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import openslide
import torch
from safetensors.torch import load_file, save_file

from server.apps import save_app
from server.models import IMAGENET_MEAN, IMAGENET_STD, build_model
from tests.helpers import DEMO_SLIDE

CLASSES = [
    {"id": 1, "name": "Background", "color": "#ffffff"},
    {"id": 2, "name": "Stroma", "color": "#ff66cc"},
    {"id": 3, "name": "Nuclei", "color": "#3333aa"},
]
APP_MPP = 4.0  # coarse, so a whole demo slide is one or two tiles


def heuristic_labels(rgb: np.ndarray) -> np.ndarray:
    """Glass (bright) 0, pale tissue 1, dark tissue 2: something a model can learn fast."""
    brightness = rgb.mean(axis=-1)
    labels = np.where(brightness > 215, 0, np.where(brightness > 150, 1, 2))
    return labels.astype(np.int64)


def _demo_pixels(downsample: float) -> np.ndarray:
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        w, h = slide.dimensions
        size = (int(w / downsample), int(h / downsample))
        image = slide.read_region((0, 0), 0, (w, h)).convert("RGB").resize(size)
    return np.asarray(image)


@functools.cache
def fitted_state(iterations: int = 16, mpp: float = APP_MPP) -> dict[str, torch.Tensor]:
    """U-Net/ResNet-18 weights fitted briefly to heuristic labels on the demo slide.

    Deterministic (seeded), so the result is kept in the temp folder between test runs.
    """
    version = torch.__version__.replace("+", "_")
    cache = Path(tempfile.gettempdir()) / f"slidelab-test-app-{iterations}-{mpp}-{version}.st"
    if cache.is_file():
        return load_file(str(cache))
    state = _fit(iterations, mpp)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    save_file(state, str(tmp))
    tmp.replace(cache)
    return state


def _fit(iterations: int, mpp: float) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", len(CLASSES))
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        mpp_slide = float(slide.properties[openslide.PROPERTY_NAME_MPP_X])
    pixels = _demo_pixels(mpp / mpp_slide)
    labels = heuristic_labels(pixels)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)

    def batch(patch: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        ys = rng.integers(0, pixels.shape[0] - patch, count)
        xs = rng.integers(0, pixels.shape[1] - patch, count)
        x = np.stack([pixels[y : y + patch, x : x + patch] for y, x in zip(ys, xs, strict=True)])
        t = np.stack([labels[y : y + patch, x : x + patch] for y, x in zip(ys, xs, strict=True)])
        inputs = (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 - mean) / std
        return inputs, torch.from_numpy(t)

    model.train()
    for _ in range(iterations):
        inputs, target = batch(64, 4)
        loss = torch.nn.functional.cross_entropy(model(inputs), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # So few steps leave BatchNorm's running statistics far from the data: re-estimate them
    # (a cumulative average over a few larger batches), as a longer training would have.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        for _ in range(4):
            model(batch(128, 4)[0])
    return {k: v.detach().clone() for k, v in model.eval().state_dict().items()}


def app_config(mpp: float = APP_MPP, name: str = "Test app") -> dict:
    """An app.json body for the test app."""
    return {
        "name": name,
        "architecture": "unet",
        "encoder": "resnet18",
        "num_classes": len(CLASSES),
        "classes": [dict(c, index=i) for i, c in enumerate(CLASSES)],
        "mpp": mpp,
        "patch_size": 128,
        "training": {"run_id": None, "iterations": 40, "final_loss": 0.5},
    }


def make_app(data_dir: Path, mpp: float = APP_MPP, name: str = "Test app") -> str:
    """Save the fitted test app into a data folder; returns its id."""
    return save_app(Path(data_dir), app_config(mpp, name), fitted_state())


def wait_for_result(server, rid: str, timeout: float = 240) -> dict:
    """Poll a result until it is no longer queued or running; it must have completed."""
    deadline = time.monotonic() + timeout
    while (result := server.get(f"/api/results/{rid}").json())["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"result {rid} still {result['state']}"
        time.sleep(0.2)
    assert result["state"] == "completed", result
    return result


def serve_two_slides_on_ray(server_factory, tmp_path: Path):
    """A server started with `--ray` (a local Ray) on two copies of the demo slide,
    `a.svs` and `b.svs`, with the test app; (server, app id)."""
    slides = tmp_path / "slides"
    slides.mkdir()
    for name in ("a.svs", "b.svs"):
        shutil.copy(DEMO_SLIDE, slides / name)
    data = tmp_path / "data"
    app_id = make_app(data)
    return server_factory([slides], data_dir=data, extra_args=["--ray"]), app_id
