import { describe, expect, it } from "vitest";
import { formatPreparing, formatSeconds } from "../src/training/format";
import { advancedFields, fieldGroup, fieldLabel, inactiveNote } from "../src/training/settings";
import type { Settings } from "../src/training/types";

describe("preparation", () => {
  it("says which step a run prepares and how far it is", () => {
    expect(formatPreparing({ step: "labels", done: 3, total: 7 })).toBe("Preparing labels… 3/7");
    expect(formatPreparing({ step: "regions", done: 12, total: 40 })).toBe("Reading labelled regions… 12/40");
    expect(formatPreparing({ step: "model", done: 0, total: 1 })).toBe("Building the model…");
    expect(formatPreparing(null)).toBe("Preparing…");
    expect(formatPreparing({ step: "labels", done: 0, total: 0 })).toBe("Preparing labels…");
  });

  it("shows short durations with a decimal", () => {
    expect(formatSeconds(1.44)).toBe("1.4 s");
    expect(formatSeconds(75)).toBe("1 min 15 s");
    expect(formatSeconds(undefined)).toBe("—");
  });
});

describe("input and sampling group", () => {
  const defaults: Settings = {
    architecture: "unet",
    augmentation: { flips: true },
    class_balance: 1,
    label_passes: 0,
    validation_fraction: 0.15,
  };

  it("puts the sampling settings in their own group", () => {
    const paths = advancedFields(defaults).map(([p]) => p);
    expect(paths).toEqual(["augmentation.flips", "class_balance", "label_passes", "validation_fraction"]);
    expect(paths.map(fieldGroup)).toEqual(["augmentation", "sampling", "sampling", ""]);
    expect(fieldLabel("sampling")).toBe("Input and sampling");
  });

  it("says which fields do nothing without a validation hold-out", () => {
    const values: Record<string, string> = { validation_fraction: "0" };
    const valueOf = (path: string) => values[path] ?? "";
    expect(inactiveNote("validation_interval", valueOf)).toContain("hold-out is 0");
    expect(inactiveNote("keep_weights", valueOf)).toContain("keeps the last weights");
    expect(inactiveNote("learning_rate", valueOf)).toBeNull();
    values.validation_fraction = "0.15";
    expect(inactiveNote("validation_interval", valueOf)).toBeNull();
  });
});
