// What to train on: which slides (the open one by default) and which classes (those with
// labels by default).

import { getJson } from "../core/api";
import type { AppContext, LabelClass, SlideSummary } from "../core/app";
import { h } from "../core/dom";
import { labelledFromSummary, type AnnotationSummary } from "./labelled";

export class TargetPicker {
  readonly element: HTMLElement;
  private readonly slideBox: HTMLElement;
  private readonly classBox: HTMLElement;
  private readonly slideSummary: HTMLElement;
  private readonly classSummary: HTMLElement;
  private slides: SlideSummary[] = [];
  private chosenSlides = new Set<string>();
  private chosenClasses = new Set<number>();
  private slidesTouched = false;
  private classesTouched = false;
  private labelled: Set<number> | null = null;

  constructor(private readonly app: AppContext) {
    this.slideSummary = h("summary", {});
    this.classSummary = h("summary", {});
    this.slideBox = h("div", { class: "tr-checklist tr-slides" });
    this.classBox = h("div", { class: "tr-checklist tr-classes" });
    this.element = h(
      "div",
      { class: "tr-targets" },
      h("details", { class: "tr-slides-picker" }, this.slideSummary, this.slideBox),
      h("details", { class: "tr-classes-picker" }, this.classSummary, this.classBox),
    );
    app.bus.on("slide:opened", (slide) => {
      if (!this.slidesTouched) this.chosenSlides = new Set([slide.id]);
      void this.refreshSlides();
    });
    app.bus.on("classes:changed", () => void this.refreshLabelled());
    app.bus.on("annotations:changed", ({ slideId }) => {
      if (this.chosenSlides.has(slideId)) void this.refreshLabelled();
    });
    const current = app.currentSlide();
    if (current) this.chosenSlides.add(current.id);
    void this.refreshSlides();
  }

  /** Slide ids to train on. */
  slideIds(): string[] {
    return [...this.chosenSlides];
  }

  /** Class ids to train on. */
  classIds(): number[] {
    return this.app
      .classes()
      .filter((c) => this.chosenClasses.has(c.id))
      .map((c) => c.id);
  }

  /** The chosen classes, in display order. */
  chosen(): LabelClass[] {
    return this.app.classes().filter((c) => this.chosenClasses.has(c.id));
  }

  /** Reload the slide list (readable slides only). */
  async refreshSlides(): Promise<void> {
    try {
      this.slides = (await getJson<SlideSummary[]>("/api/slides")).filter((s) => s.readable);
    } catch {
      this.slides = [];
    }
    this.renderSlides();
    await this.refreshLabelled();
  }

  /** Find which classes have labels on the chosen slides, and pre-select them. */
  async refreshLabelled(): Promise<void> {
    const found = new Set<number>();
    try {
      for (const id of this.chosenSlides) {
        const summary = await getJson<AnnotationSummary>(
          `/api/slides/${encodeURIComponent(id)}/annotations/summary`,
        );
        for (const cid of labelledFromSummary(summary)) found.add(cid);
      }
      this.labelled = found;
    } catch {
      this.labelled = null;
    }
    if (!this.classesTouched) {
      const all = this.app.classes().map((c) => c.id);
      this.chosenClasses = new Set(
        this.labelled && this.labelled.size ? all.filter((id) => this.labelled!.has(id)) : all,
      );
    }
    this.renderClasses();
  }

  private renderSlides(): void {
    this.slideBox.replaceChildren(
      ...this.slides.map((slide) => {
        const box = h("input", { type: "checkbox", value: slide.id });
        box.checked = this.chosenSlides.has(slide.id);
        box.addEventListener("change", () => {
          this.slidesTouched = true;
          if (box.checked) this.chosenSlides.add(slide.id);
          else this.chosenSlides.delete(slide.id);
          this.renderSummary();
          void this.refreshLabelled();
        });
        return h("label", { class: "tr-check" }, box, slide.name);
      }),
    );
    this.renderSummary();
  }

  private renderClasses(): void {
    this.classBox.replaceChildren(
      ...this.app.classes().map((cls) => {
        const box = h("input", { type: "checkbox", value: String(cls.id) });
        box.checked = this.chosenClasses.has(cls.id);
        box.addEventListener("change", () => {
          this.classesTouched = true;
          if (box.checked) this.chosenClasses.add(cls.id);
          else this.chosenClasses.delete(cls.id);
          this.renderSummary();
        });
        const unlabelled =
          this.labelled && !this.labelled.has(cls.id) ? h("small", {}, " (no labels)") : null;
        return h(
          "label",
          { class: "tr-check" },
          box,
          h("i", { class: "tr-swatch", style: `background:${cls.color}` }),
          cls.name,
          unlabelled,
        );
      }),
    );
    this.renderSummary();
  }

  private renderSummary(): void {
    const current = this.app.currentSlide();
    const n = this.chosenSlides.size;
    this.slideSummary.textContent =
      n === 1 && current && this.chosenSlides.has(current.id)
        ? "Slides: the open slide"
        : `Slides: ${n} chosen`;
    const classes = this.chosen();
    this.classSummary.textContent = classes.length
      ? `Classes: ${classes.map((c) => c.name).join(", ")}`
      : "Classes: none chosen";
  }
}
