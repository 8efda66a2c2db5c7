// Progress of the inference results being computed: a bar, ETA, a line per slide, cancel.

import { formatEta } from "../core/format";
import { h } from "../core/dom";

/** One result of a request: its slide's name, state and fraction done. */
export interface SlideProgress {
  name: string;
  state: string;
  progress: number;
}

const FINISHED: Record<string, string> = {
  completed: "done",
  failed: "failed",
  cancelled: "cancelled",
};

/** Overall fraction 0..1 of results that may run side by side (on a cluster): the mean of
 * their fractions, a finished one counting whole. */
export function overallProgress(items: readonly SlideProgress[]): number {
  if (!items.length) return 0;
  const fraction = (i: SlideProgress) =>
    i.state in FINISHED ? 1 : Math.min(Math.max(i.progress, 0), 1);
  return items.reduce((sum, i) => sum + fraction(i), 0) / items.length;
}

/** A slide's line: "a.svs · 45 %", "a.svs · done", "a.svs · waiting". */
export function slideLine(item: SlideProgress): string {
  const status =
    FINISHED[item.state] ??
    (item.state === "running" ? `${Math.round(item.progress * 100)} %` : "waiting");
  return `${item.name} · ${status}`;
}

export class ProgressView {
  readonly element: HTMLElement;
  readonly cancel: HTMLButtonElement;
  private readonly bar = h("progress", { class: "inf-progress-bar", max: "1" });
  private readonly text = h("span", { class: "inf-progress-text" });
  private readonly slides = h("ul", { class: "inf-progress-slides" });

  constructor() {
    this.cancel = h("button", { type: "button", class: "inf-cancel" }, "Cancel");
    this.element = h(
      "div",
      { class: "inf-progress", hidden: true },
      this.bar,
      this.text,
      this.cancel,
      this.slides,
    );
  }

  /** Show `fraction` done with an ETA and a `label` ("1 of 3 slides done"); with several
   * `slides`, a line for each. */
  show(
    fraction: number,
    etaS: number | null | undefined,
    label = "",
    slides: readonly SlideProgress[] = [],
  ): void {
    this.slides.replaceChildren(
      ...(slides.length > 1
        ? slides.map((s) => h("li", { "data-state": s.state }, slideLine(s)))
        : []),
    );
    this.element.hidden = false;
    this.bar.value = fraction;
    this.element.dataset.progress = fraction.toFixed(3);
    const percent = `${Math.round(fraction * 100)} %`;
    this.text.textContent = [label, percent, `ETA ${formatEta(etaS)}`].filter(Boolean).join(" · ");
  }

  /** Hide the bar. */
  hide(): void {
    this.element.hidden = true;
  }
}
