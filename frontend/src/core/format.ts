// Display formats shared by the panels: durations and the run metrics (loss, error rate).

/** The metrics a run reports. */
export type Metric = "loss" | "error_rate";

/** "1 h 05 min", "3 min 20 s", "42 s"; "—" when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return "—";
  }
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}

/** Error rates arrive as fractions of the labelled pixels; the UI shows percent. */
export function errorPercent(fraction: number): number {
  return fraction * 100;
}

/** A metric value as text: loss with 4 significant digits, error rate in percent. */
export function formatMetric(metric: Metric, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (metric === "error_rate") return `${errorPercent(value).toFixed(1)} %`;
  return value >= 0.001 ? value.toPrecision(4) : value.toExponential(2);
}

/** Seconds as a human duration for summaries ("12 min 04 s"). */
export function formatDuration(seconds: number | null | undefined): string {
  return formatEta(seconds);
}
