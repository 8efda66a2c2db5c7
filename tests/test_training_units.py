"""Training building blocks on real data, without a server: models, settings, sampler,
augmentation, trainer checkpoints, apps."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
import torch
from safetensors.torch import save_file
from shapely.geometry import LineString, Polygon, box

from server.apps import AppNotFound, list_apps, load_app_config, load_app_model, save_app
from server.errors import UserError
from server.models import (
    ARCHITECTURES,
    EncoderWeightsError,
    FCN8s,
    build_model,
    imagenet_available,
)
from server.training import settings as training_settings
from server.training.augment import AugmentConfig, augment, center
from server.training.sampler import (
    IGNORE,
    PatchSampler,
    SlideSource,
    load_cache,
    rasterize,
)
from server.training.trainer import Trainer, learning_rate
from tests.helpers import DEMO_SLIDE
from tests.training_support import tissue_and_background

DEMO_MPP = 0.499
CLASSES = [
    {"id": 11, "name": "Background", "color": "#f0f0f0"},
    {"id": 12, "name": "Tissue", "color": "#c0307a"},
]


@pytest.fixture(scope="module")
def labels():
    tissue, background = tissue_and_background()
    return {0: background, 1: tissue}


def demo_source(labels, rois=None) -> SlideSource:
    return SlideSource("demo", "CMU-1-Small-Region.svs", DEMO_SLIDE, DEMO_MPP, labels, rois or [])


# ---- models ----------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_every_architecture_maps_images_to_per_class_logits(architecture):
    spec = ARCHITECTURES[architecture]
    model = build_model(architecture, spec.default_encoder, 3).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 3, 64, 96)


def test_fcn8s_fuses_pool3_and_pool4_scores():
    model = FCN8s(num_classes=2)
    x = torch.randn(1, 3, 64, 64)
    model(x).sum().backward()
    # The skip scores start at zero but do get gradients: both fusions are on the path.
    assert model.score_pool3.weight.grad.abs().sum() > 0
    assert model.score_pool4.weight.grad.abs().sum() > 0
    assert model.score_pool3.in_channels == 256 and model.score_pool4.in_channels == 512


def test_encoder_weights_from_a_safetensors_file(tmp_path):
    donor = build_model("unet", "resnet18", 2)
    path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in donor.encoder.state_dict().items()}, str(path))
    model = build_model("unet", "resnet18", 2, str(path))
    for key, value in donor.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value)
    with pytest.raises(EncoderWeightsError, match="safetensors"):
        build_model("unet", "resnet18", 2, str(tmp_path / "weights.pth"))
    with pytest.raises(EncoderWeightsError, match="do not fit"):
        build_model("unet", "resnet50", 2, str(path))


def test_imagenet_weights_only_from_the_local_cache():
    if imagenet_available("resnet18"):
        pytest.skip("ImageNet weights are cached on this machine")
    with pytest.raises(EncoderWeightsError, match="not in the local cache") as err:
        build_model("unet", "resnet18", 2, "imagenet")
    assert "never downloads" in err.value.hint


# ---- settings --------------------------------------------------------------------------


def test_defaults_per_device_and_per_field_messages():
    cpu, cuda = training_settings.defaults("cpu"), training_settings.defaults("cuda")
    assert (cpu["architecture"], cpu["encoder"], cpu["patch_size"]) == ("unet", "resnet18", 128)
    assert cuda["patch_size"] > cpu["patch_size"] and cuda["batch_size"] > cpu["batch_size"]
    settings, errors = training_settings.validate(
        {
            "patch_size": 100,
            "learning_rate": 0,
            "batch_size": "8",
            "optimizer": "rmsprop",
            "augmentation": {"flips": "yes", "blur": 9},
            "architecture": "deeplabv3plus",
            "encoder": "vgg16",
            "mixed_precision": "on",
            "colour": 1,
        },
        "cpu",
    )
    assert errors == {
        "patch_size": "must be a multiple of 32",
        "learning_rate": "must be greater than 0",
        "batch_size": "must be a number",
        "optimizer": "must be one of adam, adamw, sgd",
        "augmentation.flips": "must be true or false",
        "augmentation.blur": "must be at most 5",
        "colour": "is not a known setting",
        "encoder": "DeepLabv3+ takes one of resnet18, resnet34, resnet50, efficientnet-b0, "
        "mobilenet_v2",
        "mixed_precision": "needs a CUDA device; use auto or off on this machine",
    }
    settings, errors = training_settings.validate({"architecture": "fcn8s"}, "cpu")
    assert not errors and settings["encoder"] == "vgg16"


# ---- sampler ---------------------------------------------------------------------------


def test_rasterize_respects_holes_islands_and_pixel_centres():
    ring = Polygon([(0, 0), (20, 0), (20, 20), (0, 20)], [[(5, 5), (15, 5), (15, 15), (5, 15)]])
    island = box(8, 8, 12, 12)
    label = rasterize({0: ring, 1: island}, (0, 0), (24, 24))
    assert label[2, 2] == 0 and label[6, 6] == IGNORE and label[10, 10] == 1
    assert label[22, 22] == IGNORE
    assert (label == 1).sum() == 16  # the 4×4 island, no more
    assert (label == 0).sum() == 400 - 100  # the ring's area in whole pixels


def test_cache_holds_the_real_pixels_under_each_label(labels):
    cache = load_cache([demo_source(labels)], 2.0, 64, ["Background", "Tissue"])
    assert cache.class_pixels.min() > 1000
    image = np.concatenate([r.image.reshape(-1, 3) for r in cache.regions]).astype(int)
    label = np.concatenate([r.label.ravel() for r in cache.regions])
    spread = image.max(1) - image.min(1)
    # Background labels sit on bright grey glass, tissue labels on stained tissue.
    assert np.median(spread[label == 0]) < 15 and image[label == 0].mean() > 220
    assert np.median(spread[label == 1]) > 40
    # One training pixel is 2/0.499 level-0 pixels: the cache is that much smaller.
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        width, height = slide.dimensions
    assert sum(r.image.shape[0] * r.image.shape[1] for r in cache.regions) <= (
        np.ceil(width * DEMO_MPP / 2) * np.ceil(height * DEMO_MPP / 2)
    )


def test_rois_restrict_the_labels(labels):
    with openslide.OpenSlide(str(DEMO_SLIDE)) as slide:
        width, height = slide.dimensions
    roi = box(0, 0, width, height / 2)
    cache = load_cache([demo_source(labels, [roi])], 2.0, 64, ["Background", "Tissue"])
    for region in cache.regions:
        ys, _ = np.nonzero(region.label != IGNORE)
        assert (region.origin[1] + ys).max() * 2 / DEMO_MPP <= height / 2 + 2


def test_sampler_balances_classes_and_replays_its_state(labels):
    cache = load_cache([demo_source(labels)], 2.0, 64, ["Background", "Tissue"])
    assert cache.class_pixels[0] > 1.5 * cache.class_pixels[1]  # background dominates
    sampler = PatchSampler(cache, 64, seed=3, inner=32)
    _, patches = sampler.draw(400)
    centre = patches[:, 16:48, 16:48]
    has = [(centre == c).any(axis=(1, 2)).mean() for c in (0, 1)]
    assert min(has) > 0.4  # each class in most patches' centre despite the imbalance
    state = sampler.state_dict()
    first = sampler.draw(4)
    sampler.load_state_dict(state)
    again = sampler.draw(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_label_errors(labels):
    names = ["Background", "Tissue"]
    with pytest.raises(UserError, match="no labels"):
        load_cache([demo_source({})], 2.0, 64, names)
    with pytest.raises(UserError, match="Only one class \\('Tissue'\\)"):
        load_cache([demo_source({1: labels[1]})], 2.0, 64, names)
    thin = LineString([(200, 200), (1500, 1500)]).buffer(1.5)  # 3 px wide at level 0
    with pytest.raises(UserError, match="'Tissue' are thinner than one pixel at 2 µm/px"):
        load_cache([demo_source({0: labels[0], 1: thin})], 2.0, 64, names)
    # The same stroke is fine at the slide's own resolution.
    cache = load_cache([demo_source({0: labels[0], 1: thin})], 0.5, 64, names)
    assert cache.class_pixels[1] > 1000
    with pytest.raises(UserError, match="cache holds"):
        load_cache([demo_source(labels)], 2.0, 64, names, max_bytes=1000)
    unknown = SlideSource("x", "gone.svs", DEMO_SLIDE.parent / "gone.svs", 0.5, labels)
    with pytest.raises(UserError, match="'gone.svs' could not be read"):
        load_cache([unknown], 2.0, 64, names)


# ---- augmentation ----------------------------------------------------------------------


def _blocks(n: int, size: int, seed: int = 0):
    """Images whose colour encodes the label, in 8×8 blocks."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, (n, size // 8, size // 8)).repeat(8, 1).repeat(8, 2)
    palette = np.array([[250, 20, 20], [20, 250, 20], [20, 20, 250]], np.uint8)
    return torch.from_numpy(palette[label]), torch.from_numpy(label.astype(np.uint8))


def test_geometric_augmentation_keeps_images_and_labels_aligned():
    images, labels = _blocks(16, 80)
    cfg = AugmentConfig(flips=True, rotate90=True, scale_jitter=0.25)
    gen = torch.Generator().manual_seed(0)
    x, y = augment(images, labels, 64, cfg, gen)
    assert x.shape == (16, 3, 64, 64) and y.shape == (16, 64, 64)
    colour = x.argmax(1)  # the dominant channel is the label the pixel was painted with
    labelled = y != IGNORE
    assert (colour[labelled] == y[labelled]).float().mean() > 0.95
    # Without scale jitter, flips and 90° turns move pixels exactly.
    x, y = augment(images[:, :64, :64], labels[:, :64, :64], 64, AugmentConfig(), gen)
    assert torch.equal(x.argmax(1), y)
    counts = sorted(torch.bincount(y.flatten(), minlength=3).tolist())
    assert counts == sorted(torch.bincount(labels[:, :64, :64].long().flatten()).tolist())


def test_colour_stain_and_blur_change_pixels_but_not_labels():
    images, labels = _blocks(8, 64, seed=1)
    plain, _ = center(images, labels, 64)
    cfg = AugmentConfig(
        flips=False,
        rotate90=False,
        brightness=0.2,
        contrast=0.2,
        saturation=0.2,
        hue=0.05,
        stain_jitter=0.2,
        blur=1.5,
    )
    x, y = augment(images, labels, 64, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(y, labels.long())
    assert torch.isfinite(x).all()
    diff = (x - plain).abs().mean((1, 2, 3))
    assert (diff > 0.01).all()  # every sample changed, by its own amount
    assert diff.std() > 0.001


# ---- trainer ---------------------------------------------------------------------------


def _settings(**extra):
    settings, errors = training_settings.validate(
        {"patch_size": 64, "batch_size": 4, "mpp": 4.0, "iterations": 50, **extra}, "cpu"
    )
    assert not errors
    return settings


def test_learning_rate_schedules():
    s = _settings(warmup_iterations=10, schedule="cosine", learning_rate=0.01)
    assert learning_rate(s, 0, 110) == pytest.approx(0.001)
    assert learning_rate(s, 10, 110) == pytest.approx(0.01)
    assert learning_rate(s, 60, 110) == pytest.approx(0.005)
    step = _settings(schedule="step", step_size=5, step_gamma=0.5, learning_rate=0.01)
    assert learning_rate(step, 12, 50) == pytest.approx(0.0025)


@pytest.mark.parametrize("prefetch", [False, True], ids=["inline", "prefetch-thread"])
def test_checkpoint_restores_exactly_the_same_continuation(labels, tmp_path, prefetch):
    torch.set_num_threads(1)
    settings = _settings()
    cache = load_cache([demo_source(labels)], 4.0, 72, ["Background", "Tissue"])
    first = Trainer(settings, CLASSES, cache, torch.device("cpu"), tmp_path / "a", prefetch)
    for _ in range(3):
        first.step()
    first.save_checkpoint(tmp_path / "ck.pt")
    expected = [first.step().loss for _ in range(2)]
    second = Trainer(settings, CLASSES, cache, torch.device("cpu"), prefetch=prefetch)
    assert second.load_checkpoint(tmp_path / "ck.pt") == 3
    assert [second.step().loss for _ in range(2)] == expected
    state = torch.load(tmp_path / "ck.pt", weights_only=True)  # plain tensors and numbers
    assert state["iteration"] == 3
    first.close()
    second.close()


# ---- apps ------------------------------------------------------------------------------


def test_app_round_trip(tmp_path):
    model = build_model("unet", "resnet18", 2).eval()
    config = {
        "name": "Tissue finder",
        "architecture": "unet",
        "encoder": "resnet18",
        "num_classes": 2,
        "classes": CLASSES,
        "mpp": 2.0,
        "patch_size": 128,
        "training": {"run_id": "r1", "iterations": 5},
    }
    app_id = save_app(tmp_path, config, model.state_dict())
    stored = load_app_config(tmp_path, app_id)
    assert stored["format"] == "slidelab-app" and stored["version"] == 1
    assert [c["index"] for c in stored["classes"]] == [0, 1]
    assert stored["normalization"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    loaded, _ = load_app_model(tmp_path, app_id, torch.device("cpu"))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x))
    assert sorted(p.name for p in (tmp_path / "apps" / app_id).iterdir()) == [
        "app.json",
        "model.safetensors",
    ]
    assert [a["id"] for a in list_apps(tmp_path)] == [app_id]
    with pytest.raises(AppNotFound):
        load_app_config(tmp_path, "../../etc")


def test_crops_past_a_region_are_mirrored_like_inference_windows():
    """A crop reaching past its region (a slide edge) shows the region mirrored, as
    inference windows past a slide edge do, never a white band; labels there are ignored."""
    from server.training.sampler import LabelCache, Region

    rng = np.random.default_rng(0)
    image = rng.integers(0, 200, (40, 50, 3), dtype=np.uint8)
    label = np.zeros((40, 50), np.uint8)
    label[:, 25:] = 1
    region = Region(0, (0, 0), image, label)
    cache = LabelCache([region], 2, np.array([1000, 1000]), np.zeros(2))
    sampler = PatchSampler(cache, 32)
    images, labels = sampler._crops([(0, 2, 3)], np.array([[10, 12]]), val=False)
    expected = np.pad(image, ((8, 0), (9, 0), (0, 0)), "symmetric")[:32, :32]
    assert np.array_equal(images[0], expected)
    assert (labels[0, :8] == IGNORE).all() and (labels[0, :, :9] == IGNORE).all()
    assert np.array_equal(labels[0, 8:, 9:], label[:24, :23])
