"""Label masks: rasterise label geometry to a uint8 image (0 = unlabelled) and encode it."""

from __future__ import annotations

import io
import math

import numpy as np
import shapely
import tifffile
from PIL import Image

MAX_MASK_PIXELS = 100_000_000  # checked before any work (AnnotationService.mask)
MAX_DOWNSAMPLE = 1024
BAND_PIXELS = 1 << 22  # mask pixels rasterised at a time


def mask_size(width: int, height: int, downsample: float) -> tuple[int, int]:
    """(columns, rows) of a mask of a width × height slide at `downsample`."""
    return math.ceil(width / downsample), math.ceil(height / downsample)


def rasterise(
    pieces: dict[int, list[bytes]], width: int, height: int, downsample: float
) -> np.ndarray:
    """A (rows, cols) uint8 mask: pixel = the value key of the class whose labels cover it.

    `pieces` maps the mask value (1..255) to that class's WKB pieces. A mask pixel takes
    a class when its centre lies inside the class geometry (edges half-open), so
    neighbouring classes and pieces split along a line never both claim a pixel. The
    mask is filled in bands of about BAND_PIXELS pixels, so the work arrays stay small
    beside the mask itself.
    """
    cols, rows = mask_size(width, height, downsample)
    mask = np.zeros((rows, cols), dtype=np.uint8)
    step = max(1, BAND_PIXELS // max(cols, 1))
    for value, blobs in pieces.items():
        edges = _edges(blobs, downsample)
        for top in range(0, rows, step):
            bottom = min(rows, top + step)
            mask[top:bottom][_coverage(edges, cols, top, bottom)] = value
    return mask


Edges = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _edges(blobs: list[bytes], downsample: float) -> Edges:
    """(x0, y0, x1, y1, ylo, yhi) of every ring edge of the pieces, in mask pixels."""
    geoms = shapely.from_wkb(blobs)
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    coords = coords / downsample
    same = ring[:-1] == ring[1:]
    x0, y0 = coords[:-1][same].T
    x1, y1 = coords[1:][same].T
    return x0, y0, x1, y1, np.minimum(y0, y1), np.maximum(y0, y1)


def _coverage(edges: Edges, cols: int, top: int, bottom: int) -> np.ndarray:
    """Boolean (bottom - top, cols): pixel centres of rows [top, bottom) inside the union
    of the pieces (even-odd scanline).

    The pieces of one class do not overlap, so the even-odd rule over all their rings
    (exteriors, holes, islands in holes) gives exactly their union.
    """
    x0, y0, x1, y1, ylo, yhi = edges
    # Rows whose pixel centre (j + 0.5) lies in [ylo, yhi) cross the edge.
    first = np.maximum(np.ceil(ylo - 0.5), top)
    stop = np.minimum(np.ceil(yhi - 0.5), bottom)
    crossing = stop > first
    first = first[crossing].astype(np.int64)
    count = stop[crossing].astype(np.int64) - first
    x0, y0, x1, y1 = x0[crossing], y0[crossing], x1[crossing], y1[crossing]
    edge = np.repeat(np.arange(len(x0)), count)
    row = first[edge] + (np.arange(edge.size) - np.repeat(np.cumsum(count) - count, count))
    yc = row + 0.5
    x = x0[edge] + (yc - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
    row -= top
    order = np.lexsort((x, row))
    row, x = row[order], x[order]
    # Consecutive crossings of a row pair up into spans of inside pixels [start, end).
    start = np.clip(np.ceil(x[0::2] - 0.5), 0, cols).astype(np.int64)
    end = np.clip(np.ceil(x[1::2] - 0.5), 0, cols).astype(np.int64)
    span_row = row[0::2]
    diff = np.zeros((bottom - top, cols + 1), dtype=np.int8)
    np.add.at(diff, (span_row, start), 1)
    np.add.at(diff, (span_row, end), -1)
    return np.cumsum(diff, axis=1, dtype=np.int8)[:, :cols] > 0


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
