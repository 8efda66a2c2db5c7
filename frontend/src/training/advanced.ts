// The "Advanced settings" dialog: every non-basic setting, built from the server defaults.

import type { LabelClass } from "../core/app";
import { h, select } from "../core/dom";
import {
  advancedFields,
  choiceLabel,
  fieldGroup,
  fieldLabel,
  flattenSettings,
  GROUP_HELP,
  INACTIVE_WHEN,
  inactiveNote,
  parseValue,
  setPath,
} from "./settings";
import type { SettingValue, Settings, TrainingOptions } from "./types";

interface Field {
  path: string;
  like: SettingValue;
  control: HTMLInputElement | HTMLSelectElement;
  error: HTMLElement;
  row: HTMLElement;
  note: HTMLElement | null;
}

const MANUAL = "manual";

/** Fields that only matter for one value of another field: shown only then. */
const SHOWN_WHEN: Record<string, [string, string | boolean]> = {
  weights_file: ["encoder_weights", "file"],
  momentum: ["optimizer", "sgd"],
  step_size: ["schedule", "step"],
  step_gamma: ["schedule", "step"],
  early_stopping_patience: ["early_stopping", true],
};

export class AdvancedDialog {
  readonly dialog: HTMLDialogElement;
  private fields: Field[] = [];
  private readonly general: HTMLDivElement;
  private readonly weightsBox: HTMLElement;
  private readonly weightsError: HTMLElement;
  private weightInputs = new Map<number, HTMLInputElement>();
  private encoderSelect: HTMLSelectElement | null = null;

  constructor(
    private readonly options: TrainingOptions,
    private readonly selectedClasses: () => LabelClass[],
    private readonly architecture: () => string,
  ) {
    this.general = h("div", { class: "tr-dialog-error", role: "alert" });
    this.weightsError = h("span", { class: "tr-field-error" });
    this.weightsBox = h("fieldset", { class: "tr-class-weights", "data-field": "class_weights" });
    const body: HTMLElement = h("div", { class: "tr-dialog-body" });
    const groups = new Map<string, HTMLElement>();
    for (const [path, like] of advancedFields(options.defaults)) {
      if (path === "class_weights" || path.startsWith("class_weights.")) continue;
      const group = fieldGroup(path);
      let parent: HTMLElement = body;
      if (group) {
        if (!groups.has(group)) {
          const set = h(
            "fieldset",
            { class: "tr-group", "data-group": group },
            h("legend", {}, fieldLabel(group)),
          );
          if (GROUP_HELP[group]) set.append(h("p", { class: "tr-help" }, GROUP_HELP[group]));
          groups.set(group, set);
          body.append(set);
        }
        parent = groups.get(group)!;
      }
      parent.append(this.buildField(path, like));
      if (path === "class_weighting") body.append(this.weightsBox);
    }
    const close = h("button", { type: "button", class: "tr-close" }, "Done");
    const reset = h("button", { type: "button" }, "Reset to defaults");
    close.addEventListener("click", () => this.dialog.close());
    reset.addEventListener("click", () => this.reset());
    this.dialog = h(
      "dialog",
      { class: "tr-dialog", "aria-label": "Advanced training settings" },
      h("h3", {}, "Advanced settings"),
      this.general,
      body,
      h("div", { class: "tr-dialog-buttons" }, reset, close),
    );
    this.dialog.addEventListener("change", () => this.syncVisibility());
  }

  private buildField(path: string, like: SettingValue): HTMLElement {
    const key = path.split(".").pop()!;
    const choices = this.options.choices[key];
    let control: HTMLInputElement | HTMLSelectElement;
    if (path === "encoder") {
      control = h("select", {});
      this.encoderSelect = control;
    } else if (choices && choices.length) {
      control = select(
        choices.map((c) => [c, choiceLabel(key, c)]),
        String(like),
      );
    } else if (typeof like === "boolean") {
      control = h("input", { type: "checkbox" });
      control.checked = like;
    } else {
      control = h("input", {
        type: typeof like === "number" ? "number" : "text",
        step: typeof like === "number" ? "any" : null,
        placeholder: like === null ? "none" : null,
      });
      control.value = like === null ? "" : String(like);
    }
    control.name = path;
    const error = h("span", { class: "tr-field-error" });
    const row = h(
      "label",
      { class: "tr-row", "data-field": path },
      h("span", { class: "tr-row-label" }, fieldLabel(path)),
      control,
      error,
    );
    const help = this.options.help?.[path];
    if (help) row.append(h("small", { class: "tr-help" }, help));
    let note: HTMLElement | null = null;
    if (INACTIVE_WHEN[path]) {
      note = h("small", { class: "tr-inactive", "data-testid": "inactive-note" });
      note.hidden = true;
      row.append(note);
    }
    this.fields.push({ path, like, control, error, row, note });
    return row;
  }

  /** Show the dialog (modal), with the manual class weights for the chosen classes. */
  open(): void {
    this.renderEncoders();
    this.renderWeights();
    this.syncVisibility();
    if (!this.dialog.isConnected) document.body.append(this.dialog);
    this.dialog.showModal();
  }

  /** Encoders that fit the chosen architecture; "" leaves the architecture's default. */
  private renderEncoders(): void {
    const box = this.encoderSelect;
    if (!box) return;
    const arch = this.options.architectures.find((a) => a.name === this.architecture());
    const names = arch?.encoders?.length ? arch.encoders : this.options.encoders;
    const previous = box.value;
    const fallback = arch?.default_encoder ?? String(this.options.defaults.encoder ?? "");
    box.replaceChildren(
      h(
        "option",
        { value: "" },
        `default for ${arch?.label ?? "the architecture"}${fallback ? ` (${fallback})` : ""}`,
      ),
      ...names.map((name) => h("option", { value: name }, name)),
    );
    box.value = names.includes(previous) ? previous : "";
  }

  /** "ImageNet" says whether the chosen encoder's weights are in the server's cache. */
  private labelImagenet(): void {
    const option = this.fields
      .find((f) => f.path === "encoder_weights")
      ?.control.querySelector<HTMLOptionElement>('option[value="imagenet"]');
    if (!option) return;
    const arch = this.options.architectures.find((a) => a.name === this.architecture());
    const encoder = String(this.valueOf("encoder") || arch?.default_encoder || "");
    const cached = this.options.imagenet_cached?.includes(encoder);
    option.textContent = cached
      ? `ImageNet (in the local cache for ${encoder})`
      : `ImageNet (not in the local cache for ${encoder}: not available offline)`;
  }

  private renderWeights(): void {
    const previous = new Map([...this.weightInputs].map(([id, input]) => [id, input.value]));
    this.weightInputs.clear();
    this.weightsBox.replaceChildren(h("legend", {}, fieldLabel("class_weights")));
    for (const cls of this.selectedClasses()) {
      const input = h("input", { type: "number", step: "any", min: "0" });
      input.value = previous.get(cls.id) ?? "1";
      this.weightInputs.set(cls.id, input);
      this.weightsBox.append(
        h(
          "label",
          { class: "tr-row" },
          h(
            "span",
            { class: "tr-row-label" },
            h("i", { class: "tr-swatch", style: `background:${cls.color}` }),
            cls.name,
          ),
          input,
        ),
      );
    }
    this.weightsBox.append(this.weightsError);
  }

  private valueOf(path: string): string | boolean | undefined {
    const field = this.fields.find((f) => f.path === path);
    if (!field) return undefined;
    const { control } = field;
    return control instanceof HTMLInputElement && control.type === "checkbox"
      ? control.checked
      : control.value;
  }

  private syncVisibility(): void {
    this.weightsBox.hidden = this.valueOf("class_weighting") !== MANUAL;
    for (const field of this.fields) {
      const rule = SHOWN_WHEN[field.path];
      if (rule) field.row.hidden = this.valueOf(rule[0]) !== rule[1] && !field.error.textContent;
      if (!field.note) continue;
      const why = inactiveNote(field.path, (path) => String(this.valueOf(path) ?? ""));
      field.note.textContent = why ?? "";
      field.note.hidden = !why;
      field.row.classList.toggle("tr-row-inactive", Boolean(why));
    }
    this.labelImagenet();
  }

  /** Fill the controls from a run's settings (the form shows how the run on show trained). */
  load(settings: Settings): void {
    const values = new Map(flattenSettings(settings));
    for (const field of this.fields) {
      if (field.control === this.encoderSelect || !values.has(field.path)) continue;
      const value = values.get(field.path);
      if (field.control instanceof HTMLInputElement && field.control.type === "checkbox")
        field.control.checked = value === true;
      else if (value === null || typeof value !== "object")
        field.control.value = value === null ? "" : String(value);
    }
    this.clearErrors();
    this.syncVisibility();
  }

  /** Put every control back to the server's default. */
  reset(): void {
    for (const field of this.fields) {
      if (field.control instanceof HTMLInputElement && field.control.type === "checkbox") {
        field.control.checked = field.like === true;
      } else if (field.control === this.encoderSelect) field.control.value = "";
      else field.control.value = field.like === null ? "" : String(field.like);
    }
    for (const input of this.weightInputs.values()) input.value = "1";
    this.clearErrors();
    this.syncVisibility();
  }

  /**
   * The advanced settings the user changed from the defaults (the server fills in the
   * rest, e.g. the encoder that fits the architecture), or per-field errors.
   */
  collect(): { settings: Settings; errors: Record<string, string> } {
    const settings: Settings = {};
    const errors: Record<string, string> = {};
    for (const field of this.fields) {
      const { control } = field;
      let value: SettingValue;
      if (control instanceof HTMLInputElement && control.type === "checkbox")
        value = control.checked;
      else if (control === this.encoderSelect) {
        if (control.value === "") continue;
        value = control.value;
      } else if (control instanceof HTMLSelectElement) value = control.value;
      else {
        const parsed = parseValue(control.value, field.like);
        if ("error" in parsed) {
          errors[field.path] = parsed.error;
          continue;
        }
        value = parsed.value;
      }
      if (control === this.encoderSelect || value !== field.like)
        setPath(settings, field.path, value);
    }
    const weighting = this.fields.find((f) => f.path === "class_weighting")?.control.value;
    if (weighting === MANUAL) {
      const weights: Settings = {};
      for (const [id, input] of this.weightInputs) {
        const n = Number(input.value);
        if (input.value.trim() === "" || !Number.isFinite(n) || n < 0) {
          errors.class_weights = "Each class weight must be a number ≥ 0.";
        }
        weights[String(id)] = n;
      }
      settings.class_weights = weights;
    }
    return { settings, errors };
  }

  /** Remove all error messages. */
  clearErrors(): void {
    this.general.textContent = "";
    this.weightsError.textContent = "";
    for (const field of this.fields) {
      field.error.textContent = "";
      field.control.removeAttribute("aria-invalid");
    }
  }

  /** Show per-field messages; returns the field names this dialog does not hold. */
  showErrors(errors: Record<string, string>): string[] {
    const unknown: string[] = [];
    for (const [path, message] of Object.entries(errors)) {
      const field = this.fields.find((f) => f.path === path || path.startsWith(`${f.path}.`));
      if (field) {
        field.error.textContent = message;
        field.control.setAttribute("aria-invalid", "true");
        field.row.hidden = false;
      } else if (path === "class_weights" || path.startsWith("class_weights.")) {
        this.weightsError.textContent = message;
      } else unknown.push(path);
    }
    return unknown;
  }

  /** Whether a settings path is one of this dialog's fields. */
  holds(path: string): boolean {
    return (
      path === "class_weights" ||
      path.startsWith("class_weights.") ||
      this.fields.some((f) => f.path === path || path.startsWith(`${f.path}.`))
    );
  }

  /** Show a message at the top of the dialog. */
  showGeneral(message: string): void {
    this.general.textContent = message;
  }
}
