// The uncertainty view of a result: its colour bar, drawn from the colour stops the server
// sends (`uncertainty_colors`, 0 → 1, evenly spaced), and the region's uncertainty figures
// shown with the areas.

import { h } from "../core/dom";
import { formatPercent } from "./stats";
import type { UncertaintyStats } from "./types";

/** A CSS gradient through `colors`, evenly spaced from left (0) to right (1). */
export function uncertaintyGradient(colors: string[]): string {
  if (!colors.length) return "transparent";
  if (colors.length === 1) return colors[0];
  const last = colors.length - 1;
  const stops = colors.map((c, i) => `${c} ${Number(((i / last) * 100).toFixed(2))}%`);
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

/** The colour bar with its ends named: certain (one class clear) … uncertain (a toss-up). */
export function uncertaintyLegend(colors: string[]): HTMLElement {
  return h(
    "div",
    { class: "inf-legend inf-legend-uncertainty" },
    h("span", {}, "Uncertainty"),
    h("span", {}, "0 %"),
    h("i", {
      class: "inf-uncertainty-scale",
      "data-colors": colors.join(","),
      style: `background:${uncertaintyGradient(colors)}`,
      title:
        "Normalised entropy of the class probabilities: 0 % one class is certain, 100 % all classes equally likely",
    }),
    h("span", {}, "100 %"),
  );
}

/** One line for the stats box: mean, 90th percentile and the share above 50 %. */
export function uncertaintyText(stats: UncertaintyStats): string {
  const parts = [`Mean uncertainty ${formatPercent(stats.mean)}`];
  if (stats.p90 !== undefined && stats.p90 !== null)
    parts.push(`90th pct ${formatPercent(stats.p90)}`);
  if (stats.high_fraction !== undefined && stats.high_fraction !== null)
    parts.push(`≥ 50 % on ${formatPercent(stats.high_fraction)} of the region`);
  return parts.join(" · ");
}

/** The line as an element (null when the stats carry no uncertainty: an older result). */
export function uncertaintySummary(stats: UncertaintyStats | null | undefined): HTMLElement | null {
  if (!stats || !Number.isFinite(stats.mean)) return null;
  return h(
    "div",
    { class: "inf-uncertainty", "data-mean": String(stats.mean) },
    uncertaintyText(stats),
  );
}
