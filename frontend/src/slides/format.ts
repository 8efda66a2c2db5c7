// Texts describing a slide in the list.

import type { SlideSummary } from "../core/app";
import { baseMagnification, formatMagnification } from "../core/magnification";

/** "2,220 × 2,967 px" or "" when unknown. */
export function formatDimensions(slide: Pick<SlideSummary, "width" | "height">): string {
  if (!slide.width || !slide.height) return "";
  const n = (v: number) => v.toLocaleString("en-US");
  return `${n(slide.width)} × ${n(slide.height)} px`;
}

/** "0.499 µm/px · 20×", "20×" or "resolution unknown". */
export function formatResolution(slide: Pick<SlideSummary, "mpp" | "objective_power">): string {
  const parts: string[] = [];
  if (slide.mpp) parts.push(`${Number(slide.mpp.toPrecision(3))} µm/px`);
  const base = baseMagnification(slide);
  if (base) parts.push(formatMagnification(base));
  return parts.length ? parts.join(" · ") : "resolution unknown";
}
