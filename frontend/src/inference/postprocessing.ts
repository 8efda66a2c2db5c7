// An app's post-processing steps (issue 13, contract v2): their shapes, the editor's state
// (add, remove, move), what each step does in plain words, and the server's field errors
// matched back to the step and field they name. No DOM here: see postprocessingEditor.ts.

import { formatNumber } from "../core/format";
import type { AppClass } from "./types";

export type StepOp = "remove_small_objects" | "fill_holes" | "open" | "close" | "relabel";
export type Measure = "area_um2" | "perimeter_um" | "eccentricity" | "form_factor";

/** A number field the user may have left empty (null) while editing. */
type Num = number | null;

export interface RemoveSmallStep {
  op: "remove_small_objects";
  class_id: number;
  min_area_um2: Num;
}
export interface FillHolesStep {
  op: "fill_holes";
  class_id: number;
  max_area_um2: Num;
}
export interface MorphologyStep {
  op: "open" | "close";
  class_id: number;
  radius_um: Num;
}
export interface RelabelStep {
  op: "relabel";
  class_id: number;
  /** null: the objects become unclassified. */
  to_class_id: number | null;
  /** [min, max] per measure; a missing bound is open. */
  where: Partial<Record<Measure, [Num, Num]>>;
}
export type PostStep = RemoveSmallStep | FillHolesStep | MorphologyStep | RelabelStep;

/** The server's limit on the number of steps. */
export const MAX_STEPS = 20;
/** The upper bound sent for an open-ended area or perimeter range ("at least 50 µm²"). */
export const OPEN_MAX = 1e12;

/** The five operations, as the add menu offers them. */
export const OPS: { op: StepOp; label: string }[] = [
  { op: "remove_small_objects", label: "Remove small objects" },
  { op: "fill_holes", label: "Fill holes" },
  { op: "open", label: "Open (smooth away thin parts)" },
  { op: "close", label: "Close (bridge narrow gaps)" },
  { op: "relabel", label: "Change the class of objects by size or shape" },
];

/** The measures a relabel step can test, named in plain words with their unit. */
export const MEASURES: { key: Measure; label: string; unit: string; unitRange: boolean }[] = [
  { key: "area_um2", label: "area", unit: "µm²", unitRange: false },
  { key: "perimeter_um", label: "perimeter", unit: "µm", unitRange: false },
  { key: "eccentricity", label: "eccentricity", unit: "0–1", unitRange: true },
  { key: "form_factor", label: "form factor", unit: "0–1", unitRange: true },
];

/** The id steps name a class by: its id, or its index where the app records none. */
export function classIdOf(cls: Pick<AppClass, "id" | "index">): number {
  return cls.id ?? cls.index;
}

/** The class name for an id in a step ("class 7" when the app has no such class). */
export function className(classes: AppClass[], id: number | null): string {
  if (id === null) return "unclassified";
  return classes.find((c) => classIdOf(c) === id)?.name ?? `class ${id}`;
}

/** A new step of `op` for the first class, with a sensible starting value. */
export function newStep(op: StepOp, classes: AppClass[]): PostStep {
  const classId = classes.length ? classIdOf(classes[0]) : 0;
  switch (op) {
    case "remove_small_objects":
      return { op, class_id: classId, min_area_um2: 50 };
    case "fill_holes":
      return { op, class_id: classId, max_area_um2: 50 };
    case "open":
    case "close":
      return { op, class_id: classId, radius_um: 2 };
    case "relabel":
      return { op, class_id: classId, to_class_id: null, where: { area_um2: [0, 50] } };
  }
}

/** The steps with `step` added at the end (unchanged at the limit). */
export function addStep(steps: PostStep[], step: PostStep): PostStep[] {
  return steps.length >= MAX_STEPS ? steps : [...steps, step];
}

/** The steps without the one at `index`. */
export function removeStep(steps: PostStep[], index: number): PostStep[] {
  return steps.filter((_, i) => i !== index);
}

/** The steps with the one at `index` moved by `delta` (−1 up, +1 down), kept in bounds. */
export function moveStep(steps: PostStep[], index: number, delta: number): PostStep[] {
  const to = index + delta;
  if (index < 0 || index >= steps.length || to < 0 || to >= steps.length) return steps;
  const out = [...steps];
  const [step] = out.splice(index, 1);
  out.splice(to, 0, step);
  return out;
}

/** The step with one field set (a number field, a class, or a relabel bound). */
export function setField(step: PostStep, field: string, value: number | null): PostStep {
  if (field.startsWith("where.")) {
    if (step.op !== "relabel") return step;
    const [, measure, bound] = field.split(".") as [string, Measure, "min" | "max"];
    const range: [Num, Num] = [...(step.where[measure] ?? [null, null])];
    range[bound === "min" ? 0 : 1] = value;
    return { ...step, where: { ...step.where, [measure]: range } };
  }
  return { ...step, [field]: value } as PostStep;
}

function range(step: RelabelStep, measure: Measure): [Num, Num] | null {
  const bounds = step.where[measure];
  if (!bounds || (bounds[0] === null && bounds[1] === null)) return null;
  return bounds;
}

/** The steps as PATCH sends them: empty relabel ranges dropped, open bounds closed
 * (min 0; max 1 for 0–1 measures, else OPEN_MAX). Empty numbers stay null for the server
 * to name. */
export function stepsForSave(steps: PostStep[]): PostStep[] {
  return steps.map((step) => {
    if (step.op !== "relabel") return { ...step };
    const where: RelabelStep["where"] = {};
    for (const m of MEASURES) {
      const bounds = range(step, m.key);
      if (bounds) where[m.key] = [bounds[0] ?? 0, bounds[1] ?? (m.unitRange ? 1 : OPEN_MAX)];
    }
    return { ...step, where };
  });
}

/** Steps from the server as the editor holds them (an OPEN_MAX bound shown as empty). */
export function stepsForEditing(steps: PostStep[] | null | undefined): PostStep[] {
  return (steps ?? []).map((step) => {
    if (step.op !== "relabel") return { ...step };
    const where: RelabelStep["where"] = {};
    for (const [key, bounds] of Object.entries(step.where ?? {}) as [Measure, [Num, Num]][]) {
      where[key] = [bounds[0], bounds[1] !== null && bounds[1] >= OPEN_MAX ? null : bounds[1]];
    }
    return { ...step, where };
  });
}

/** Whether two lists of steps save the same. */
export function sameSteps(a: PostStep[], b: PostStep[]): boolean {
  return JSON.stringify(stepsForSave(a)) === JSON.stringify(stepsForSave(b));
}

function num(value: Num): string {
  return value === null || !Number.isFinite(value) ? "?" : formatNumber(value, 4);
}

function rangeText(measure: (typeof MEASURES)[number], bounds: [Num, Num]): string {
  const unit = measure.unitRange ? "" : ` ${measure.unit}`;
  const [low, high] = bounds;
  const openHigh = high === null || high >= OPEN_MAX || (measure.unitRange && high >= 1);
  const openLow = low === null || low <= 0;
  if (openLow && openHigh) return `any ${measure.label}`;
  if (openHigh) return `${measure.label} at least ${num(low)}${unit}`;
  if (openLow) return `${measure.label} up to ${num(high)}${unit}`;
  return `${measure.label} ${num(low)}–${num(high)}${unit}`;
}

/** What a step does, in one plain sentence ("Remove Tumour objects smaller than 50 µm²"). */
export function stepSummary(step: PostStep, classes: AppClass[]): string {
  const cls = className(classes, step.class_id);
  switch (step.op) {
    case "remove_small_objects":
      return `Remove ${cls} objects smaller than ${num(step.min_area_um2)} µm²`;
    case "fill_holes":
      return `Fill holes in ${cls} up to ${num(step.max_area_um2)} µm²`;
    case "open":
      return `Open ${cls} with a ${num(step.radius_um)} µm radius: parts thinner than ${num(
        step.radius_um === null ? null : 2 * step.radius_um,
      )} µm go`;
    case "close":
      return `Close ${cls} with a ${num(step.radius_um)} µm radius: gaps narrower than ${num(
        step.radius_um === null ? null : 2 * step.radius_um,
      )} µm fill`;
    case "relabel": {
      const conditions = MEASURES.flatMap((m) => {
        const bounds = range(step, m.key);
        return bounds ? [rangeText(m, bounds)] : [];
      });
      const test = conditions.length ? ` with ${conditions.join(" and ")}` : "";
      return `Change ${cls} objects${test} to ${className(classes, step.to_class_id)}`;
    }
  }
}

const FIELD_WORDS: Record<string, string> = {
  min_area_um2: "the minimum area",
  max_area_um2: "the maximum hole area",
  radius_um: "the radius",
  class_id: "the class",
  to_class_id: "the new class",
};

/** A server message with its field keys said in words ("radius_um must not be negative" →
 * "the radius must not be negative"); the rest of the text as the server wrote it. */
export function plainMessage(message: string): string {
  return message
    .replace(
      /\b(min_area_um2|max_area_um2|radius_um|to_class_id|class_id)\b/g,
      (key) => FIELD_WORDS[key],
    )
    .replace(/^the /, "The ");
}

/** Where a server field error points: `postprocessing[2].radius_um` → step 2, "radius_um";
 * `postprocessing` alone → step null (the whole list). */
export function parseFieldPath(path: string): { index: number | null; field: string } | null {
  if (path === "postprocessing") return { index: null, field: "" };
  const match = /^postprocessing\[(\d+)\](?:\.(.+))?$/.exec(path);
  if (!match) return null;
  return { index: Number(match[1]), field: match[2] ?? "" };
}

/** Server field errors grouped by step: index → field → message ("" is the step itself);
 * anything not about a step is under -1. */
export function groupFieldErrors(
  fields: Record<string, string> | null | undefined,
): Map<number, Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  for (const [path, message] of Object.entries(fields ?? {})) {
    const where = parseFieldPath(path);
    const index = where?.index ?? -1;
    const field = where?.field ?? "";
    const forStep = out.get(index) ?? new Map<string, string>();
    forStep.set(field, message);
    out.set(index, forStep);
  }
  return out;
}
