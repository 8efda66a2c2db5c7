"""Peak memory of post-processing, objects and exports on a synthetic result (a script).

`python tests/memory_probe.py SIDE` builds the probability store a whole-slide result of a
SIDE × SIDE slide at 8 slide pixels per result pixel would have (smooth blobs of two
classes, written tile by tile as inference does), then post-processes it, measures its
objects and writes the label TIFF and the objects CSV, and prints {"side", "objects",
"peak_rss_kib"} as JSON. tests/test_measure_memory.py compares two sizes.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

from server.inference.export import write_export
from server.inference.labels import label_stats, post_processed
from server.inference.measurements import write_objects
from server.inference.probstore import ProbStore

SCALE = 8
SLIDE_MPP = 0.25
TILE = 512
CLASSES = [
    {"index": 0, "id": 1, "name": "Stroma", "color": "#ff66cc"},
    {"index": 1, "id": 2, "name": "Tumour", "color": "#3333aa"},
]


def synthetic_store(folder: Path, side: int) -> tuple[ProbStore, dict]:
    """A complete store of smooth blobs (period ~250 result pixels) of two classes."""
    width = height = -(-side // SCALE)
    meta = {
        "grid": {"x0": 0, "y0": 0, "scale": SCALE, "width": width, "height": height},
        "classes": CLASSES,
        "slide_mpp": SLIDE_MPP,
        "slide_size": [side, side],
        "slide_name": "synthetic.tif",
        "app_name": "probe",
    }
    store = ProbStore.create(folder / "p.zarr", width, height, len(CLASSES), TILE, meta)
    for y in range(0, height, TILE):
        for x in range(0, width, TILE):
            h, w = min(TILE, height - y), min(TILE, width - x)
            yy, xx = np.mgrid[y : y + h, x : x + w]
            p = 0.5 + 0.5 * np.sin(xx / 37.0) * np.sin(yy / 41.0) * np.cos((xx + yy) / 97.0)
            tumour = np.round(p * 254 + 1).astype(np.uint8)
            store.write_tile(
                x,
                y,
                np.stack([256 - tumour.astype(np.int16), tumour]).clip(1, 255).astype(np.uint8),
            )
    store.finish()
    return store, meta


def main(side: int) -> None:
    with tempfile.TemporaryDirectory(prefix="slidelab-memory-") as tmp:
        folder = Path(tmp)
        store, meta = synthetic_store(folder, side)
        steps = [
            {"op": "remove_small_objects", "class_id": 2, "min_area_um2": 400.0},
            {"op": "close", "class_id": 1, "radius_um": 4.0},
        ]
        labels = post_processed(
            store, folder / "labels", steps, "probe", [1, 2], SCALE * SLIDE_MPP, 0.5
        )
        stats = label_stats(store, labels, 0.5, CLASSES, (SCALE * SLIDE_MPP) ** 2)
        write_export("tiff", labels, meta, stats, 0.5, folder / "labels.tif")
        objects = write_objects("csv", store, labels, meta, 0.5, folder / "objects.csv")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"side": side, "objects": len(objects), "peak_rss_kib": peak}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
