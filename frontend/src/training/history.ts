// The iteration history of the watched run: merged from replays and live events.

import type { HistoryPoint } from "./types";

export interface MergeResult {
  points: HistoryPoint[];
  /** Some iterations are missing between what we had and what arrived. */
  gap: boolean;
}

/**
 * Append `incoming` to `existing` (sorted by iteration): duplicates are dropped, order kept.
 * A jump over missing iterations is reported as `gap` so the caller can ask for the full
 * history again; the points are appended anyway so the chart stays current.
 */
export function mergePoints(
  existing: readonly HistoryPoint[],
  incoming: readonly HistoryPoint[],
): MergeResult {
  const points = existing.slice();
  let last = points.length ? points[points.length - 1].iteration : null;
  let gap = false;
  const sorted = incoming.slice().sort((a, b) => a.iteration - b.iteration);
  for (const point of sorted) {
    if (last !== null && point.iteration <= last) continue;
    if (last !== null && point.iteration > last + 1) gap = true;
    points.push(point);
    last = point.iteration;
  }
  return { points, gap };
}
