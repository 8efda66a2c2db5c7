// The post-processing editor of the chosen app: its steps in order (add from a menu, remove,
// move up or down), each step's fields in µm and µm², a plain sentence per step, the
// server's messages beside the fields they name, and Save (PATCH /api/apps/<id>).

import { ApiError, sendJson } from "../core/api";
import type { AppContext } from "../core/app";
import { h } from "../core/dom";
import { showError } from "../core/toast";
import {
  MAX_STEPS,
  MEASURES,
  OPS,
  addStep,
  classIdOf,
  groupFieldErrors,
  moveStep,
  newStep,
  plainMessage,
  removeStep,
  sameSteps,
  setField,
  stepSummary,
  stepsForEditing,
  stepsForSave,
  type PostStep,
  type StepOp,
} from "./postprocessing";
import "./postprocessing.css";
import type { AppClass, AppInfo } from "./types";

/** An app as the API answers it once it carries post-processing. */
export type AppWithSteps = AppInfo & {
  postprocessing?: PostStep[] | null;
  postprocessing_key?: string | null;
};

const FIELD_LABELS: Record<string, [string, string]> = {
  min_area_um2: ["min. area", "µm²"],
  max_area_um2: ["max. hole area", "µm²"],
  radius_um: ["radius", "µm"],
};

export class PostprocessingEditor {
  readonly element = h("details", { class: "inf-pp", "data-testid": "postprocessing" });
  private app: AppWithSteps | null = null;
  private saved: PostStep[] = [];
  private steps: PostStep[] = [];
  private readonly title = h("span", { class: "inf-pp-title" }, "Post-processing");
  private readonly list = h("ol", { class: "inf-pp-steps" });
  private readonly empty = h(
    "div",
    { class: "inf-pp-empty" },
    "No steps: the result is shown as the model labels it.",
  );
  private readonly addMenu = h("select", { class: "inf-pp-add", "aria-label": "Add a step" });
  private readonly saveButton = h("button", { type: "button", class: "inf-pp-save" }, "Save");
  private readonly revertButton = h(
    "button",
    { type: "button", class: "inf-pp-revert" },
    "Undo changes",
  );
  private readonly status = h("span", { class: "inf-pp-status", role: "status" });
  private readonly errorBox = h("div", { class: "inf-pp-error-all", role: "alert", hidden: true });

  /** `onSaved` gets the app as saved (its new `postprocessing_key`). */
  constructor(
    private readonly context: AppContext,
    private readonly onSaved: (app: AppWithSteps) => void,
  ) {
    this.addMenu.append(
      h("option", { value: "" }, "+ Add a step…"),
      ...OPS.map((o) => h("option", { value: o.op }, o.label)),
    );
    this.addMenu.addEventListener("change", () => {
      const op = this.addMenu.value as StepOp | "";
      this.addMenu.value = "";
      if (op && this.app) this.change(addStep(this.steps, newStep(op, this.classes())), true);
    });
    this.saveButton.addEventListener("click", () => void this.save());
    this.revertButton.addEventListener("click", () => this.change(this.saved, true));
    this.element.append(
      h("summary", {}, this.title),
      h(
        "div",
        { class: "inf-pp-help" },
        "Clean up the labels of this app's results, in order. Overlay, areas, objects and exports all show the result after these steps.",
      ),
      this.empty,
      this.list,
      this.errorBox,
      h(
        "div",
        { class: "inf-pp-actions" },
        this.addMenu,
        this.saveButton,
        this.revertButton,
        this.status,
      ),
    );
    this.element.hidden = true;
    this.render();
  }

  /** Edit the steps of `app` (null hides the editor). Unsaved edits of the same app stay. */
  setApp(app: AppWithSteps | null): void {
    const same = !!app && !!this.app && app.id === this.app.id;
    const dirty = !sameSteps(this.steps, this.saved);
    this.app = app;
    this.saved = stepsForEditing(app?.postprocessing);
    if (!same || !dirty) this.steps = this.saved.map((s) => ({ ...s }));
    this.element.hidden = !app;
    this.clearErrors();
    this.render();
  }

  /** The steps as the editor holds them now (for tests and the panel). */
  current(): PostStep[] {
    return this.steps;
  }

  private classes(): AppClass[] {
    return this.app?.classes ?? [];
  }

  private change(steps: PostStep[], structural: boolean): void {
    this.steps = steps;
    this.status.textContent = "";
    if (structural) {
      this.clearErrors();
      this.render();
    } else this.updateState();
  }

  private updateState(): void {
    const dirty = !sameSteps(this.steps, this.saved);
    this.saveButton.disabled = !dirty || !this.app;
    this.revertButton.hidden = !dirty;
    this.addMenu.disabled = this.steps.length >= MAX_STEPS;
    this.element.dataset.dirty = String(dirty);
    this.element.dataset.steps = String(this.steps.length);
    const n = this.saved.length;
    this.title.textContent = `Post-processing (${n ? `${n} step${n > 1 ? "s" : ""}` : "none"}${dirty ? ", unsaved changes" : ""})`;
    this.empty.hidden = this.steps.length > 0;
    this.list.querySelectorAll<HTMLElement>(".inf-pp-step").forEach((item, i) => {
      const summary = item.querySelector(".inf-pp-summary");
      if (summary && this.steps[i])
        summary.textContent = stepSummary(this.steps[i], this.classes());
    });
  }

  private render(): void {
    this.list.replaceChildren(...this.steps.map((step, i) => this.stepItem(step, i)));
    this.updateState();
  }

  private stepItem(step: PostStep, index: number): HTMLElement {
    const move = (delta: number, text: string, title: string, cls: string) => {
      const b = h("button", { type: "button", class: cls, title, "aria-label": title }, text);
      b.disabled = index + delta < 0 || index + delta >= this.steps.length;
      b.addEventListener("click", () => this.change(moveStep(this.steps, index, delta), true));
      return b;
    };
    const remove = h(
      "button",
      {
        type: "button",
        class: "inf-pp-remove",
        title: "Remove this step",
        "aria-label": "Remove this step",
      },
      "✕",
    );
    remove.addEventListener("click", () => this.change(removeStep(this.steps, index), true));
    return h(
      "li",
      { class: "inf-pp-step", "data-op": step.op, "data-index": String(index) },
      h(
        "div",
        { class: "inf-pp-head" },
        h("span", { class: "inf-pp-summary" }, stepSummary(step, this.classes())),
        move(-1, "↑", "Move up", "inf-pp-up"),
        move(1, "↓", "Move down", "inf-pp-down"),
        remove,
      ),
      h("div", { class: "inf-pp-fields" }, ...this.fields(step, index)),
      h("div", { class: "inf-pp-error", "data-field": "" }),
    );
  }

  private fields(step: PostStep, index: number): HTMLElement[] {
    const out = [
      this.classField(
        index,
        "class_id",
        step.op === "relabel" ? "objects of" : "class",
        step.class_id,
        false,
      ),
    ];
    if (step.op === "relabel") {
      out.push(this.classField(index, "to_class_id", "change to", step.to_class_id, true));
      const ranges = h(
        "fieldset",
        { class: "inf-pp-ranges", "data-field": "where" },
        h("legend", {}, "when (empty: any)"),
      );
      for (const m of MEASURES) {
        const bounds = step.where[m.key] ?? [null, null];
        ranges.append(
          h(
            "div",
            { class: "inf-pp-range", "data-field": `where.${m.key}` },
            h(
              "span",
              { class: "inf-pp-range-name" },
              `${m.label} ${m.unit === "0–1" ? "(0–1)" : m.unit}`,
            ),
            this.numberInput(index, `where.${m.key}.min`, bounds[0], `${m.label} from`),
            "–",
            this.numberInput(index, `where.${m.key}.max`, bounds[1], `${m.label} to`),
            h("span", { class: "inf-pp-error" }),
          ),
        );
      }
      ranges.append(h("span", { class: "inf-pp-error" }));
      out.push(ranges);
      return out;
    }
    const key = Object.keys(FIELD_LABELS).find((k) => k in step)!;
    const [label, unit] = FIELD_LABELS[key];
    const value = (step as unknown as Record<string, number | null>)[key];
    out.push(
      h(
        "label",
        { class: "inf-pp-field", "data-field": key },
        `${label} `,
        this.numberInput(index, key, value, `${label} (${unit})`),
        ` ${unit}`,
        h("span", { class: "inf-pp-error" }),
      ),
    );
    return out;
  }

  private numberInput(
    index: number,
    field: string,
    value: number | null,
    label: string,
  ): HTMLInputElement {
    const input = h("input", {
      type: "number",
      step: "any",
      class: "inf-pp-input",
      name: field,
      "aria-label": label,
    });
    input.value = value === null ? "" : String(value);
    input.addEventListener("input", () => {
      const text = input.value.trim();
      const number = text === "" ? null : Number(text);
      this.clearFieldError(input);
      const steps = [...this.steps];
      steps[index] = setField(
        steps[index],
        field,
        number !== null && Number.isFinite(number) ? number : null,
      );
      this.change(steps, false);
    });
    return input;
  }

  private classField(
    index: number,
    field: "class_id" | "to_class_id",
    label: string,
    value: number | null,
    withNone: boolean,
  ): HTMLElement {
    const picker = h("select", { class: "inf-pp-class", name: field, "aria-label": label });
    if (withNone) picker.append(h("option", { value: "" }, "unclassified"));
    for (const c of this.classes())
      picker.append(h("option", { value: String(classIdOf(c)) }, c.name));
    picker.value = value === null ? "" : String(value);
    picker.addEventListener("change", () => {
      this.clearFieldError(picker);
      const steps = [...this.steps];
      steps[index] = setField(
        steps[index],
        field,
        picker.value === "" ? null : Number(picker.value),
      );
      this.change(steps, false);
    });
    return h(
      "label",
      { class: "inf-pp-field", "data-field": field },
      `${label} `,
      picker,
      h("span", { class: "inf-pp-error" }),
    );
  }

  private async save(): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.clearErrors();
    this.saveButton.disabled = true;
    this.status.textContent = "Saving…";
    try {
      const saved = await sendJson<AppWithSteps>(
        "PATCH",
        `/api/apps/${encodeURIComponent(app.id)}`,
        {
          postprocessing: stepsForSave(this.steps),
        },
      );
      if (this.app?.id !== app.id) return;
      this.app = saved;
      this.saved = stepsForEditing(saved.postprocessing);
      this.steps = this.saved.map((s) => ({ ...s }));
      this.render();
      this.status.textContent = "Saved.";
      this.element.dataset.key = saved.postprocessing_key ?? "";
      this.onSaved(saved);
      this.context.bus.emit("apps:changed", { appId: saved.id });
    } catch (error) {
      this.status.textContent = "";
      this.updateState();
      if (error instanceof ApiError) this.showErrors(error);
      else showError(error);
    }
  }

  /** Put each server message beside the field it names, the rest above the buttons. */
  private showErrors(error: ApiError): void {
    const fields = (error.body as { fields?: Record<string, string> } | undefined)?.fields;
    const grouped = groupFieldErrors(fields);
    const general: string[] = [];
    for (const [index, byField] of grouped) {
      const item = this.list.querySelector<HTMLElement>(`.inf-pp-step[data-index="${index}"]`);
      for (const [field, message] of byField) {
        const place = item ? this.errorPlace(item, field) : null;
        if (!place) {
          general.push(message);
          continue;
        }
        place.textContent = plainMessage(message);
        place.closest<HTMLElement>("[data-field]")?.classList.add("inf-pp-invalid");
        place.parentElement
          ?.querySelectorAll(":scope > input, :scope > select")
          .forEach((c) => c.setAttribute("aria-invalid", "true"));
      }
    }
    if (!grouped.size || general.length) {
      this.errorBox.replaceChildren(
        h("strong", {}, general.length ? general.join(" ") : error.message),
      );
      if (error.hint) this.errorBox.append(h("div", {}, error.hint));
      this.errorBox.hidden = false;
    }
  }

  /** The error line for `field` in a step's item (the step's own line as a fallback). */
  private errorPlace(item: HTMLElement, field: string): HTMLElement | null {
    const box = field
      ? item.querySelector<HTMLElement>(`[data-field="${CSS.escape(field)}"]`)
      : null;
    const own = box?.querySelector<HTMLElement>(":scope > .inf-pp-error");
    return own ?? item.querySelector<HTMLElement>(":scope > .inf-pp-error");
  }

  private clearFieldError(control: HTMLElement): void {
    control.removeAttribute("aria-invalid");
    const box = control.closest<HTMLElement>("[data-field]");
    box?.classList.remove("inf-pp-invalid");
    const line = box?.querySelector(":scope > .inf-pp-error");
    if (line) line.textContent = "";
  }

  private clearErrors(): void {
    this.errorBox.hidden = true;
    this.list.querySelectorAll(".inf-pp-error").forEach((e) => (e.textContent = ""));
    this.list
      .querySelectorAll(".inf-pp-invalid")
      .forEach((e) => e.classList.remove("inf-pp-invalid"));
    this.list.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  }
}
