"""GPU check: the CUDA code paths on a real accelerator, in one short script.

Run: python tests/gpu_check.py   (on a machine without CUDA it runs the same code on the
CPU with small sizes, says which CUDA-only checks it skipped, and still exits 0 on success)

Each section is a function returning a list of failures; add sections to SECTIONS.

Training: device selection, AMP dtype, channels_last model and inputs, the real sampler
and tensor augmentation (on the GPU) on the demo slide, loss falling and held-out error,
BatchNorm recalibration, checkpoint and app round trips on the device, trainer speed
against a bare segmentation-models-pytorch loop, and out-of-memory turned into a
message with a hint.

Inference: channels_last and autocast, device probabilities against the CPU, a whole-slide
run and throughput against the bare forward. Ray: `slidelab apply --ray` workers on the
GPU, with the plain run's numbers.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.apps import load_app_model, save_app  # noqa: E402
from server.device import (  # noqa: E402
    amp_dtype,
    autocast,
    describe,
    grad_scaler,
    prepare_model,
    select_device,
    to_device,
)
from server.errors import UserError  # noqa: E402
from server.models import build_model  # noqa: E402
from server.training.augment import crop_size  # noqa: E402
from server.training.sampler import SlideSource, load_cache  # noqa: E402
from server.training.settings import validate  # noqa: E402
from server.training.trainer import Trainer  # noqa: E402
from tests.helpers import DEMO_SLIDE  # noqa: E402
from tests.training_support import tissue_and_background  # noqa: E402

CLASSES = [
    {"id": 1, "name": "Background", "color": "#f0f0f0"},
    {"id": 2, "name": "Tissue", "color": "#c0307a"},
]


def check(failures: list[str], ok: bool, what: str) -> None:
    """Print a check's outcome and remember failures."""
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def bare_step(settings: dict, device: torch.device):
    """One step of a plain smp U-Net loop on in-memory tensors (same model, batch, patch)."""
    model = prepare_model(build_model("unet", settings["encoder"], 2), device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    scaler = grad_scaler(device)
    b, p = settings["batch_size"], settings["patch_size"]
    x = to_device(torch.randn(b, 3, p, p), device)
    y = torch.randint(0, 2, (b, p, p), device=device)

    def step() -> float:
        with autocast(device):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())

    return step


def interleaved_it_per_s(steps: dict, device: torch.device, rounds: int, n: int) -> dict:
    """Median it/s of each step function, timed in alternating blocks of n steps, so that
    a drifting machine (clocks, other load) affects every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for fn in steps.values():
        for _ in range(3):
            fn()  # warm-up
    for _ in range(rounds):
        for name, fn in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def training_section(device: torch.device) -> list[str]:
    """The CUDA training path (the same code on a CPU, smaller)."""
    failures: list[str] = []
    cuda = device.type == "cuda"
    print(f"training on {describe(device)}")
    sizes = {} if cuda else {"patch_size": 64, "batch_size": 4, "mpp": 4.0}
    steps = 60 if cuda else 12
    settings, errors = validate(
        {**sizes, "iterations": steps, "validation_fraction": 0.2, "validation_interval": steps},
        device.type,
    )
    check(failures, not errors, f"default settings valid ({errors or 'no errors'})")
    print(
        f"  unet/{settings['encoder']} patch {settings['patch_size']}"
        f" batch {settings['batch_size']} at {settings['mpp']} µm/px, AMP {amp_dtype(device)}"
    )
    if cuda:
        check(failures, amp_dtype(device) is not None, "autocast dtype chosen on CUDA")

    tissue, background = tissue_and_background()
    source = SlideSource("demo", DEMO_SLIDE.name, DEMO_SLIDE, 0.499, {0: background, 1: tissue})
    crop = crop_size(settings["patch_size"], settings["augmentation"]["scale_jitter"])
    cache = load_cache([source], settings["mpp"], crop, ["Background", "Tissue"], 0.2)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(settings, CLASSES, cache, device, Path(tmp) / "run")
        conv = next(p for p in trainer.model.parameters() if p.dim() == 4)
        check(failures, conv.device.type == device.type, "model on the device")
        if cuda:
            layout = conv.is_contiguous(memory_format=torch.channels_last)
            check(failures, layout, "model weights in channels_last")
        results = [trainer.step() for _ in range(steps)]
        losses = [r.loss for r in results]
        early, late = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        check(failures, late < 0.6 * early, f"loss falls ({early:.3f} -> {late:.3f})")
        check(failures, all(math.isfinite(v) for v in losses), "every loss finite")
        final = results[-1]
        check(
            failures,
            final.val_error_rate is not None and final.val_error_rate < 0.1,
            f"held-out error rate under 10 % ({final.val_error_rate})",
        )
        checkpoint = Path(tmp) / "checkpoint.pt"
        trainer.save_checkpoint(checkpoint)
        again = Trainer(settings, CLASSES, cache, device)
        check(failures, again.load_checkpoint(checkpoint) == steps, "checkpoint round trip")
        config = {
            "name": "gpu check",
            "architecture": "unet",
            "encoder": settings["encoder"],
            "num_classes": 2,
            "classes": CLASSES,
            "mpp": settings["mpp"],
            "patch_size": settings["patch_size"],
        }
        app_id = save_app(Path(tmp), config, trainer.weights())
        model, _ = load_app_model(Path(tmp), app_id, device)
        trainer.model.eval()
        x = to_device(torch.randn(2, 3, settings["patch_size"], settings["patch_size"]), device)
        with torch.no_grad(), autocast(device):
            same = torch.allclose(model(x).float(), trainer.model(x).float(), atol=1e-2)
        check(failures, same, "app saved and loaded on the device predicts the same")
        trainer.settings["validation_interval"] = 10**9  # time plain steps from here on
        speed = interleaved_it_per_s(
            {"trainer": trainer.step, "bare": bare_step(settings, device)},
            device,
            rounds=5 if cuda else 2,
            n=20 if cuda else 3,
        )
        trainer.close()
    print(
        f"  THROUGHPUT trainer {speed['trainer']:.2f} it/s, bare smp loop {speed['bare']:.2f}"
        f" it/s, ratio {speed['trainer'] / speed['bare']:.3f} (target >= 0.9)"
    )
    if cuda:
        failures += out_of_memory_check(settings, cache, device)
    else:
        print("  (CUDA only, skipped here: out-of-memory message)")
    return failures


def out_of_memory_check(settings: dict, cache, device: torch.device) -> list[str]:
    """A batch far too big for the GPU ends with a message and hint, and the GPU recovers."""
    failures: list[str] = []
    huge = dict(settings, batch_size=1024, patch_size=1024, validation_fraction=0.0)
    huge["augmentation"] = dict(settings["augmentation"], scale_jitter=0.0)
    trainer = Trainer(huge, CLASSES, cache, device)
    try:
        trainer.step()
        check(failures, False, "out-of-memory raised for batch 1024 of 1024²")
    except UserError as exc:
        check(failures, exc.message == "The GPU ran out of memory", f"OOM message: {exc.message}")
        check(failures, "smaller batch size or patch size" in (exc.hint or ""), "OOM hint")
    trainer.close()
    del trainer
    torch.cuda.empty_cache()
    small = Trainer(settings, CLASSES, cache, device)
    check(failures, math.isfinite(small.step().loss), "a normal run trains after the OOM")
    return failures


# ---- inference (issue 5) -------------------------------------------------------------


def inference_section(device: torch.device) -> list[str]:
    """Inference on the device: channels_last and autocast in the predictor, AMP
    probabilities against float32 on the CPU, a whole-slide pipeline run (with its GPU
    memory), and throughput against the bare forward on preloaded tiles (target ≥ 0.85)."""
    import numpy as np
    import openslide

    from server.device import amp_dtype
    from server.inference.pipeline import Pipeline, Plan, gpu_threads
    from server.inference.predictor import Predictor
    from server.inference.probstore import ProbStore
    from server.inference.reader import WindowReader
    from server.inference.tiler import Grid, TileGeometry
    from server.models import IMAGENET_MEAN, IMAGENET_STD
    from tests.benchmarks.bench_inference import bench_throughput, generate_slide

    failures: list[str] = []
    cuda = device.type == "cuda"
    print(f"\ninference on {describe(device)}")
    torch.manual_seed(0)
    model = build_model("unet", "resnet18", 3).eval()
    reference = build_model("unet", "resnet18", 3).eval()
    reference.load_state_dict(model.state_dict())
    predictor = Predictor(model, device, IMAGENET_MEAN, IMAGENET_STD)
    cpu = Predictor(reference, torch.device("cpu"), IMAGENET_MEAN, IMAGENET_STD)
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        reader = WindowReader(slide, Grid.for_region(0, 0, 2220, 2967, 1.0))
        batch = np.stack([reader.read(600, 900, 512), reader.read(1200, 1500, 512)])
    if cuda:
        conv = next(m for m in predictor.model.modules() if isinstance(m, torch.nn.Conv2d))
        layout = conv.weight.is_contiguous(memory_format=torch.channels_last)
        check(failures, layout, "inference model weights in channels_last")
        with torch.inference_mode(), autocast(device):
            x = to_device(torch.from_numpy(batch).permute(0, 3, 1, 2), device).float()
            dtype = predictor.model(x).dtype
        check(failures, dtype == amp_dtype(device), f"forward runs under autocast ({dtype})")
    fast, exact = predictor(batch, 64).astype(int), cpu(batch, 64).astype(int)
    diff = np.abs(fast - exact)
    top2 = np.sort(exact, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * max(1, int(diff.max()))
    agree = (fast.argmax(axis=1) == exact.argmax(axis=1))[clear].mean()
    check(
        failures,
        diff.mean() <= 2 and agree >= 0.995,
        f"device probabilities vs CPU float32: mean |Δ| {diff.mean():.2f}/255, max "
        f"{diff.max()}/255, same class on {agree:.2%} of clearly decided pixels",
    )

    mpp = 0.25 if cuda else 2.0  # on CUDA the demo slide upsampled ×2: 48 tiles of 1024²
    grid = Grid.for_region(0, 0, 2220, 2967, mpp / 0.499)
    plan = Plan.build(grid, TileGeometry())
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as tmp:
        store = ProbStore.create(Path(tmp) / "p.zarr", grid.width, grid.height, 3, 768, {})
        start = time.perf_counter()
        workers = (8, *gpu_threads()) if cuda else (2, 1, 1)
        Pipeline(plan, lambda: openslide.OpenSlide(DEMO_SLIDE), predictor, store, *workers).run()
        took = time.perf_counter() - start
        whole = store.complete and store.histogram[:, 1:].sum() == grid.width * grid.height
        check(failures, whole, f"whole slide, {len(plan.tiles)} tiles, in {took:.1f} s")
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        check(failures, peak < 8, f"GPU memory peak {peak:.2f} GiB for batches of 8 × 1024²")
        with tempfile.TemporaryDirectory() as tmp:  # steady state needs a big slide
            path = Path(tmp) / "synthetic-16384.tif"
            generate_slide(path, 16384)
            ratio = bench_throughput(device, 0.5, 8, *gpu_threads(), 3, path)
        check(failures, ratio >= 0.85, f"inference/bare-forward throughput {ratio:.2f} ≥ 0.85")
    else:
        bench_throughput(device, 2.0, 2, 1, 1, 1)
    return failures


# ---- slidelab apply on Ray (issue 14) ---------------------------------------------------


def ray_section(device: torch.device) -> list[str]:
    """`slidelab apply --ray` on a local Ray of this machine's GPUs: the model workers run
    on the GPU (one each), and the slide's numbers match the plain run's on this device."""
    import ray

    from server.inference.batch import ApplyOptions, apply_here, read_app
    from server.inference.ray_apply import Workers, apply_on_ray
    from tests.inference_support import make_app

    failures: list[str] = []
    print(f"\nslidelab apply on Ray, {describe(device)}")
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = read_app(make_app(root / "data", mpp=1.0), root / "data")
        plain, on_ray = root / "plain", root / "ray"
        plain.mkdir(), on_ray.mkdir()
        start = time.perf_counter()
        (here,) = apply_here(app, [DEMO_SLIDE], ApplyOptions(plain, 0.5), str(device))
        plain_s = time.perf_counter() - start
        ray.init(num_gpus=gpus, include_dashboard=False)
        try:
            start = time.perf_counter()
            workers = Workers(None, 2, "auto" if gpus else "cpu")
            (there,) = apply_on_ray(app, [DEMO_SLIDE], ApplyOptions(on_ray, 0.5), workers, None)
            ray_s = time.perf_counter() - start
        finally:
            ray.shutdown()
    check(failures, there["state"] == "done", f"the slide is done on Ray ({there['state']})")
    if there["state"] != "done":
        return failures
    used = there["worker"]["device"]
    check(failures, used.startswith(device.type), f"the model worker ran on {used}")
    fractions = [
        (k, here["row"][k], there["row"][k]) for k in here["row"] if k.endswith("area_fraction")
    ]
    worst = max(abs(a - b) for _, a, b in fractions)
    check(failures, worst <= 0.01, f"area fractions as the plain run's (max |Δ| {worst:.4f})")
    print(f"  one slide: plain {plain_s:.1f} s, Ray (start-up included) {ray_s:.1f} s")
    return failures


SECTIONS = [training_section, inference_section, ray_section]


def main() -> int:
    """Run every section on the best device; exit 1 when a check failed."""
    device = select_device("auto")
    if device.type != "cuda":
        print("CUDA is not available: running the same paths on the CPU with small sizes")
    failures = []
    for section in SECTIONS:
        failures += section(device)
    print(f"\n{len(failures)} failure(s)" + "".join(f"\n  - {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
