// The Objects section under the areas: per class the number of connected objects, their
// total area, area fraction and density per mm², and a histogram of their sizes, from
// `GET /api/results/<rid>/objects?threshold=T` (the post-processed result). Also the object
// export links (CSV, GeoJSON) and the label TIFF's "full resolution" choice.

import { h } from "../core/dom";
import { formatAreaMm2, formatNumber } from "../core/format";
import { histogramCanvas, validBins, type SizeBins } from "./sizeHistogram";
import "./postprocessing.css";
import { formatPercent } from "./stats";

/** One class's objects (`GET /api/results/<rid>/objects`). */
export interface ObjectClass {
  id: number | null;
  index: number;
  name: string;
  color: string;
  count: number;
  area_mm2: number;
  area_fraction: number;
  density_per_mm2: number;
  sizes?: SizeBins | null;
}

/** One ROI drawn on the slide: its classes' objects (centroid inside) and pixels. */
export interface ObjectRoi {
  roi_id: number;
  region_area_mm2: number | null;
  classes: Omit<ObjectClass, "color" | "sizes">[];
}

export interface ObjectStats {
  threshold: number;
  pixel_area_um2: number;
  region_area_mm2: number;
  classes: ObjectClass[];
  rois?: ObjectRoi[];
}

/** A row of the per-ROI table: the ROI's cell is set on its first class only. */
export interface RoiRow extends ObjectRow {
  roi: string;
  roiId: number;
  index: number;
}

export interface ObjectRow {
  name: string;
  color: string;
  count: string;
  area: string;
  percent: string;
  /** Objects per mm², the number alone (the column says the unit). */
  density: string;
}

const REQUEST_DELAY_MS = 350;

/** The objects of a result at a threshold, as JSON or as an export file. */
export function objectsUrl(
  resultId: string,
  threshold: number,
  format: "json" | "csv" | "geojson" = "json",
): string {
  const suffix = format === "json" ? "" : `.${format}`;
  return `/api/results/${encodeURIComponent(resultId)}/objects${suffix}?threshold=${threshold}`;
}

/** The label TIFF export, at the app's resolution or the slide's full resolution. */
export function labelTiffUrl(resultId: string, threshold: number, full: boolean): string {
  const base = `/api/results/${encodeURIComponent(resultId)}/export.tiff?threshold=${threshold}`;
  return full ? `${base}&resolution=full` : base;
}

/** Objects per mm² as text: "12.3 /mm²", "1,204 /mm²", "0 /mm²". */
export function formatDensity(perMm2: number | null | undefined): string {
  if (perMm2 === null || perMm2 === undefined || !Number.isFinite(perMm2)) return "—";
  return `${formatNumber(perMm2)} /mm²`;
}

/** A count of objects, grouped ("1,204"). */
export function formatCount(count: number | null | undefined): string {
  if (count === null || count === undefined || !Number.isFinite(count)) return "—";
  return Math.round(count).toLocaleString("en-US");
}

/** The table rows: one per class, as the units say them. */
export function objectRows(stats: ObjectStats): ObjectRow[] {
  return stats.classes.map((c) => ({
    name: c.name,
    color: c.color,
    count: formatCount(c.count),
    area: formatAreaMm2(c.area_mm2),
    percent: formatPercent(c.area_fraction),
    density: Number.isFinite(c.density_per_mm2) ? formatNumber(c.density_per_mm2) : "—",
  }));
}

/** The per-ROI rows: each ROI's classes, the ROI named with its area ("ROI 2 · 0.52 mm²"). */
export function roiRows(stats: ObjectStats): RoiRow[] {
  const colors = new Map(stats.classes.map((c) => [c.index, c.color]));
  return (stats.rois ?? []).flatMap((roi) =>
    roi.classes.map((c, i) => ({
      roi: i === 0 ? `ROI ${roi.roi_id} · ${formatAreaMm2(roi.region_area_mm2)}` : "",
      roiId: roi.roi_id,
      index: c.index,
      name: c.name,
      color: colors.get(c.index) ?? "#888888",
      count: formatCount(c.count),
      area: formatAreaMm2(c.area_mm2),
      percent: formatPercent(c.area_fraction),
      density: Number.isFinite(c.density_per_mm2) ? formatNumber(c.density_per_mm2) : "—",
    })),
  );
}

/** Total objects over the classes. */
export function totalObjects(stats: ObjectStats): number {
  return stats.classes.reduce((sum, c) => sum + (Number.isFinite(c.count) ? c.count : 0), 0);
}

function objectsTable(stats: ObjectStats): HTMLTableElement {
  const rows = objectRows(stats);
  const head = ["Class", "Objects", "Area", "%", "per mm²"];
  return h(
    "table",
    { class: "inf-objects-table" },
    h("thead", {}, h("tr", {}, ...head.map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      ...rows.map((r, i) =>
        h(
          "tr",
          { "data-index": String(stats.classes[i].index) },
          h("td", {}, h("i", { class: "inf-swatch", style: `background:${r.color}` }), r.name),
          h(
            "td",
            { class: "num inf-objects-count", "data-count": String(stats.classes[i].count) },
            r.count,
          ),
          h("td", { class: "num", "data-mm2": String(stats.classes[i].area_mm2) }, r.area),
          h("td", { class: "num" }, r.percent),
          h(
            "td",
            { class: "num", title: formatDensity(stats.classes[i].density_per_mm2) },
            r.density,
          ),
        ),
      ),
    ),
  );
}

function roiTable(stats: ObjectStats): HTMLElement | null {
  const rows = roiRows(stats);
  if (!rows.length) return null;
  const head = ["ROI", "Class", "Objects", "Area", "%", "per mm²"];
  return h(
    "table",
    { class: "inf-objects-table inf-objects-rois" },
    h("thead", {}, h("tr", {}, ...head.map((t) => h("th", {}, t)))),
    h(
      "tbody",
      {},
      ...rows.map((r) =>
        h(
          "tr",
          { "data-roi": String(r.roiId), "data-index": String(r.index) },
          h("td", {}, r.roi),
          h("td", {}, h("i", { class: "inf-swatch", style: `background:${r.color}` }), r.name),
          h("td", { class: "num inf-objects-count" }, r.count),
          h("td", { class: "num" }, r.area),
          h("td", { class: "num" }, r.percent),
          h("td", { class: "num" }, r.density),
        ),
      ),
    ),
  );
}

function histograms(stats: ObjectStats): HTMLElement {
  const withObjects = stats.classes.filter((c) => validBins(c.sizes));
  return h(
    "div",
    { class: "inf-objects-sizes" },
    h("div", { class: "inf-objects-caption" }, "Object sizes (µm², log scale)"),
    ...withObjects.map((c) =>
      h(
        "div",
        { class: "inf-objects-size", "data-index": String(c.index) },
        h("span", { class: "inf-objects-size-name" }, c.name),
        histogramCanvas(c.name, c.color, c.sizes!),
      ),
    ),
    withObjects.length ? null : h("em", {}, "No objects at this threshold."),
  );
}

/** The Objects section: fetched after each change of result, threshold or steps (debounced). */
export class ObjectsSection {
  readonly element = h(
    "details",
    { class: "inf-objects", open: true, "data-testid": "objects" },
    h("summary", {}, "Objects"),
  );
  private readonly body = h("div", { class: "inf-objects-body" });
  private timer: number | null = null;
  private request: AbortController | null = null;

  constructor() {
    this.element.append(this.body);
  }

  /** Show the objects of `resultId` at `threshold` shortly (a newer call replaces it). */
  load(resultId: string, threshold: number): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.element.dataset.loading = "true";
    this.timer = window.setTimeout(() => {
      this.timer = null;
      void this.fetch(resultId, threshold);
    }, REQUEST_DELAY_MS);
  }

  /** Forget what is shown. */
  clear(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    this.request?.abort();
    this.body.replaceChildren();
    delete this.element.dataset.result;
    delete this.element.dataset.threshold;
    delete this.element.dataset.total;
    delete this.element.dataset.loading;
  }

  private async fetch(resultId: string, threshold: number): Promise<void> {
    this.request?.abort();
    const request = new AbortController();
    this.request = request;
    try {
      const response = await fetch(objectsUrl(resultId, threshold), {
        credentials: "same-origin",
        signal: request.signal,
      });
      const body = (await response.json().catch(() => ({}))) as ObjectStats & {
        error?: string;
        hint?: string;
      };
      if (request !== this.request) return;
      if (!response.ok) {
        this.body.replaceChildren(
          h(
            "div",
            { class: "inf-objects-message" },
            body.error ?? `The objects could not be counted (${response.status}).`,
            body.hint ? h("div", { class: "inf-hint" }, body.hint) : null,
          ),
        );
      } else {
        this.body.replaceChildren(objectsTable(body), histograms(body));
        const perRoi = roiTable(body);
        if (perRoi) this.body.append(h("div", { class: "inf-objects-caption" }, "Per ROI"), perRoi);
        this.element.dataset.total = String(totalObjects(body));
      }
      this.element.dataset.result = resultId;
      this.element.dataset.threshold = String(threshold);
      delete this.element.dataset.loading;
    } catch (error) {
      if ((error as Error).name === "AbortError") return;
      this.body.replaceChildren(
        h("div", { class: "inf-objects-message" }, "The objects could not be loaded."),
      );
      delete this.element.dataset.loading;
    }
  }
}

/** Export links for the objects (CSV, GeoJSON) and the label TIFF's resolution choice. */
export class ObjectExports {
  readonly csv = h(
    "a",
    { class: "inf-export inf-export-objects-csv", download: "", role: "button" },
    "Objects CSV",
  );
  readonly geojson = h(
    "a",
    { class: "inf-export inf-export-objects-geojson", download: "", role: "button" },
    "Objects GeoJSON",
  );
  readonly full = h("input", { type: "checkbox", class: "inf-export-full" });
  readonly element: HTMLElement;
  private last: { resultId: string; threshold: number; tiff: HTMLAnchorElement | null } | null =
    null;

  constructor() {
    this.element = h(
      "span",
      { class: "inf-exports-more" },
      h(
        "label",
        {
          class: "inf-inline inf-export-full-box",
          title: "Label TIFF at the slide's full resolution (larger file) instead of the app's",
        },
        this.full,
        " full resolution TIFF",
      ),
      this.csv,
      this.geojson,
    );
    this.full.addEventListener("change", () => {
      if (this.last) this.update(this.last.resultId, this.last.threshold, this.last.tiff);
    });
  }

  /** Point the links at `resultId` and `threshold`; `tiff` is the label TIFF link to set. */
  update(resultId: string, threshold: number, tiff: HTMLAnchorElement | null | undefined): void {
    this.last = { resultId, threshold, tiff: tiff ?? null };
    this.csv.href = objectsUrl(resultId, threshold, "csv");
    this.geojson.href = objectsUrl(resultId, threshold, "geojson");
    if (tiff) tiff.href = labelTiffUrl(resultId, threshold, this.full.checked);
  }
}
