// The overlay legend: class colours, or the heat-map scale of one class.

import { h } from "../core/dom";
import type { AppClass } from "./types";

/** Swatches for each class plus "unclassified": see-through on the overlay and in the key. */
export function classLegend(classes: AppClass[]): HTMLElement {
  return h(
    "ul",
    { class: "inf-legend" },
    ...classes.map((c) =>
      h(
        "li",
        { "data-index": String(c.index) },
        h("i", { class: "inf-swatch", style: `background:${c.color}` }),
        c.name,
      ),
    ),
    h(
      "li",
      { class: "inf-legend-none" },
      h("i", { class: "inf-swatch inf-swatch-none" }),
      "unclassified (not coloured: below the threshold)",
    ),
  );
}

/** A 0–100 % probability scale for the heat map of `cls`. */
export function heatmapLegend(cls: AppClass): HTMLElement {
  return h(
    "div",
    { class: "inf-legend inf-legend-heat" },
    h("span", {}, `P(${cls.name})`),
    h("span", {}, "0 %"),
    h("i", { class: "inf-heat-scale" }),
    h("span", {}, "100 %"),
  );
}
