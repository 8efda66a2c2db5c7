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

// ---- physical sizes: one place for lengths and areas (µm, mm; µm², mm²) ----

const UM_PER_MM = 1000;
const UM2_PER_MM2 = 1_000_000;

/** A number with at most `digits` significant digits, grouped ("1,234", "0.0421", "12.3"). */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return "—";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  // Whole numbers above the precision stay whole (1,234 not 1,230): no false zeros.
  const rounded = abs >= 10 ** digits ? Math.round(value) : Number(value.toPrecision(digits));
  const decimals = abs >= 10 ** digits ? 0 : Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return rounded.toLocaleString("en-US", { maximumFractionDigits: Math.min(decimals, 20) });
}

/** A length in µm as text in the unit that suits it: "0.5 µm", "404 µm", "1.23 mm". */
export function formatLength(um: number | null | undefined): string {
  if (um === null || um === undefined || !Number.isFinite(um)) return "—";
  if (Math.abs(um) >= UM_PER_MM) return `${formatNumber(um / UM_PER_MM)} mm`;
  return `${formatNumber(um)} µm`;
}

/**
 * An area in µm² in the unit that suits it: below 0.01 mm² in µm² ("4,200 µm²", "0.5 µm²"),
 * else in mm² ("0.0421 mm²", "12.3 mm²"); never in exponent notation.
 */
export function formatAreaUm2(um2: number | null | undefined): string {
  if (um2 === null || um2 === undefined || !Number.isFinite(um2)) return "—";
  if (um2 === 0) return "0 µm²";
  if (Math.abs(um2) < UM2_PER_MM2 / 100) return `${formatNumber(um2)} µm²`;
  return `${formatNumber(um2 / UM2_PER_MM2)} mm²`;
}

/** An area given in mm² (the result API's unit), said as `formatAreaUm2` says it. */
export function formatAreaMm2(mm2: number | null | undefined): string {
  if (mm2 === null || mm2 === undefined || !Number.isFinite(mm2)) return "—";
  return formatAreaUm2(mm2 * UM2_PER_MM2);
}

/** Pixels as a whole number ("809 px"); for sizes without a resolution. */
export function formatPixels(px: number): string {
  return Number.isFinite(px) ? `${Math.round(px).toLocaleString("en-US")} px` : "—";
}

/**
 * A box's size "404 × 404 µm" (or "1.2 × 0.8 mm") from level-0 pixels and µm/px; whole
 * pixels "809 × 809 px" when the slide has no resolution.
 */
export function formatBoxSize(widthPx: number, heightPx: number, mpp: number | null): string {
  if (!mpp || !(mpp > 0)) return `${Math.round(widthPx)} × ${formatPixels(heightPx)}`;
  const w = widthPx * mpp;
  const h = heightPx * mpp;
  const mm = Math.max(w, h) >= UM_PER_MM;
  const part = (um: number) => formatNumber(mm ? um / UM_PER_MM : um);
  return `${part(w)} × ${part(h)} ${mm ? "mm" : "µm"}`;
}
