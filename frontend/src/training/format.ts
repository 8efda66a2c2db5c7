// Display formats for numbers the panels show: durations, speeds, metrics, magnification.

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

/** Iterations per second, or seconds per iteration when slower than one per second. */
export function formatSpeed(itPerS: number | null | undefined): string {
  if (itPerS === null || itPerS === undefined || !Number.isFinite(itPerS) || itPerS <= 0) {
    return "—";
  }
  if (itPerS >= 1) return `${itPerS.toFixed(itPerS >= 10 ? 0 : 1)} it/s`;
  return `${(1 / itPerS).toFixed(1)} s/it`;
}

/** Objective magnification for a resolution, by the usual convention 10× ≙ 1 µm/px. */
export function magnificationFromMpp(mpp: number): number {
  return 10 / mpp;
}

/** Resolution in µm/px for an objective magnification. */
export function mppFromMagnification(magnification: number): number {
  return 10 / magnification;
}

/** "20×", "2.5×", "0.63×": magnification rounded to what a microscope would print. */
export function formatMagnification(mpp: number | null | undefined): string {
  if (!mpp || !Number.isFinite(mpp) || mpp <= 0) return "—";
  const mag = magnificationFromMpp(mpp);
  const digits = mag >= 10 ? 0 : mag >= 1 ? 1 : 2;
  return `${Number(mag.toFixed(digits))}×`;
}

/** Error rates arrive as fractions of the labelled pixels; the UI shows percent. */
export function errorPercent(fraction: number): number {
  return fraction * 100;
}

/** A metric value as text: loss with 4 significant digits, error rate in percent. */
export function formatMetric(metric: "loss" | "error_rate", value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (metric === "error_rate") return `${errorPercent(value).toFixed(1)} %`;
  return value >= 0.001 ? value.toPrecision(4) : value.toExponential(2);
}

/** Seconds as a human duration for summaries ("12 min 04 s"). */
export function formatDuration(seconds: number | null | undefined): string {
  return formatEta(seconds);
}

const PREPARE_WORDS: Record<string, string> = {
  labels: "Preparing labels…",
  regions: "Reading labelled regions…",
  model: "Building the model…",
};

/** "Preparing labels… 3/7", "Reading labelled regions… 12/40", "Building the model…". */
export function formatPreparing(progress: { step: string; done: number; total: number } | null | undefined): string {
  if (!progress) return "Preparing…";
  const words = PREPARE_WORDS[progress.step] ?? "Preparing…";
  return progress.step === "model" || !(progress.total > 0) ? words : `${words} ${progress.done}/${progress.total}`;
}

/** Seconds with one decimal below a minute ("1.4 s"), else as `formatDuration`. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "—";
  return seconds < 60 ? `${seconds.toFixed(1)} s` : formatDuration(seconds);
}
