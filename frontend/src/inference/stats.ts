// Areas per class at the current threshold, as a table.

import { h } from "../core/dom";
import { formatAreaMm2 } from "../core/format";
import type { ResultStats } from "./types";

export interface StatsRow {
  name: string;
  color: string | null;
  /** The area as said ("4,200 µm²", "0.0421 mm²"), and in mm² as the server gave it. */
  area: string;
  mm2: number;
  percent: string;
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
    area: formatAreaMm2(c.area_mm2),
    mm2: c.area_mm2,
    percent: formatPercent(c.fraction),
  }));
  rows.push({
    name: "Unclassified",
    color: null,
    area: formatAreaMm2(stats.unclassified_area_mm2),
    mm2: stats.unclassified_area_mm2,
    percent: formatPercent(
      stats.unclassified_fraction ?? (region > 0 ? stats.unclassified_area_mm2 / region : 0),
    ),
  });
  rows.push({
    name: "Region",
    color: null,
    area: formatAreaMm2(region),
    mm2: region,
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
    h("thead", {}, h("tr", {}, h("th", {}, "Class"), h("th", {}, "Area"), h("th", {}, "%"))),
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
          h("td", { class: "num", "data-mm2": String(r.mm2) }, r.area),
          h("td", { class: "num" }, r.percent),
        ),
      ),
    ),
  );
}
