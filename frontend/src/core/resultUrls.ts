// Addresses of results: overlay tiles at a threshold, stats, exports.

export type OverlayMode = "classes" | "heatmap" | "uncertainty";

export interface OverlayParams {
  /** Minimum probability 0..1 for a pixel to take its best class. */
  threshold: number;
  mode: OverlayMode;
  /** Class index for the heat map. */
  classIndex?: number | null;
  /** Bumped when the same result was recomputed (live preview), so no stale tile is reused. */
  version?: number;
  /** The app's post-processing key (`postprocessing_key`): new steps, new tile URLs. */
  pp?: string;
}

export type ExportKind = "geojson" | "tiff" | "csv";

/** Slider percent (0..100) to a threshold 0..1 without float noise in URLs. */
export function thresholdFromPercent(percent: number): number {
  const clamped = Math.min(Math.max(percent, 0), 100);
  return Number((clamped / 100).toFixed(4));
}

/** The query string of an overlay tile: `threshold=T&mode=..` (+ class, version). */
export function overlayQuery(params: OverlayParams): string {
  const query = new URLSearchParams({
    threshold: String(params.threshold),
    mode: params.mode,
  });
  if (params.mode === "heatmap") query.set("class", String(params.classIndex ?? 0));
  if (params.version) query.set("v", String(params.version));
  if (params.pp) query.set("pp", params.pp);
  return query.toString();
}

/** The overlay's Deep Zoom descriptor. */
export function dziUrl(resultId: string): string {
  return `/results/${encodeURIComponent(resultId)}.dzi`;
}

/** One overlay tile rendered at `params`. */
export function tileUrl(
  resultId: string,
  level: number,
  col: number,
  row: number,
  params: OverlayParams,
): string {
  return `/results/${encodeURIComponent(resultId)}_files/${level}/${col}_${row}.png?${overlayQuery(params)}`;
}

/** Areas per class at a threshold. */
export function statsUrl(resultId: string, threshold: number): string {
  return `/api/results/${encodeURIComponent(resultId)}/stats?threshold=${threshold}`;
}

/** A download of the result at a threshold. */
export function exportUrl(resultId: string, kind: ExportKind, threshold: number): string {
  return `/api/results/${encodeURIComponent(resultId)}/export.${kind}?threshold=${threshold}`;
}
