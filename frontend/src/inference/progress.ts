// Progress of a queue of inference results: a bar, ETA, cancel.

import { formatEta } from "../core/format";
import { h } from "../core/dom";

/** Overall fraction 0..1 of a queue where `done` items finished and the next is at `current`. */
export function queueProgress(done: number, total: number, current: number): number {
  if (total <= 0) return 0;
  const clamped = Math.min(Math.max(current, 0), 1);
  return Math.min(1, (Math.min(done, total) + (done < total ? clamped : 0)) / total);
}

export class ProgressView {
  readonly element: HTMLElement;
  readonly cancel: HTMLButtonElement;
  private readonly bar = h("progress", { class: "inf-progress-bar", max: "1" });
  private readonly text = h("span", { class: "inf-progress-text" });

  constructor() {
    this.cancel = h("button", { type: "button", class: "inf-cancel" }, "Cancel");
    this.element = h(
      "div",
      { class: "inf-progress", hidden: true },
      this.bar,
      this.text,
      this.cancel,
    );
  }

  /** Show `fraction` done with an ETA; `label` names the item ("slide 2 of 3"). */
  show(fraction: number, etaS: number | null | undefined, label = ""): void {
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
