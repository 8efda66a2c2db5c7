// Training settings: which are basic, how fields are labelled, flattening for the forms.

import type { SettingValue, Settings } from "./types";

/** Settings shown in the panel itself; everything else goes to the Advanced dialog. */
export const BASIC_FIELDS = [
  "architecture",
  "mpp",
  "patch_size",
  "batch_size",
  "learning_rate",
  "iterations",
] as const;

const LABELS: Record<string, string> = {
  architecture: "Architecture",
  mpp: "Resolution",
  patch_size: "Patch size",
  batch_size: "Batch size",
  learning_rate: "Learning rate",
  iterations: "Iterations",
  encoder: "Encoder",
  encoder_weights: "Encoder weights",
  encoder_weights_path: "Weights file",
  weights_file: "Weights file",
  optimizer: "Optimizer",
  momentum: "Momentum",
  weight_decay: "Weight decay",
  schedule: "Learning-rate schedule",
  warmup: "Warm-up iterations",
  warmup_iterations: "Warm-up iterations",
  step_size: "Step every (iterations)",
  step_gamma: "Step factor",
  loss: "Loss",
  class_weighting: "Class weighting",
  class_weights: "Manual class weights",
  augmentation: "Augmentation",
  flips: "Flips",
  rot90: "90° rotations",
  rotate90: "90° rotations",
  scale_jitter: "Scale jitter",
  brightness: "Brightness",
  contrast: "Contrast",
  saturation: "Saturation",
  hue: "Hue",
  color_jitter: "Colour jitter",
  stain_jitter: "H&E stain jitter",
  blur: "Blur",
  sampling: "Input and sampling",
  class_balance: "Class balance of patch centres",
  label_passes: "Passes over the labelled area",
  context_scale: "Context view (× field of view)",
  val_fraction: "Validation hold-out (fraction)",
  validation_fraction: "Validation hold-out (fraction)",
  val_interval: "Validate every (iterations)",
  validation_interval: "Validate every (iterations)",
  early_stopping: "Early stopping",
  early_stopping_patience: "Early-stopping patience (validations)",
  keep_weights: "App keeps the weights",
  patience: "Patience",
  mixed_precision: "Mixed precision",
  seed: "Seed",
  checkpoint_interval: "Checkpoint every (iterations)",
  tensorboard_image_interval: "TensorBoard images every (iterations)",
};

/** Flat settings shown together in a group of the Advanced dialog (key → group). */
const FIELD_GROUPS: Record<string, string> = {
  class_balance: "sampling",
  label_passes: "sampling",
  context_scale: "sampling",
};

/** What a group is for, shown under its title. */
export const GROUP_HELP: Record<string, string> = {
  sampling:
    "How training patches are drawn from the labels, how many, and what the network sees around them.",
};

/** Fields that do nothing while another field has a value: [field, value, why]. */
export const INACTIVE_WHEN: Record<string, [string, string, string]> = {
  validation_interval: ["validation_fraction", "0", "No effect: the validation hold-out is 0."],
  early_stopping: ["validation_fraction", "0", "No effect: the validation hold-out is 0."],
  early_stopping_patience: ["validation_fraction", "0", "No effect: the validation hold-out is 0."],
  keep_weights: [
    "validation_fraction",
    "0",
    "No effect: without a hold-out the app keeps the last weights.",
  ],
};

/** Why a field does nothing with the other values as they are, or null. */
export function inactiveNote(path: string, valueOf: (path: string) => string): string | null {
  const rule = INACTIVE_WHEN[path];
  if (!rule) return null;
  const [other, value, why] = rule;
  return Number(valueOf(other)) === Number(value) ? why : null;
}

/** The group a settings path belongs to in the Advanced dialog ("" for none). */
export function fieldGroup(path: string): string {
  if (path.includes(".")) return path.split(".")[0];
  return FIELD_GROUPS[path] ?? "";
}

/** A readable label for a settings path such as "augmentation.flips". */
export function fieldLabel(path: string): string {
  const key = path.split(".").pop() ?? path;
  if (LABELS[key]) return LABELS[key];
  const words = key.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function isObject(value: SettingValue | undefined): value is Settings {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Leaf settings as `[path, value]`, nested objects joined with dots, in their order. */
export function flattenSettings(settings: Settings, prefix = ""): [string, SettingValue][] {
  const out: [string, SettingValue][] = [];
  for (const [key, value] of Object.entries(settings)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isObject(value) && Object.keys(value).length > 0) out.push(...flattenSettings(value, path));
    else out.push([path, value]);
  }
  return out;
}

/** Set `value` at a dotted `path` inside `target`, creating the objects on the way. */
export function setPath(target: Settings, path: string, value: SettingValue): void {
  const keys = path.split(".");
  let node: Settings = target;
  for (const key of keys.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {};
    node = node[key] as Settings;
  }
  node[keys[keys.length - 1]] = value;
}

/** The advanced settings (all defaults except the basic ones), flattened. */
export function advancedFields(defaults: Settings): [string, SettingValue][] {
  return flattenSettings(defaults).filter(
    ([path]) => !(BASIC_FIELDS as readonly string[]).includes(path.split(".")[0]),
  );
}

/**
 * Read a form control's text as the type of the default value: numbers stay numbers,
 * empty means null; returns an error message instead when the text is not a number.
 */
export function parseValue(
  text: string,
  like: SettingValue,
): { value: SettingValue } | { error: string } {
  const trimmed = text.trim();
  if (typeof like === "number") {
    if (trimmed === "") return { error: "Enter a number." };
    const n = Number(trimmed);
    return Number.isFinite(n) ? { value: n } : { error: "Enter a number." };
  }
  if (trimmed === "") return { value: null };
  if (like === null && /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(trimmed)) return { value: Number(trimmed) };
  return { value: trimmed };
}

/** Which settings path a server field error belongs to ("augmentation.flips", "settings.seed"). */
export function normaliseFieldName(name: string): string {
  return name.replace(/^settings\./, "").replace(/\[(\w+)\]/g, ".$1");
}

const CHOICE_LABELS: Record<string, string> = {
  none: "none",
  imagenet: "ImageNet",
  file: "weights file",
  adam: "Adam",
  adamw: "AdamW",
  sgd: "SGD + momentum",
  constant: "constant",
  cosine: "cosine",
  step: "step",
  cross_entropy: "cross-entropy",
  dice: "Dice",
  focal: "focal",
  cross_entropy_dice: "cross-entropy + Dice",
  "class_weighting:auto": "automatic (inverse frequency)",
  manual: "manual",
  "mixed_precision:auto": "auto (on with CUDA)",
  "keep_weights:best": "best validated (lowest validation loss)",
  "keep_weights:last": "of the last iteration",
  on: "on",
  off: "off",
};

/** A readable label for a choice value of a field ("cross_entropy_dice" → "cross-entropy + Dice"). */
export function choiceLabel(field: string, value: string): string {
  return CHOICE_LABELS[`${field}:${value}`] ?? CHOICE_LABELS[value] ?? value.replace(/_/g, " ");
}
