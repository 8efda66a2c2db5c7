// "Apply to": the current view, a drawn ROI, the whole slide (tissue only or everything)
// or a list of slides; builds the inference request.

import { getJson } from "../core/api";
import type { AppContext, SlideSummary } from "../core/app";
import { h } from "../core/dom";
import { formatBoxSize } from "../core/format";
import { visibleBox } from "../core/geometry";
import { buildRegion, type RegionChoice } from "./region";

export interface ApplyRequest {
  body: Record<string, unknown>;
  slideIds: string[];
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
      h("div", { class: "inf-row" }, this.button),
    );
    app.bus.on("annotations:changed", ({ slideId }) => {
      if (slideId === app.currentSlide()?.id) this.renderRois();
    });
    app.bus.on("slide:opened", () => this.renderRois());
    this.renderRois();
    void this.loadSlides();
  }

  private async loadSlides(): Promise<void> {
    let slides: SlideSummary[];
    try {
      slides = (await getJson<SlideSummary[]>("/api/slides")).filter((s) => s.readable);
    } catch {
      slides = [];
    }
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
      roiId: this.roiSelect.value,
      bbox: choice === "view" ? visibleBox(this.app) : null,
    });
    if ("error" in built) return built;
    if (choice === "slides") {
      const slideIds = [...this.slideList.querySelectorAll<HTMLInputElement>("input:checked")].map(
        (i) => i.value,
      );
      if (!slideIds.length) return { error: "Tick the slides to apply the app to." };
      return { body: { app_id: appId, slide_ids: slideIds, region: built.region }, slideIds };
    }
    const current = this.app.currentSlide();
    if (!current) return { error: "Open a slide first." };
    return {
      body: { app_id: appId, slide_id: current.id, region: built.region },
      slideIds: [current.id],
    };
  }
}
