// Areas per class at the current threshold, as a table.

import { h } from "../core/dom";
import type { ResultStats } from "./types";

export interface StatsRow {
  name: string;
  color: string | null;
  area: string;
  percent: string;
}

/** Area in mm² with sensible precision. */
export function formatArea(mm2: number): string {
  if (!Number.isFinite(mm2)) return "—";
  if (mm2 === 0) return "0";
  if (mm2 < 0.01) return mm2.toExponential(2);
  return mm2 < 10 ? mm2.toFixed(3) : mm2.toFixed(2);
}

/** Fraction 0..1 as a percent with one decimal. */
export function formatPercent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(1)} %` : "—";
}

/** Table rows: one per class, then unclassified, then the whole region. */
export function statsRows(stats: ResultStats): StatsRow[] {
  const region = stats.region_area_mm2;
  const rows: StatsRow[] = stats.classes.map((c) => ({
    name: c.name,
    color: c.color,
    area: formatArea(c.area_mm2),
    percent: formatPercent(c.fraction),
  }));
  rows.push({
    name: "Unclassified",
    color: null,
    area: formatArea(stats.unclassified_area_mm2),
    percent: formatPercent(
      stats.unclassified_fraction ?? (region > 0 ? stats.unclassified_area_mm2 / region : 0),
    ),
  });
  rows.push({
    name: "Region",
    color: null,
    area: formatArea(region),
    percent: formatPercent(region > 0 ? 1 : 0),
  });
  return rows;
}

/** The stats as a `<table>`. */
export function statsTable(stats: ResultStats): HTMLTableElement {
  const rows = statsRows(stats);
  return h(
    "table",
    { class: "inf-stats" },
    h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", {}, "Area mm²"), h("th", {}, "%"))),
    h(
      "tbody",
      {},
      ...rows.map((r, i) =>
        h(
          "tr",
          { class: i >= rows.length - 2 ? "inf-stats-extra" : null },
          h(
            "td",
            {},
            r.color ? h("i", { class: "inf-swatch", style: `background:${r.color}` }) : null,
            r.name,
          ),
          h("td", { class: "num" }, r.area),
          h("td", { class: "num" }, r.percent),
        ),
      ),
    ),
  );
}
