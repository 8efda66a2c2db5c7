// A run's figures (final value, validation) and how they read, in the training panel, the app
// card and the chart alike.
//
// The numbers come from the server (server/training/figures.py defines them once); these
// functions only say them, the same way everywhere.

import { h } from "./dom";
import { formatMetric, type Metric } from "./format";

/**
 * The final value of a run (server/training/figures.py, one definition everywhere): mean
 * loss and error rate over the last `over` iterations up to `iteration`, the raw values of
 * that last iteration, and the last validation measurement.
 */
export interface FinalValues {
  loss: number;
  error_rate: number;
  iteration: number;
  over: number;
  last_loss: number;
  last_error_rate: number;
  val_loss?: number | null;
  val_error_rate?: number | null;
  val_iteration?: number | null;
}

/** Per-class figures of a validation measurement (null where they would divide by 0). */
export interface ClassValidation {
  id: number | null;
  name?: string | null;
  iou: number | null;
  dice: number | null;
  precision: number | null;
  recall: number | null;
  pixels?: number;
}

/** A validation measurement of the weights an app keeps. */
export interface Validation {
  iteration: number;
  loss: number;
  error_rate: number;
  classes: ClassValidation[];
  /** Held-out pixels: row = true class, column = predicted class (model channel order). */
  confusion: number[][];
}

/** The definition in words, for tooltips. */
export const FINAL_DEFINITION =
  "Final value: the mean over the last iterations (10 % of the run, at least 10, at most 100), " +
  "so one noisy step does not decide it; the last iteration's raw value is beside it.";

/** "mean of last 30 it." */
export function windowText(final: FinalValues): string {
  return `mean of last ${final.over} it.`;
}

/** "0.1234" or "2.1 %": the final value of one metric. */
export function finalMetric(final: FinalValues, metric: Metric): string {
  return formatMetric(metric, final[metric]);
}

/** "loss 0.1234 · error 2.1 % (mean of last 30 it.; last 0.1180 · 1.9 %)". */
export function finalText(final: FinalValues): string {
  const last = `last ${formatMetric("loss", final.last_loss)} · ${formatMetric("error_rate", final.last_error_rate)}`;
  return (
    `loss ${finalMetric(final, "loss")} · error ${finalMetric(final, "error_rate")}` +
    ` (${windowText(final)}; ${last})`
  );
}

/** The chart legend's label of the final-value line: "final 0.1234 (mean of last 30 it.)". */
export function finalLegend(final: FinalValues | null | undefined, metric: Metric): string {
  return final ? `final ${finalMetric(final, metric)} (${windowText(final)})` : "final";
}

/** An element showing the final value, with the numbers also as data attributes. */
export function finalElement(final: FinalValues, prefix: string, className: string): HTMLElement {
  return h(
    "span",
    {
      class: className,
      title: FINAL_DEFINITION,
      "data-loss": finalMetric(final, "loss"),
      "data-error-rate": finalMetric(final, "error_rate"),
      "data-over": String(final.over),
      "data-iteration": String(final.iteration),
    },
    `${prefix}${finalText(final)}`,
  );
}

/** "iteration 50 (best validation)" / "iteration 60 (the last)". */
export function weightsText(
  fromIteration: number,
  lastIteration: number | null | undefined,
  validated: boolean,
): string {
  if (lastIteration !== null && lastIteration !== undefined && fromIteration === lastIteration) {
    return `iteration ${fromIteration} (the last)`;
  }
  return `iteration ${fromIteration}${validated ? " (best validation)" : ""}`;
}

function share(value: number | null): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(3);
}

interface ClassLook {
  name: string;
  color?: string;
}

/**
 * The per-class table (IoU, Dice, precision, recall) and the confusion matrix of a validation
 * measurement; `classes` names the model's channels in order.
 */
export function validationTables(validation: Validation, classes: ClassLook[]): HTMLElement {
  const name = (i: number) => classes[i]?.name ?? validation.classes[i]?.name ?? `class ${i + 1}`;
  const swatch = (i: number) =>
    classes[i]?.color
      ? h("i", { class: "tr-swatch", style: `background:${classes[i].color}` })
      : "";
  const perClass = h(
    "table",
    { class: "tr-val-classes" },
    h(
      "caption",
      {},
      `Validation at iteration ${validation.iteration}: loss ${formatMetric("loss", validation.loss)}, error ${formatMetric("error_rate", validation.error_rate)}`,
    ),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "class"),
        h("th", {}, "IoU"),
        h("th", {}, "Dice"),
        h("th", {}, "precision"),
        h("th", {}, "recall"),
      ),
    ),
    h(
      "tbody",
      {},
      ...validation.classes.map((c, i) =>
        h(
          "tr",
          { "data-class-id": String(c.id ?? "") },
          h("th", {}, swatch(i), name(i)),
          h("td", {}, share(c.iou)),
          h("td", {}, share(c.dice)),
          h("td", {}, share(c.precision)),
          h("td", {}, share(c.recall)),
        ),
      ),
    ),
  );
  const n = validation.confusion.length;
  const confusion = h(
    "table",
    { class: "tr-confusion" },
    h("caption", {}, "Confusion (held-out pixels): rows true class, columns predicted"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "true \\ predicted"),
        ...Array.from({ length: n }, (_, j) => h("th", {}, name(j))),
      ),
    ),
    h(
      "tbody",
      {},
      ...validation.confusion.map((row, i) =>
        h(
          "tr",
          {},
          h("th", {}, swatch(i), name(i)),
          ...row.map((v, j) => h("td", { class: i === j ? "tr-diag" : null }, String(v))),
        ),
      ),
    ),
  );
  return h("div", { class: "tr-validation-tables" }, perClass, confusion);
}
