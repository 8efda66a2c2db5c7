// Turning the run history into the columns the convergence chart draws.

import type { FinalValues } from "../core/figures";
import { errorPercent, type Metric } from "../core/format";
import { ema } from "./smoothing";
import type { HistoryPoint } from "./types";

export interface ChartView {
  metric: Metric;
  /** EMA weight 0..0.99. */
  smoothing: number;
  log: boolean;
}

/** x = iteration; raw, smoothed, validation, final value (over its averaging window only). */
export type ChartColumns = [
  number[],
  (number | null)[],
  (number | null)[],
  (number | null)[],
  (number | null)[],
];

function metricValue(point: HistoryPoint, metric: Metric, validation: boolean): number | null {
  const raw = validation
    ? metric === "loss"
      ? point.val_loss
      : point.val_error_rate
    : point[metric];
  if (raw === null || raw === undefined || !Number.isFinite(raw)) return null;
  return metric === "error_rate" ? errorPercent(raw) : raw;
}

/** A log axis cannot show zero or negative values: they become gaps. */
function forLog(values: (number | null)[], log: boolean): (number | null)[] {
  return log ? values.map((v) => (v !== null && v > 0 ? v : null)) : values;
}

/** The final value as the chart draws it: a level line over the iterations it averages. */
export function finalColumn(
  points: readonly HistoryPoint[],
  final: FinalValues | null | undefined,
  metric: Metric,
): (number | null)[] {
  if (!final) return points.map(() => null);
  const value = metric === "error_rate" ? errorPercent(final.error_rate) : final.loss;
  const first = final.iteration - final.over;
  return points.map((p) => (p.iteration > first && p.iteration <= final.iteration ? value : null));
}

/** The chart's columns for `points` as the user chose to see them. */
export function chartColumns(
  points: readonly HistoryPoint[],
  view: ChartView,
  final?: FinalValues | null,
): ChartColumns {
  const xs = points.map((p) => p.iteration);
  const raw = points.map((p) => metricValue(p, view.metric, false));
  const val = points.map((p) => metricValue(p, view.metric, true));
  return [
    xs,
    forLog(raw, view.log),
    forLog(ema(raw, view.smoothing), view.log),
    forLog(val, view.log),
    forLog(finalColumn(points, final, view.metric), view.log),
  ];
}

/** True when any point carries a validation value. */
export function hasValidation(points: readonly HistoryPoint[]): boolean {
  return points.some(
    (p) =>
      (p.val_loss !== null && p.val_loss !== undefined) ||
      (p.val_error_rate !== null && p.val_error_rate !== undefined),
  );
}

/**
 * The y-axis range that follows the smoothed curve, the validation line and the final value
 * (not the raw points: a single-batch spike is drawn off the top instead of squashing the
 * curve), padded by 6 % (a factor on a log axis); null when there is nothing to show.
 */
export function yRange(columns: ChartColumns, log: boolean): [number, number] | null {
  const values = [...columns[2], ...columns[3], ...columns[4]].filter(
    (v): v is number => v !== null && Number.isFinite(v) && (!log || v > 0),
  );
  if (!values.length) return null;
  let lo = Math.min(...values);
  const hi = Math.max(...values);
  if (log) {
    const pad = Math.pow(hi / lo, 0.06) * 1.05;
    return [lo / pad, hi * pad];
  }
  const span = hi - lo || Math.abs(hi) * 0.1 || 1;
  // Losses and error rates are never negative: the padding stops at zero.
  lo = lo >= 0 ? Math.max(0, lo - span * 0.06) : lo - span * 0.06;
  return [lo, hi + span * 0.06];
}
