"""Label masks: rasterise label geometry to a uint8 image (0 = unlabelled) and encode it."""

from __future__ import annotations

import io

import numpy as np
import shapely
import tifffile
from PIL import Image

from server.slides import raster

MAX_MASK_PIXELS = 100_000_000  # checked before any work (AnnotationService.mask)
MAX_DOWNSAMPLE = 1024
BAND_PIXELS = 1 << 22  # mask pixels rasterised at a time


def mask_size(width: int, height: int, downsample: float) -> tuple[int, int]:
    """(columns, rows) of a mask of a width × height slide at `downsample`."""
    return raster.grid_size(width, height, downsample)


def rasterise(
    pieces: dict[int, list[bytes]], width: int, height: int, downsample: float
) -> np.ndarray:
    """A (rows, cols) uint8 mask: pixel = the value key of the class whose labels cover it.

    `pieces` maps the mask value (1..255) to that class's WKB pieces. A mask pixel takes
    a class when its centre lies inside the class geometry (`raster.polygon_mask`'s rule:
    edges half-open), so neighbouring classes and pieces split along a line never both
    claim a pixel. The mask is filled in bands of about BAND_PIXELS pixels, so the work
    arrays stay small beside the mask itself.
    """
    cols, rows = mask_size(width, height, downsample)
    mask = np.zeros((rows, cols), dtype=np.uint8)
    step = max(1, BAND_PIXELS // max(cols, 1))
    for value, blobs in pieces.items():
        polys = shapely.get_parts(shapely.from_wkb(blobs))
        edges = raster.RingEdges.of(polys, scale=downsample)
        for top in range(0, rows, step):
            bottom = min(rows, top + step)
            mask[top:bottom][edges.fill((bottom - top, cols), top)] = value
    return mask


def encode_png(mask: np.ndarray) -> bytes:
    """PNG bytes of a uint8 mask."""
    out = io.BytesIO()
    Image.fromarray(mask, mode="L").save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def encode_tiff(mask: np.ndarray, mpp: float | None, downsample: float) -> bytes:
    """TIFF bytes (zlib, tiled when large) of a uint8 mask, with its resolution when known."""
    out = io.BytesIO()
    kwargs: dict = {"compression": "zlib", "photometric": "minisblack"}
    if mpp:
        pixels_per_cm = 1e4 / (mpp * downsample)
        kwargs["resolution"] = (pixels_per_cm, pixels_per_cm)
        kwargs["resolutionunit"] = "CENTIMETER"
    if mask.shape[0] > 1024 and mask.shape[1] > 1024:
        kwargs["tile"] = (256, 256)
    tifffile.imwrite(out, mask, **kwargs)
    return out.getvalue()
