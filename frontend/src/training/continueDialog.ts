// The Continue dialog: says what continuing the shown run will do (from which checkpoint, to
// which iteration, at which learning rate) and lets the user change what may change.

import { h } from "../core/dom";
import type { Run } from "./types";

export interface ContinueChoice {
  /** Iterations to train from the checkpoint. */
  iterations: number;
  learning_rate: number;
}

/** Where a continued run starts: its last checkpoint (the iteration it stopped at, else 0). */
export function continueStart(run: Run): number {
  return Math.max(0, run.checkpoint_iteration ?? run.iteration ?? 0);
}

/** The iterations Continue offers: what is left of the plan, else as many as the run had. */
export function defaultExtra(run: Run): number {
  const start = continueStart(run);
  const planned = run.iterations ?? (Number(run.settings.iterations) || 0);
  if (planned > start) return planned - start;
  const original = Number(run.settings.iterations);
  return original > 0 ? Math.round(original) : 100;
}

/** "Trains iterations 121–300 from the checkpoint at iteration 120, learning rate 0.001." */
export function continueSummary(run: Run, extra: number, lr: number): string {
  const start = continueStart(run);
  const lrText = Number.isFinite(lr) && lr > 0 ? String(lr) : "—";
  if (!(extra >= 1)) return "Enter how many iterations to train.";
  return (
    `Trains iterations ${start + 1}–${start + Math.round(extra)} from the checkpoint at ` +
    `iteration ${start}, learning rate ${lrText}; the run's other settings stay as they were. ` +
    "A new app is made when it stops or completes."
  );
}

/** Ask how to continue `run`; resolves with the choice, or null when cancelled. */
export function askContinue(run: Run, runName: string): Promise<ContinueChoice | null> {
  return new Promise((resolve) => {
    const iterations = h("input", {
      type: "number",
      min: "1",
      step: "1",
      name: "continue_iterations",
      class: "tr-continue-iterations",
    });
    iterations.value = String(defaultExtra(run));
    const lr = h("input", {
      type: "number",
      min: "0",
      step: "any",
      name: "continue_learning_rate",
      class: "tr-continue-lr",
    });
    lr.value = String(run.settings.learning_rate ?? 0.001);
    const summary = h("p", { class: "tr-continue-summary", role: "status" });
    const error = h("div", { class: "tr-dialog-error", role: "alert" });
    const ok = h("button", { type: "button", class: "primary tr-continue-ok" }, "Continue");
    const cancel = h("button", { type: "button", class: "tr-continue-cancel" }, "Cancel");
    const state = run.state === "completed" ? "completed" : `${run.state} at`;
    const dialog = h(
      "dialog",
      { class: "tr-dialog tr-continue-dialog", "aria-label": "Continue training" },
      h("h3", {}, "Continue training"),
      h(
        "p",
        { class: "tr-continue-what" },
        `${runName}: ${state} iteration ${run.iteration}${run.iterations ? ` of ${run.iterations}` : ""}.`,
      ),
      h(
        "label",
        { class: "tr-row", "data-field": "iterations" },
        h("span", { class: "tr-row-label" }, "Iterations to add"),
        iterations,
      ),
      h(
        "label",
        { class: "tr-row", "data-field": "learning_rate" },
        h("span", { class: "tr-row-label" }, "Learning rate"),
        lr,
      ),
      summary,
      error,
      h("div", { class: "tr-dialog-buttons" }, cancel, ok),
    );
    const update = () => {
      summary.textContent = continueSummary(run, Number(iterations.value), Number(lr.value));
    };
    const finish = (choice: ContinueChoice | null) => {
      dialog.close();
      dialog.remove();
      resolve(choice);
    };
    iterations.addEventListener("input", update);
    lr.addEventListener("input", update);
    ok.addEventListener("click", () => {
      const n = Number(iterations.value);
      const rate = Number(lr.value);
      if (!Number.isInteger(n) || n < 1) error.textContent = "Iterations: a whole number ≥ 1.";
      else if (!(rate > 0 && rate <= 1)) error.textContent = "Learning rate: above 0, at most 1.";
      else finish({ iterations: n, learning_rate: rate });
    });
    cancel.addEventListener("click", () => finish(null));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(null);
    });
    update();
    document.body.appendChild(dialog);
    dialog.showModal();
    iterations.focus();
  });
}
