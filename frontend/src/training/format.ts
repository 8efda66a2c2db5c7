// Display formats only the training panel shows: speeds, preparation, seconds.

import { formatDuration } from "../core/format";

/** Iterations per second, or seconds per iteration when slower than one per second. */
export function formatSpeed(itPerS: number | null | undefined): string {
  if (itPerS === null || itPerS === undefined || !Number.isFinite(itPerS) || itPerS <= 0) {
    return "—";
  }
  if (itPerS >= 1) return `${itPerS.toFixed(itPerS >= 10 ? 0 : 1)} it/s`;
  return `${(1 / itPerS).toFixed(1)} s/it`;
}

const PREPARE_WORDS: Record<string, string> = {
  labels: "Preparing labels…",
  regions: "Reading labelled regions…",
  model: "Building the model…",
};

/** "Preparing labels… 3/7", "Reading labelled regions… 12/40", "Building the model…". */
export function formatPreparing(
  progress: { step: string; done: number; total: number } | null | undefined,
): string {
  if (!progress) return "Preparing…";
  const words = PREPARE_WORDS[progress.step] ?? "Preparing…";
  return progress.step === "model" || !(progress.total > 0)
    ? words
    : `${words} ${progress.done}/${progress.total}`;
}

/** Seconds with one decimal below a minute ("1.4 s"), else as `formatDuration`. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0)
    return "—";
  return seconds < 60 ? `${seconds.toFixed(1)} s` : formatDuration(seconds);
}
