// The magnification convention, once: 10× ≙ 1 µm/px, and how a magnification reads.

/** The objective µm/px convention used when a slide has no objective power: 10× ≈ 1 µm/px. */
const UM_PER_PX_AT_10X = 10;

/** Objective magnification for a resolution in µm/px. */
export function magnificationFromMpp(mpp: number): number {
  return UM_PER_PX_AT_10X / mpp;
}

/** Resolution in µm/px for an objective magnification. */
export function mppFromMagnification(magnification: number): number {
  return UM_PER_PX_AT_10X / magnification;
}

/** The slide's base (scan) magnification: its objective power, else from µm/px, else null. */
export function baseMagnification(slide: {
  objective_power: number | null;
  mpp: number | null;
}): number | null {
  if (slide.objective_power && slide.objective_power > 0) return slide.objective_power;
  if (slide.mpp && slide.mpp > 0) return magnificationFromMpp(slide.mpp);
  return null;
}

/** "20×", "2.5×", "0.63×": rounded to what a microscope would print; "—" when unknown. */
export function formatMagnification(magnification: number | null | undefined): string {
  if (!magnification || !Number.isFinite(magnification) || magnification <= 0) return "—";
  const digits = magnification >= 10 ? 0 : magnification >= 1 ? 1 : 2;
  return `${Number(magnification.toFixed(digits))}×`;
}

/** The magnification of a resolution in µm/px as text ("20×" for 0.5 µm/px); "—" when unknown. */
export function formatMppMagnification(mpp: number | null | undefined): string {
  return mpp && mpp > 0 ? formatMagnification(magnificationFromMpp(mpp)) : "—";
}
