// The basic training parameters: architecture, resolution (µm/px or magnification),
// patch size, batch size, learning rate, iterations.

import { h, select } from "../core/dom";
import {
  formatMppMagnification,
  magnificationFromMpp,
  mppFromMagnification,
} from "../core/magnification";
import { fieldLabel, parseValue } from "./settings";
import type { Settings, TrainingOptions } from "./types";

const MAGNIFICATIONS = [40, 20, 10, 5, 2.5, 1.25];
const NUMBER_FIELDS = ["patch_size", "batch_size", "learning_rate", "iterations"] as const;
const UNITS: Record<string, string> = { patch_size: "px" };

/** The magnification choice matching `mpp` within 2 %, or "" (custom). */
export function matchingMagnification(mpp: number): string {
  if (!Number.isFinite(mpp) || mpp <= 0) return "";
  const mag = magnificationFromMpp(mpp);
  const hit = MAGNIFICATIONS.find((m) => Math.abs(m - mag) / m < 0.02);
  return hit === undefined ? "" : String(hit);
}

export class BasicForm {
  readonly element: HTMLElement;
  readonly architecture: HTMLSelectElement;
  private readonly warning: HTMLElement;
  private readonly mpp: HTMLInputElement;
  private readonly magnification: HTMLSelectElement;
  private readonly magText: HTMLElement;
  private readonly inputs = new Map<string, HTMLInputElement>();
  private readonly errors = new Map<string, HTMLElement>();

  constructor(private readonly options: TrainingOptions) {
    const d = options.defaults;
    this.architecture = select(
      options.architectures.map((a) => [a.name, a.label]),
      String(d.architecture ?? "unet"),
      { name: "architecture", class: "tr-architecture" },
    );
    this.warning = h("div", { class: "tr-warning", role: "note" });
    this.mpp = h("input", {
      type: "number",
      step: "any",
      min: "0.05",
      name: "mpp",
      class: "tr-mpp",
    });
    this.mpp.value = String(d.mpp ?? 2);
    this.magnification = select(
      [["", "custom"], ...MAGNIFICATIONS.map((m): [string, string] => [String(m), `${m}×`])],
      undefined,
      { name: "magnification", class: "tr-magnification", "aria-label": "Magnification" },
    );
    this.magText = h("span", { class: "tr-mag-text" });
    const rows: HTMLElement[] = [
      this.row("architecture", this.architecture, this.warning),
      this.row(
        "mpp",
        h(
          "span",
          { class: "tr-inline" },
          this.mpp,
          h("span", { class: "tr-unit" }, "µm/px"),
          this.magnification,
        ),
        this.magText,
      ),
    ];
    for (const name of NUMBER_FIELDS) {
      const input = h("input", {
        type: "number",
        step: "any",
        min: "0",
        name,
        class: `tr-${name}`,
      });
      input.value = String(d[name] ?? "");
      this.inputs.set(name, input);
      const unit = UNITS[name] ? h("span", { class: "tr-unit" }, UNITS[name]) : null;
      rows.push(this.row(name, unit ? h("span", { class: "tr-inline" }, input, unit) : input));
    }
    this.element = h("div", { class: "tr-basic" }, ...rows);
    this.architecture.addEventListener("change", () => this.syncWarning());
    this.mpp.addEventListener("input", () => this.syncMagnification());
    this.magnification.addEventListener("change", () => {
      const mag = Number(this.magnification.value);
      if (mag > 0) this.mpp.value = String(Number(mppFromMagnification(mag).toFixed(4)));
      this.syncMagnification();
    });
    this.syncWarning();
    this.syncMagnification();
  }

  private row(name: string, control: HTMLElement, extra?: HTMLElement): HTMLElement {
    const error = h("span", { class: "tr-field-error" });
    this.errors.set(name, error);
    return h(
      "label",
      { class: "tr-row", "data-field": name },
      h("span", { class: "tr-row-label" }, fieldLabel(name)),
      control,
      extra,
      error,
    );
  }

  private syncWarning(): void {
    const arch = this.options.architectures.find((a) => a.name === this.architecture.value);
    const text = this.options.device === "cpu" && arch?.cpu_warning ? arch.cpu_warning : "";
    this.warning.textContent = text;
    this.warning.hidden = !text;
  }

  private syncMagnification(): void {
    const mpp = Number(this.mpp.value);
    this.magnification.value = matchingMagnification(mpp);
    this.magText.textContent = mpp > 0 ? `≈ ${formatMppMagnification(mpp)} magnification` : "";
  }

  /** The label of the chosen (or a given) architecture name. */
  architectureLabel(name?: string | null): string {
    const key = name ?? this.architecture.value;
    return this.options.architectures.find((a) => a.name === key)?.label ?? String(key);
  }

  /** The basic settings, or per-field errors when a box does not hold a number. */
  collect(): { settings: Settings; errors: Record<string, string> } {
    const settings: Settings = { architecture: this.architecture.value };
    const errors: Record<string, string> = {};
    const fields: [string, HTMLInputElement][] = [["mpp", this.mpp], ...this.inputs];
    for (const [name, input] of fields) {
      const parsed = parseValue(input.value, 0);
      if ("error" in parsed) errors[name] = parsed.error;
      else settings[name] = parsed.value;
    }
    return { settings, errors };
  }

  /** Show server or local messages; returns the names that are not basic fields. */
  showErrors(fields: Record<string, string>): string[] {
    const others: string[] = [];
    for (const [name, message] of Object.entries(fields)) {
      const el = this.errors.get(name);
      if (el) el.textContent = message;
      else others.push(name);
    }
    return others;
  }

  /** Remove the messages. */
  clearErrors(): void {
    for (const el of this.errors.values()) el.textContent = "";
  }

  /** Whether a field name is shown in this form. */
  holds(name: string): boolean {
    return this.errors.has(name);
  }

  /** Fill the form from a run's settings (so Continue and the header show what ran). */
  load(settings: Settings): void {
    if (typeof settings.architecture === "string") this.architecture.value = settings.architecture;
    if (typeof settings.mpp === "number") this.mpp.value = String(settings.mpp);
    for (const [name, input] of this.inputs) {
      if (typeof settings[name] === "number") input.value = String(settings[name]);
    }
    this.syncWarning();
    this.syncMagnification();
  }

  /** Disable every control while a run uses them. */
  setDisabled(disabled: boolean): void {
    for (const el of this.element.querySelectorAll<HTMLInputElement | HTMLSelectElement>(
      "input, select",
    )) {
      el.disabled = disabled;
    }
  }
}
