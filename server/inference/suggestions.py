"""Where to label next: windows of a result ranked by uncertainty, diverse, not yet labelled.

The uncertainty plane is read at a coarse pyramid level (a window spans about
CELLS_PER_WINDOW cells there), so a whole slide is ranked in a fraction of a second.
Candidate windows lie on a grid of a quarter window; each gets, from summed-area tables,
its region coverage, mean uncertainty over its region pixels and the share of those
already labelled (any class). Score = mean uncertainty × (1 − labelled share) × novelty,
novelty = 1 − exp(−d / side) with d the distance from the window's centre to the nearest
labelled cell: the model has learnt most about what lies beside its labels, so labels
farther away teach it more (bench_active, six seeds: with it the queue needs 0.52× the
area random placement needs, without it 0.92×). Windows less than half inside the region,
or with nothing left to gain (score 0), are dropped; then greedy non-maximum suppression
picks the best and drops every window it overlaps (those within one window side), until n
are chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from scipy import ndimage

from server.annotations import repository as repo
from server.errors import Conflict, UserError
from server.inference.probstore import ProbStore
from server.inference.tiler import Grid
from server.inference.viewing import require_uncertainty
from server.jobs import compute
from server.slides.raster import RingEdges

if TYPE_CHECKING:
    from server.context import Context

DEFAULT_WINDOW = 256  # result pixels
CELLS_PER_WINDOW = 16  # a window's side in cells of the level it is ranked on (at least)
MIN_COVERAGE = 0.5  # a window must lie at least this much inside the region
MAX_SUGGESTIONS = 50


@dataclass(frozen=True)
class Pick:
    """One chosen window, in cells of the ranking level: top-left, score, mean uncertainty."""

    row: int
    col: int
    score: float
    mean: float


def for_result(ctx: Context, rid: str, n: int, size: float | None) -> dict[str, Any]:
    """The suggestions answer of a running or completed result (see module doc)."""
    if not 1 <= n <= MAX_SUGGESTIONS:
        raise UserError(f"n must be from 1 to {MAX_SUGGESTIONS}")
    if size is not None and not (math.isfinite(size) and size > 0):
        raise UserError("size must be a positive number of level-0 pixels")
    row, store = ctx.results.viewable(rid)
    require_uncertainty(store)
    grid = Grid.from_dict(row["meta"]["grid"])
    right, bottom = grid.to_level0(grid.width, grid.height)
    cells = repo.cells_in_bounds(ctx.store, row["slide_id"], (grid.x0, grid.y0, right, bottom))
    blobs = [wkb for _, wkb in cells.values()]  # the labels over the result's grid only
    return compute(suggest, store, grid, blobs, n, size)


def suggest(
    store: ProbStore, grid: Grid, label_wkbs: list[bytes], n: int, size: float | None
) -> dict[str, Any]:
    """{suggestions: [{bbox, score, mean_uncertainty}], window_px} (compute thread)."""
    window = DEFAULT_WINDOW if size is None else size / grid.scale  # result pixels
    window = max(1.0, min(window, grid.width, grid.height))
    level = 0
    while level + 1 < store.levels and window / 2 ** (level + 1) >= CELLS_PER_WINDOW:
        level += 1
    # Whole cells only, so a window never reaches past the grid (a level's last cell may
    # be partial).
    w, h = grid.width // 2**level, grid.height // 2**level
    cells = max(1, min(round(window / 2**level), w, h))
    u = store.read_uncertainty(level, 0, 0, w, h)
    valid = np.asarray(store.read(level, 0, 0, w, h).any(axis=0))
    if not valid.any():
        raise Conflict("Nothing of this result is predicted yet", "Wait for its first tiles.")
    cell = grid.scale * 2**level  # level-0 pixels per cell
    labelled = _labelled(label_wkbs, grid, cell, (h, w)) & valid
    picks = rank(u, valid, labelled, cells, n)
    side = cells * cell
    return {
        "suggestions": [
            {
                "bbox": [grid.x0 + p.col * cell, grid.y0 + p.row * cell, side, side],
                "score": round(p.score, 6),
                "mean_uncertainty": round(p.mean, 6),
            }
            for p in picks
        ],
        "window_px": side,
    }


def _labelled(wkbs: list[bytes], grid: Grid, cell: float, shape: tuple[int, int]) -> np.ndarray:
    """Bool (h, w): cells of the ranking level whose centre lies in a label."""
    if not wkbs:
        return np.zeros(shape, dtype=bool)
    polys = shapely.get_parts(shapely.from_wkb(wkbs))
    x0, y0 = grid.x0, grid.y0
    box = shapely.box(x0, y0, x0 + shape[1] * cell, y0 + shape[0] * cell)
    polys = polys[shapely.intersects(polys, box)]
    if not len(polys):
        return np.zeros(shape, dtype=bool)
    return RingEdges.of(polys, origin=(x0, y0), scale=cell).fill(shape)


def _window_sums(table: np.ndarray, rows: np.ndarray, cols: np.ndarray, side: int) -> np.ndarray:
    """Sums over side × side windows at (rows × cols) top-left corners of a summed-area table."""
    r, c = rows[:, None], cols[None, :]
    return table[r + side, c + side] - table[r, c + side] - table[r + side, c] + table[r, c]


def _summed(values: np.ndarray) -> np.ndarray:
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = values.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    return table


def _starts(length: int, side: int, stride: int) -> np.ndarray:
    last = length - side
    if last < 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.r_[np.arange(0, last + 1, stride), last]).astype(np.int64)


def _novelty(labelled: np.ndarray, rows: np.ndarray, cols: np.ndarray, side: int) -> np.ndarray:
    """1 - exp(-d / side), d the distance from each window's centre to the nearest labelled
    cell (1 everywhere without labels)."""
    if not labelled.any():
        return np.ones((len(rows), len(cols)))
    distance = ndimage.distance_transform_edt(~labelled)
    centre = side // 2
    d = distance[np.ix_(rows + centre, cols + centre)]
    return 1 - np.exp(-d / side)


def rank(u: np.ndarray, valid: np.ndarray, labelled: np.ndarray, side: int, n: int) -> list[Pick]:
    """The n best non-overlapping side × side windows (see module doc), best first."""
    h, w = u.shape
    side = min(side, h, w)
    rows, cols = _starts(h, side, max(1, side // 4)), _starts(w, side, max(1, side // 4))
    if not len(rows) or not len(cols):
        return []
    count = _window_sums(_summed(valid), rows, cols, side)
    total_u = _window_sums(_summed(np.where(valid, u, 0)), rows, cols, side)
    done = _window_sums(_summed(labelled), rows, cols, side)
    inside = count >= MIN_COVERAGE * side * side
    safe = np.maximum(count, 1)
    mean = total_u / safe / 255
    score = mean * (1 - done / safe) * _novelty(labelled, rows, cols, side)
    score = np.where(inside & (score > 0), score, -np.inf)
    picks: list[Pick] = []
    while len(picks) < n:
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        if not np.isfinite(score[i, j]):
            break
        picks.append(Pick(int(rows[i]), int(cols[j]), float(score[i, j]), float(mean[i, j])))
        near_r = np.abs(rows - rows[i]) < side
        near_c = np.abs(cols - cols[j]) < side
        score[np.ix_(near_r, near_c)] = -np.inf
    return picks
