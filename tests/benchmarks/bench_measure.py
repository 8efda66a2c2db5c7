"""Benchmark: objects per second through post-processing and measurement, against the bare
scikit-image way on the whole image in memory, and the memory each needs.

The label image is a real one: the demo slide's hematoxylin-rich pixels (colour
deconvolution, skimage.color.rgb2hed, Otsu's cut) at full resolution, tiled REPEAT × REPEAT
times so there are many nuclei-sized objects, as a 2-class label image (1: other tissue,
2: nuclei; glass 0). Both sides do the same work: remove objects of class 2 under 4 µm²,
then label the 4-connected objects and measure area, centroid, bounding box, perimeter,
eccentricity and mean probability.

- bare: `remove_small_objects` + `skimage.measure.label` + `regionprops_table` on the
  whole image in memory;
- slidelab: `server.measure.postprocess.apply_step` and `server.measure.objects.iter_objects`,
  block by block, reading and writing zarr arrays (memory bounded by the block).

Each side runs in its own subprocess, so its peak RSS is its own. Prints objects per
second of each and the RATIO slidelab / bare (target ≥ 0.8), and each peak RSS.

Run: `.venv/bin/python tests/benchmarks/bench_measure.py [--repeat 3]`
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "demo" / "CMU-1-Small-Region.svs"
PIXEL_UM = 0.499  # the demo slide's µm/px
MIN_AREA_UM2 = 4.0


def nuclei_labels() -> tuple[np.ndarray, np.ndarray]:
    """(labels, probability) of the demo slide (tiled REPEAT × REPEAT times by the caller)."""
    import openslide
    from skimage.color import rgb2hed
    from skimage.filters import threshold_otsu

    with openslide.OpenSlide(str(DEMO)) as slide:
        rgb = np.asarray(slide.read_region((0, 0), 0, slide.dimensions).convert("RGB"))
    hematoxylin = rgb2hed(rgb)[..., 0]
    tissue = rgb.mean(axis=-1) < 215
    labels = np.where(tissue, 1, 0).astype(np.uint8)
    labels[tissue & (hematoxylin > threshold_otsu(hematoxylin[tissue]))] = 2
    span = np.ptp(hematoxylin) or 1.0
    prob = ((hematoxylin - hematoxylin.min()) / span).astype(np.float32)
    return labels, prob


def bare(labels: np.ndarray, prob: np.ndarray) -> int:
    from skimage.measure import label, regionprops_table
    from skimage.morphology import remove_small_objects

    nuclei = labels == 2
    min_px = int(np.ceil(MIN_AREA_UM2 / PIXEL_UM**2))
    kept = remove_small_objects(nuclei, max_size=min_px - 1, connectivity=1)
    cleaned = np.where(nuclei & ~kept, 0, labels)
    objects = label(cleaned, background=0, connectivity=1)
    table = regionprops_table(
        objects,
        intensity_image=prob,
        properties=("area", "centroid", "bbox", "perimeter", "eccentricity", "intensity_mean"),
    )
    return len(table["area"])


def slidelab(labels: np.ndarray, prob: np.ndarray, repeat: int) -> int:
    """The same work block by block from zarr arrays on disk, written tile by tile (the
    tiled image is never in memory)."""
    import zarr

    from server.measure.objects import iter_objects
    from server.measure.postprocess import apply_step, parse_steps

    with tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp:
        group = zarr.open_group(tmp, mode="w")
        chunks = (512, 512)
        h, w = labels.shape
        shape = (h * repeat, w * repeat)
        source = group.zeros("labels", shape=shape, chunks=chunks, dtype=np.uint8)
        values = group.zeros("prob", shape=shape, chunks=chunks, dtype=np.float32)
        for i in range(repeat):
            for j in range(repeat):
                source[i * h : (i + 1) * h, j * w : (j + 1) * w] = labels
                values[i * h : (i + 1) * h, j * w : (j + 1) * w] = prob
        target = group.zeros("cleaned", shape=shape, chunks=chunks, dtype=np.uint8)
        start = time.perf_counter()
        (step,) = parse_steps(
            [{"op": "remove_small_objects", "class_id": 2, "min_area_um2": MIN_AREA_UM2}], [1, 2]
        )
        apply_step(step, source, target, [1, 2], PIXEL_UM)

        def read(x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
            return target[y : y + h, x : x + w], values[y : y + h, x : x + w]

        count = sum(len(b) for b in iter_objects(read, source.shape[1], source.shape[0]))
        timed["seconds"] = time.perf_counter() - start
    return count


timed: dict[str, float] = {}


def child(side: str, repeat: int) -> None:
    labels, prob = nuclei_labels()
    if side == "bare":
        labels, prob = np.tile(labels, (repeat, repeat)), np.tile(prob, (repeat, repeat))
        start = time.perf_counter()
        count = bare(labels, prob)
        seconds = time.perf_counter() - start
    else:
        count = slidelab(labels, prob, repeat)
        seconds = timed["seconds"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"objects": count, "seconds": seconds, "peak_rss": peak}))


def run(side: str, repeat: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", side, "--repeat", str(repeat)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("bare", "slidelab"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.repeat)
        return
    results = {side: run(side, args.repeat) for side in ("bare", "slidelab")}
    for side, r in results.items():
        rate = r["objects"] / r["seconds"]
        print(
            f"{side}: {r['objects']} objects in {r['seconds']:.2f} s = {rate:,.0f} objects/s, "
            f"peak RSS {r['peak_rss'] / 2**20:.0f} MiB"
        )
    b, s = results["bare"], results["slidelab"]
    assert b["objects"] == s["objects"], "both sides must find the same objects"
    ratio = (s["objects"] / s["seconds"]) / (b["objects"] / b["seconds"])
    memory = s["peak_rss"] / b["peak_rss"]
    print(f"RATIO objects/s slidelab / bare: {ratio:.2f} (target >= 0.8)")
    print(f"peak RSS slidelab / bare: {memory:.2f}")


if __name__ == "__main__":
    main()
