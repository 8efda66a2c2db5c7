// One result on screen: the overlay with its threshold, opacity, toggle and view mode
// (classes or a class's heat map), the legend, the areas and the export links.

import { ApiError } from "../core/api";
import type { AppContext } from "../core/app";
import { showError } from "../core/toast";
import { h } from "../core/dom";
import { loadNumber, saveNumber } from "../core/prefs";
import { ResultOverlay } from "../viewer/resultOverlay";
import { classLegend, heatmapLegend } from "./legend";
import { statsTable } from "./stats";
import { uncertaintyLegend, uncertaintySummary } from "./uncertainty";
import { ObjectExports, ObjectsSection } from "./objects";
import type { ResultInfo, ResultStats } from "./types";
import {
  exportUrl,
  statsUrl,
  thresholdFromPercent,
  type ExportKind,
  type OverlayParams,
} from "../core/resultUrls";

const REDRAW_DELAY_MS = 120;
const EXPORTS: [ExportKind, string][] = [
  ["geojson", "GeoJSON"],
  ["tiff", "Label TIFF"],
  ["csv", "CSV"],
];

export class ResultView {
  readonly element = h("div", { class: "inf-result", hidden: true });
  private readonly overlay: ResultOverlay;
  private shown: ResultInfo | null = null;
  private redrawTimer: number | null = null;
  private statsRequest: AbortController | null = null;
  private readonly visible = h("input", { type: "checkbox", class: "inf-visible", checked: true });
  private readonly opacity = h("input", {
    type: "range",
    min: "0",
    max: "100",
    value: "60",
    class: "inf-opacity",
  });
  private readonly threshold = h("input", {
    type: "range",
    min: "0",
    max: "100",
    step: "1",
    value: "0",
    class: "inf-threshold",
  });
  private readonly thresholdText = h("output", { class: "inf-threshold-value" }, "0 %");
  private readonly mode = h("select", { class: "inf-mode", "aria-label": "Overlay view" });
  private readonly legend = h("div", { class: "inf-legend-box" });
  private readonly warnings = h("div", { class: "inf-warnings", role: "note" });
  private readonly stats = h("div", { class: "inf-stats-box" });
  private readonly exports = new Map<ExportKind, HTMLAnchorElement>();
  private readonly objects = new ObjectsSection();
  private readonly objectExports = new ObjectExports();
  /** The shown result's post-processing key (tile URLs carry it as `pp`). */
  private ppKey = "";

  /** `state` receives data-* attributes describing what is drawn (for tests and styling). */
  constructor(app: AppContext, state: DOMStringMap) {
    this.overlay = new ResultOverlay(
      () => app.viewer(),
      (loaded, rid, query) => {
        state.overlay = rid ?? "";
        app.bus.emit("result:shown", { resultId: rid });
        state.overlayQuery = query;
        state.overlayLoaded = String(loaded);
      },
    );
    for (const [kind, label] of EXPORTS) {
      this.exports.set(
        kind,
        h("a", { class: `inf-export inf-export-${kind}`, download: "", role: "button" }, label),
      );
    }
    this.element.append(
      this.warnings,
      h(
        "div",
        { class: "inf-row" },
        h("label", { class: "inf-inline" }, this.visible, " show"),
        h("label", { class: "inf-inline" }, "opacity ", this.opacity),
      ),
      h(
        "label",
        { class: "inf-row inf-threshold-row" },
        "Min. probability ",
        this.threshold,
        this.thresholdText,
      ),
      h("div", { class: "inf-row" }, this.mode),
      this.legend,
      this.stats,
      this.objects.element,
      h(
        "div",
        { class: "inf-exports" },
        "Export: ",
        ...this.exports.values(),
        this.objectExports.element,
      ),
    );
    this.bind(state);
  }

  private bind(state: DOMStringMap): void {
    this.visible.addEventListener("change", () => this.overlay.setVisible(this.visible.checked));
    this.opacity.addEventListener("input", () =>
      this.overlay.setOpacity(Number(this.opacity.value) / 100),
    );
    this.threshold.addEventListener("input", () => {
      this.showThreshold();
      if (this.shown) saveNumber(`threshold:${this.shown.id}`, Number(this.threshold.value));
      this.updateExports();
      this.scheduleRedraw();
    });
    this.mode.addEventListener("change", () => {
      this.renderLegend();
      this.scheduleRedraw();
    });
    this.overlay.setOpacity(Number(this.opacity.value) / 100);
    this.state = state;
  }

  private state: DOMStringMap | null = null;

  private showThreshold(): void {
    this.thresholdText.textContent = `${this.threshold.value} %`;
    if (this.state) this.state.threshold = String(this.currentThreshold());
  }

  /** The result on screen, or null. */
  get current(): ResultInfo | null {
    return this.shown;
  }

  /** Show `result` (completed) as the overlay with its legend, areas and exports. */
  async show(result: ResultInfo): Promise<void> {
    this.shown = { ...result, id: String(result.id) };
    this.ppKey = (result as { postprocessing_key?: string | null }).postprocessing_key ?? "";
    // Each result keeps the threshold last chosen for it (across reloads too).
    this.threshold.value = String(loadNumber(`threshold:${this.shown.id}`, 0));
    this.showThreshold();
    this.mode.replaceChildren(
      h("option", { value: "classes" }, "Classes"),
      ...result.classes.map((c) =>
        h("option", { value: `heatmap:${c.index}` }, `Heat map: ${c.name}`),
      ),
      h("option", { value: "uncertainty" }, "Uncertainty"),
    );
    this.element.hidden = false;
    this.warnings.replaceChildren(...(result.warnings ?? []).map((w) => h("div", {}, w)));
    this.renderLegend();
    this.updateExports();
    await this.overlay.show(this.shown.id, this.params());
    void this.refreshStats();
  }

  /** Take the result off the screen. */
  clear(): void {
    this.overlay.clear();
    this.objects.clear();
    this.shown = null;
    this.element.hidden = true;
  }

  /** The threshold the overlay is drawn at, 0..1. */
  shownThreshold(): number {
    return this.currentThreshold();
  }

  private currentThreshold(): number {
    return thresholdFromPercent(Number(this.threshold.value));
  }

  /** After the steps of app `appId` were saved: redraw, recount if its result is shown. */
  postprocessingChanged(appId: string, key: string): void {
    if (!this.shown || String(this.shown.app_id) !== String(appId)) return;
    this.ppKey = key;
    this.overlay.update(this.params());
    void this.refreshStats();
  }

  private params(): OverlayParams {
    const pp = this.ppKey || undefined;
    return { ...this.modeParams(), ...(pp ? { pp } : {}) };
  }

  private modeParams(): OverlayParams {
    const value = this.mode.value;
    if (value === "uncertainty") return { threshold: this.currentThreshold(), mode: "uncertainty" };
    if (value.startsWith("heatmap:")) {
      return {
        threshold: this.currentThreshold(),
        mode: "heatmap",
        classIndex: Number(value.slice(8)),
      };
    }
    return { threshold: this.currentThreshold(), mode: "classes" };
  }

  private renderLegend(): void {
    if (!this.shown) return;
    const params = this.params();
    const cls = this.shown.classes.find((c) => c.index === params.classIndex);
    if (params.mode === "uncertainty") {
      this.legend.replaceChildren(uncertaintyLegend(this.shown.uncertainty_colors ?? []));
      return;
    }
    this.legend.replaceChildren(
      params.mode === "heatmap" && cls ? heatmapLegend(cls) : classLegend(this.shown.classes),
    );
  }

  private updateExports(): void {
    if (!this.shown) return;
    for (const [kind, link] of this.exports)
      link.href = exportUrl(this.shown.id, kind, this.currentThreshold());
    this.objectExports.update(this.shown.id, this.currentThreshold(), this.exports.get("tiff"));
  }

  private scheduleRedraw(): void {
    if (this.redrawTimer !== null) window.clearTimeout(this.redrawTimer);
    this.redrawTimer = window.setTimeout(() => {
      this.redrawTimer = null;
      this.overlay.update(this.params());
      void this.refreshStats();
    }, REDRAW_DELAY_MS);
  }

  private async refreshStats(): Promise<void> {
    if (!this.shown) return;
    this.statsRequest?.abort();
    const request = new AbortController();
    this.statsRequest = request;
    const threshold = this.currentThreshold();
    const resultId = this.shown.id;
    this.objects.load(resultId, threshold);
    try {
      const response = await fetch(statsUrl(resultId, threshold), {
        credentials: "same-origin",
        signal: request.signal,
      });
      const body = (await response.json()) as ResultStats & { error?: string; hint?: string };
      if (!response.ok)
        throw new ApiError(
          body.error ?? "Could not compute the areas.",
          response.status,
          body.hint,
        );
      const uncertainty = uncertaintySummary(body.uncertainty);
      this.stats.replaceChildren(statsTable(body), ...(uncertainty ? [uncertainty] : []));
      this.stats.dataset.threshold = String(threshold);
      this.stats.dataset.result = resultId;
    } catch (error) {
      if ((error as Error).name !== "AbortError") showError(error);
    }
  }
}
