"""GPU check: the CUDA code paths on a real accelerator, in one short script.

Run: python tests/gpu_check.py   (on a machine without CUDA it runs the same code on the
CPU with small sizes, says which CUDA-only checks it skipped, and still exits 0 on success)

Each section is a function returning a list of failures; add sections to SECTIONS.

Training: device selection, AMP dtype, channels_last model and inputs, the real sampler
and tensor augmentation (on the GPU) on the demo slide, loss falling and held-out error,
BatchNorm recalibration, checkpoint and app round trips on the device, trainer speed
against a bare segmentation-models-pytorch loop, and out-of-memory turned into a
message with a hint.
"""

from __future__ import annotations

import math
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
from server.training.augment import crop_size  # noqa: E402
from server.training.errors import TrainingError  # noqa: E402
from server.training.models import build_model  # noqa: E402
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


def bare_it_per_s(settings: dict, device: torch.device, steps: int) -> float:
    """A plain smp U-Net loop on in-memory tensors with the same model, batch, patch, device."""
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

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


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
        results = [trainer.step() for _ in range(3)]
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        results += [trainer.step() for _ in range(steps - 4)]
        trainer_speed = (steps - 4) / (time.perf_counter() - start)
        results.append(trainer.step())  # the last step also validates: not timed
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
        trainer.close()

    bare = bare_it_per_s(settings, device, steps - 4)
    print(
        f"  THROUGHPUT trainer {trainer_speed:.2f} it/s, bare smp loop {bare:.2f} it/s,"
        f" ratio {trainer_speed / bare:.3f} (target >= 0.9)"
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
    except TrainingError as exc:
        check(failures, exc.message == "The GPU ran out of memory", f"OOM message: {exc.message}")
        check(failures, "smaller batch size or patch size" in (exc.hint or ""), "OOM hint")
    trainer.close()
    del trainer
    torch.cuda.empty_cache()
    small = Trainer(settings, CLASSES, cache, device)
    check(failures, math.isfinite(small.step().loss), "a normal run trains after the OOM")
    return failures


SECTIONS = [training_section]


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
