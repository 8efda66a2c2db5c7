// Magnification math: "M×" shows image pixels at (M / objective power) screen px per image px.

/** The magnifications offered as one-click buttons. */
export const PRESET_MAGNIFICATIONS = [1, 5, 10, 20, 40] as const;

/** The objective µm/px convention used when a slide has no objective power: 10× ≈ 1 µm/px. */
const UM_PER_PX_AT_10X = 10;

/** The slide's base (scan) magnification: its objective power, else 10 / µm-per-px, else null. */
export function baseMagnification(slide: {
  objective_power: number | null;
  mpp: number | null;
}): number | null {
  if (slide.objective_power && slide.objective_power > 0) return slide.objective_power;
  if (slide.mpp && slide.mpp > 0) return UM_PER_PX_AT_10X / slide.mpp;
  return null;
}

/** Screen px per image px that shows the slide at `magnification`. */
export function imageZoomFor(magnification: number, base: number): number {
  return magnification / base;
}

/** The magnification shown at `imageZoom` screen px per image px. */
export function magnificationAt(imageZoom: number, base: number): number {
  return imageZoom * base;
}

/** "10×", "2.5×", "0.31×". */
export function formatMagnification(magnification: number): string {
  if (!Number.isFinite(magnification) || magnification <= 0) return "–";
  const digits = magnification >= 10 ? 0 : magnification >= 1 ? 1 : 2;
  const text = magnification.toFixed(digits).replace(/\.0+$/, "");
  return `${text}×`;
}

/** The most over-zoom (screen px per image px) the viewer allows, so 40× is always reachable. */
export function maxImageZoom(base: number | null): number {
  const needed = base ? Math.max(...PRESET_MAGNIFICATIONS) / base : 1;
  return Math.max(4, needed * 1.25);
}
