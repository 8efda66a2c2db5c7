// "Apply to": the current view, a drawn ROI, the whole slide (tissue only or everything)
// or a list of slides; builds the inference request.

import { getJson } from "../core/api";
import type { AppContext, SlideSummary } from "../core/app";
import { h } from "../core/dom";
import { formatBoxSize } from "../core/format";
import { visibleBox } from "../core/geometry";
import { loadNumber, saveNumber } from "../core/prefs";
import { buildRegion, DEFAULT_TISSUE_SENSITIVITY, type RegionChoice } from "./region";

export interface ApplyRequest {
  body: Record<string, unknown>;
  slideIds: string[];
  slideNames: string[];
}

export class ApplyForm {
  readonly element: HTMLElement;
  readonly button = h("button", { type: "button", class: "inf-apply primary" }, "Apply");
  private readonly choice = new Map<RegionChoice, HTMLInputElement>();
  private readonly roiSelect = h("select", {
    class: "inf-roi",
    "aria-label": "Region of interest",
  });
  private readonly tissueOnly = h("input", {
    type: "checkbox",
    class: "inf-tissue-only",
    checked: true,
  });
  private readonly slideList = h("div", { class: "inf-slide-list" });
  private readonly slideNames = new Map<string, string>();
  /** Lay the detected tissue over the slide (tuned by the sensitivity slider). */
  private readonly showTissue = h("input", {
    type: "checkbox",
    class: "inf-show-tissue",
    "data-testid": "show-tissue",
  });
  private readonly sensitivity = h("input", {
    type: "range",
    min: "0",
    max: "100",
    step: "5",
    value: String(Math.round(loadNumber("tissue-sensitivity", DEFAULT_TISSUE_SENSITIVITY) * 100)),
    class: "inf-tissue-sensitivity",
    "aria-label": "Tissue detection sensitivity",
    title: "Higher takes in fainter, thinner tissue; lower only clearly stained tissue",
    "data-testid": "tissue-sensitivity",
  });
  private readonly sensitivityText = h("output", { class: "inf-tissue-sensitivity-value" });

  constructor(private readonly app: AppContext) {
    const radio = (value: RegionChoice, text: string, extra?: HTMLElement) => {
      const input = h("input", {
        type: "radio",
        name: "inf-region",
        value,
        checked: value === "view",
      });
      this.choice.set(value, input);
      return h("label", { class: "inf-choice" }, input, ` ${text} `, extra);
    };
    this.element = h(
      "fieldset",
      { class: "inf-apply-box" },
      h("legend", {}, "Apply to"),
      radio("view", "current view"),
      radio("roi", "region of interest", this.roiSelect),
      radio("slide", "whole slide"),
      radio(
        "slides",
        "several slides",
        h("details", {}, h("summary", {}, "choose"), this.slideList),
      ),
      h(
        "label",
        { class: "inf-choice inf-sub" },
        this.tissueOnly,
        " tissue only (whole-slide choices)",
      ),
      h(
        "div",
        { class: "inf-row inf-sub inf-tissue-box" },
        h("label", { class: "inf-inline" }, this.showTissue, " show tissue"),
        h("label", { class: "inf-inline" }, "sensitivity ", this.sensitivity),
        this.sensitivityText,
      ),
      h("div", { class: "inf-row" }, this.button),
    );
    app.bus.on("annotations:changed", ({ slideId }) => {
      if (slideId === app.currentSlide()?.id) this.renderRois();
    });
    app.bus.on("slide:opened", () => this.renderRois());
    this.bindTissue();
    this.renderRois();
    void this.loadSlides();
  }

  /** The tissue detection's sensitivity as chosen, 0–1. */
  private sensitivityValue(): number {
    return Number(this.sensitivity.value) / 100;
  }

  private bindTissue(): void {
    const update = () => {
      const enabled = this.tissueOnly.checked;
      this.showTissue.disabled = this.sensitivity.disabled = !enabled;
      this.sensitivityText.textContent = `${this.sensitivity.value} %`;
      const shown = enabled && this.showTissue.checked;
      this.app.bus.emit("tissue:preview", { sensitivity: shown ? this.sensitivityValue() : null });
    };
    this.showTissue.addEventListener("change", update);
    this.tissueOnly.addEventListener("change", update);
    this.sensitivity.addEventListener("input", () => {
      saveNumber("tissue-sensitivity", this.sensitivityValue());
      update();
    });
    this.sensitivityText.textContent = `${this.sensitivity.value} %`;
  }

  private async loadSlides(): Promise<void> {
    let slides: SlideSummary[];
    try {
      slides = (await getJson<SlideSummary[]>("/api/slides")).filter((s) => s.readable);
    } catch {
      slides = [];
    }
    for (const s of slides) this.slideNames.set(s.id, s.name);
    this.slideList.replaceChildren(
      ...slides.map((s) =>
        h(
          "label",
          { class: "inf-check" },
          h("input", { type: "checkbox", value: s.id }),
          ` ${s.name}`,
        ),
      ),
    );
  }

  private renderRois(): void {
    const rois = this.app.rois();
    const mpp = this.app.currentSlide()?.mpp ?? null;
    const previous = this.roiSelect.value;
    this.roiSelect.replaceChildren(
      ...(rois.length
        ? rois.map((r, i) =>
            h(
              "option",
              { value: String(r.id) },
              `ROI ${i + 1} (${formatBoxSize(r.bbox[2], r.bbox[3], mpp)})`,
            ),
          )
        : [h("option", { value: "" }, "none drawn")]),
    );
    if (rois.some((r) => String(r.id) === previous)) this.roiSelect.value = previous;
  }

  /** The ROI chosen under "region of interest" when that is the choice, else null. */
  chosenRoi(): number | null {
    if (this.chosen() !== "roi" || !this.roiSelect.value) return null;
    return Number(this.roiSelect.value);
  }

  private chosen(): RegionChoice {
    for (const [value, input] of this.choice) if (input.checked) return value;
    return "view";
  }

  /** The inference request for `appId` as chosen, or a message saying what is missing. */
  request(appId: string): ApplyRequest | { error: string } {
    const choice = this.chosen();
    const built = buildRegion({
      choice,
      tissueOnly: this.tissueOnly.checked,
      sensitivity: this.sensitivityValue(),
      roiId: this.roiSelect.value,
      bbox: choice === "view" ? visibleBox(this.app) : null,
    });
    if ("error" in built) return built;
    if (choice === "slides") {
      const slideIds = [...this.slideList.querySelectorAll<HTMLInputElement>("input:checked")].map(
        (i) => i.value,
      );
      if (!slideIds.length) return { error: "Tick the slides to apply the app to." };
      const slideNames = slideIds.map((id) => this.slideNames.get(id) ?? id);
      const body = { app_id: appId, slide_ids: slideIds, region: built.region };
      return { body, slideIds, slideNames };
    }
    const current = this.app.currentSlide();
    if (!current) return { error: "Open a slide first." };
    return {
      body: { app_id: appId, slide_id: current.id, region: built.region },
      slideIds: [current.id],
      slideNames: [current.name],
    };
  }
}
