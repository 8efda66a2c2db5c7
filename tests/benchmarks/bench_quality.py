"""Model quality: slidelab's training and Apply against a bare smp loop with the same budget.

The benchmark builds its own dense reference on a real slide: hematoxylin-rich nuclei of
the demo slide (H&E skin), found by colour deconvolution (Ruifrok & Johnston's H&E-DAB
matrix, as scikit-image's rgb2hed) with a threshold and a 3×3 opening, at the
training resolution. Nuclei are a small, textured class, so errors show.

- The top 60 % of the slide is the training area: its reference labels (nuclei, other)
  become slidelab annotations; the bottom 35 %, which touches three slide edges, is the
  evaluation area.
- slidelab: a real server trains U-Net/resnet18 with its defaults except the shared
  budget below, then applies the app to the evaluation area (`POST /api/inference` with a
  bbox) and the label TIFF export (threshold 0) is scored.
- Bare loop: the same model, patch, batch, iterations, optimizer and learning rate on
  random crops of the same training area and labels, with every core torch wants; it
  predicts the evaluation area in one pass, padded by reflection to a multiple of 32.

Printed: pixel-F1 of the nuclei class for both and their ratio (target ≥ 0.98); the ratio
of slidelab's Apply to the same app weights scored in one plain pass (what Apply itself
loses at tile and slide edges; target ≥ 0.98); and the wall time of each including
preparation (slidelab: request to completed run; bare: reading and rasterising plus
training) as bare / slidelab (target ≥ 0.8).

`--no-bare` skips the bare loop (slidelab's F1 only). Context variant (`--context 2`, the
default; 0 skips it): the same slidelab run with the
advanced setting `context_scale` (a second view, that many times each patch's field of
view), applied the same way; its pixel-F1 is printed beside the run without context.

Run: .venv/bin/python tests/benchmarks/bench_quality.py [--iterations 300] [--mpp 1.0]
[--context 2]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openslide
import rasterio.features
import tifffile
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from shapely.geometry import shape
from shapely.ops import unary_union

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.apps import load_app_model  # noqa: E402
from server.inference.reader import WindowReader  # noqa: E402
from server.inference.tiler import Grid  # noqa: E402
from server.models import IMAGENET_MEAN, IMAGENET_STD, build_model  # noqa: E402
from tests.helpers import DEMO_DIR, DEMO_SLIDE, ServerProcess, slide_id_by_name  # noqa: E402

TRAIN_END = 0.60  # fraction of the slide's height used for training
EVAL_START = 0.65  # the evaluation area runs from here to the bottom edge
NUCLEI_OD = 1.2  # hematoxylin optical density of nuclei (stroma is mostly below 0.6)
# Inverse of Ruifrok & Johnston's H&E-DAB stain matrix (scikit-image's hed_from_rgb).
HED_FROM_RGB = np.linalg.inv(np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]]))


def read_area(y0: float, y1: float, mpp: float) -> tuple[np.ndarray, Grid]:
    """RGB of the full-width slide band [y0, y1) (level-0 px) at `mpp`, and its grid."""
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        width = slide.dimensions[0]
        scale = mpp / float(slide.properties[openslide.PROPERTY_NAME_MPP_X])
        grid = Grid.for_region(0, y0, width, y1 - y0, scale)
        reader = WindowReader(slide, grid)
        side = max(grid.width, grid.height)
        pixels = reader.read(0, 0, side)[: grid.height, : grid.width]
    return np.ascontiguousarray(pixels), grid


def nuclei_reference(rgb: np.ndarray) -> np.ndarray:
    """Boolean nuclei mask: hematoxylin optical density above a threshold, specks removed
    (a 3×3 morphological opening)."""
    od = -np.log(np.maximum(rgb.astype(np.float64), 1) / 255)
    hematoxylin = od @ HED_FROM_RGB[:, 0]
    mask = (hematoxylin > NUCLEI_OD) & (rgb.mean(axis=-1) < 200)
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    opened = image.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    return np.asarray(opened) > 0


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """Pixel-F1 of a boolean prediction against a boolean reference."""
    tp = np.logical_and(pred, truth).sum()
    fp = np.logical_and(pred, ~truth).sum()
    fn = np.logical_and(~pred, truth).sum()
    return float(2 * tp / max(2 * tp + fp + fn, 1))


# ---------------------------------------------------------------- slidelab


def label_geometries(mask: np.ndarray, grid: Grid):
    """(nuclei, other) polygons of a reference mask, in level-0 pixels."""
    transform = rasterio.Affine(grid.scale, 0, grid.x0, 0, grid.scale, grid.y0)
    parts = {True: [], False: []}
    for geom, value in rasterio.features.shapes(mask.astype(np.uint8), transform=transform):
        parts[bool(value)].append(shape(geom))
    return unary_union(parts[True]), unary_union(parts[False])


def seed(data_dir: Path, nuclei, other) -> None:
    """Classes and labels in the store before the server starts (as tests do)."""
    from server.annotations import classes
    from server.annotations.repository import replace_label_geometry
    from server.slides.library import slide_id
    from server.store import Store

    store = Store(data_dir / "slidelab.sqlite3")
    try:
        sid = slide_id(DEMO_SLIDE.name)
        nid = classes.create_class(store, "Nuclei", "#4040c0")["id"]
        oid = classes.create_class(store, "Other", "#f0c0d0")["id"]
        replace_label_geometry(store, sid, nid, nuclei)
        replace_label_geometry(store, sid, oid, other)
    finally:
        store.close()


def wait_for(server: ServerProcess, path: str, done: tuple[str, ...], timeout: float) -> dict:
    """Poll a run or result until its state is in `done`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = server.get(path).json()
        if body["state"] in done:
            return body
        time.sleep(0.5)
    raise TimeoutError(path)


def slidelab_run(budget: dict, nuclei, other, eval_box: list[float]):
    """Train and apply through a real server: (label map of the evaluation area, seconds,
    the app's model)."""
    with tempfile.TemporaryDirectory() as tmp:
        seed(Path(tmp), nuclei, other)
        server = ServerProcess([DEMO_DIR], Path(tmp)).start()
        try:
            sid = slide_id_by_name(server, DEMO_SLIDE.name)
            class_ids = [c["id"] for c in server.get("/api/classes").json()]
            request = {"slides": [sid], "classes": class_ids, "settings": budget}
            start = time.monotonic()
            run = server.post("/api/training", json=request).json()
            run = wait_for(server, f"/api/training/{run['id']}", ("completed", "failed"), 3600)
            seconds = time.monotonic() - start
            if run["state"] != "completed":
                raise RuntimeError(f"training failed: {run['error']}")
            body = {"app_id": run["app_id"], "slide_id": sid, "region": {"bbox": eval_box}}
            result = server.post("/api/inference", json=body).json()
            wait_for(server, f"/api/results/{result['result_id']}", ("completed", "failed"), 900)
            tiff = server.get(f"/api/results/{result['result_id']}/export.tiff?threshold=0")
            labels = tifffile.imread(io.BytesIO(tiff.content), key=0)
        finally:
            server.stop()
        model, _ = load_app_model(Path(tmp), run["app_id"], torch.device("cpu"))
    return labels == 1, seconds, model  # values are class position + 1: Nuclei is first


# ---------------------------------------------------------------- the bare loop


MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255


def plain_predict(model: torch.nn.Module, rgb: np.ndarray, nuclei_index: int) -> np.ndarray:
    """Nuclei mask of an image in one forward pass, padded by reflection to 32 px."""
    model.eval()
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % 32), (0, -w % 32), (0, 0)), mode="reflect")
    x = torch.from_numpy(padded).permute(2, 0, 1)[None].float()
    with torch.inference_mode():
        pred = model((x - MEAN) / STD).argmax(1)[0, :h, :w].numpy()
    return pred == nuclei_index


def bare_run(budget: dict, image: np.ndarray, mask: np.ndarray, eval_rgb: np.ndarray, read_s):
    """A plain smp loop and one-pass prediction; (nuclei mask of the evaluation area, s)."""
    start = time.monotonic()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("unet", "resnet18", 2).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=budget["learning_rate"])
    x_all = torch.from_numpy(image).permute(2, 0, 1).float()
    y_all = torch.from_numpy(np.where(mask, 0, 1).astype(np.int64))
    p, b = budget["patch_size"], budget["batch_size"]
    h, w = mask.shape
    for _ in range(budget["iterations"]):
        ys, xs = rng.integers(0, h - p, b), rng.integers(0, w - p, b)
        x = torch.stack([x_all[:, y : y + p, x : x + p] for y, x in zip(ys, xs, strict=True)])
        y = torch.stack([y_all[y : y + p, x : x + p] for y, x in zip(ys, xs, strict=True)])
        loss = F.cross_entropy(model((x - MEAN) / STD), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return plain_predict(model, eval_rgb, 0), read_s + time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--mpp", type=float, default=1.0)
    parser.add_argument("--context", type=int, default=2, choices=(0, 2, 4))
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare loop (slidelab's F1 only)"
    )
    args = parser.parse_args()
    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        width, height = slide.dimensions
    budget = {
        "architecture": "unet",
        "encoder": "resnet18",
        "mpp": args.mpp,
        "patch_size": 128,
        "batch_size": 8,
        "learning_rate": 0.001,
        "iterations": args.iterations,
    }
    clock = time.monotonic()
    train_rgb, train_grid = read_area(0, TRAIN_END * height, args.mpp)
    read_s = time.monotonic() - clock
    train_mask = nuclei_reference(train_rgb)
    eval_y = EVAL_START * height
    eval_rgb, _ = read_area(eval_y, height, args.mpp)
    eval_truth = nuclei_reference(eval_rgb)
    print(
        f"reference: nuclei {train_mask.mean():.1%} of the training area "
        f"({train_mask.shape[1]}×{train_mask.shape[0]} px at {args.mpp} µm/px), "
        f"{eval_truth.mean():.1%} of the evaluation area"
    )
    nuclei, other = label_geometries(train_mask, train_grid)
    ours, ours_s, app_model = slidelab_run(
        budget, nuclei, other, [0, eval_y, width, height - eval_y]
    )
    ours = ours[: eval_truth.shape[0], : eval_truth.shape[1]]
    # The same weights scored the plain way: what Apply itself loses or gains.
    f_plain = f1(plain_predict(app_model, eval_rgb, 0), eval_truth)
    f_ours = f1(ours, eval_truth)
    edge = np.zeros_like(eval_truth)
    band = 64
    edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True
    e_ours = f1(ours & edge, eval_truth & edge)
    if args.no_bare:
        print(f"pixel-F1 nuclei: slidelab {f_ours:.3f} (within {band} px of an edge {e_ours:.3f})")
        print(f"ratio F1 slidelab Apply / one plain pass: {f_ours / max(f_plain, 1e-9):.3f}")
    else:
        bare, bare_s = bare_run(budget, train_rgb, train_mask, eval_rgb, read_s)
        f_bare, e_bare = f1(bare, eval_truth), f1(bare & edge, eval_truth & edge)
        print(f"pixel-F1 nuclei: slidelab {f_ours:.3f}, bare loop {f_bare:.3f}")
        print(f"  within {band} px of a slide edge: slidelab {e_ours:.3f}, bare loop {e_bare:.3f}")
        print(f"ratio F1 slidelab / bare: {f_ours / max(f_bare, 1e-9):.3f} (target >= 0.98)")
        print(
            f"ratio F1 slidelab Apply / slidelab weights in one plain pass: "
            f"{f_ours / max(f_plain, 1e-9):.3f} ({f_plain:.3f} plain; target >= 0.98)"
        )
        print(f"wall time incl. preparation: slidelab {ours_s:.1f} s, bare {bare_s:.1f} s")
        print(f"ratio time bare / slidelab: {bare_s / ours_s:.3f} (target >= 0.8)")
    if args.context:
        budget_context = budget | {"context_scale": args.context}
        with_context, context_s, _ = slidelab_run(
            budget_context, nuclei, other, [0, eval_y, width, height - eval_y]
        )
        with_context = with_context[: eval_truth.shape[0], : eval_truth.shape[1]]
        f_context = f1(with_context, eval_truth)
        e_context = f1(with_context & edge, eval_truth & edge)
        print(
            f"context view ×{args.context}: pixel-F1 slidelab {f_context:.3f} "
            f"(without {f_ours:.3f}; within {band} px of an edge {e_context:.3f}), "
            f"wall time {context_s:.1f} s (without {ours_s:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
