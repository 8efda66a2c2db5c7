import { describe, expect, it } from "vitest";
import {
  advancedFields,
  choiceLabel,
  fieldLabel,
  flattenSettings,
  normaliseFieldName,
  parseValue,
  setPath,
} from "../src/training/settings";
import type { Settings } from "../src/training/types";

const defaults: Settings = {
  architecture: "unet",
  encoder: "resnet18",
  mpp: 2,
  patch_size: 256,
  optimizer: "adamw",
  augmentation: { flips: true, rot90: true, blur: 0.1 },
  class_weights: null,
  seed: 0,
};

describe("settings", () => {
  it("flattens nested settings with dotted paths, in order", () => {
    expect(flattenSettings(defaults).map(([p]) => p)).toEqual([
      "architecture",
      "encoder",
      "mpp",
      "patch_size",
      "optimizer",
      "augmentation.flips",
      "augmentation.rot90",
      "augmentation.blur",
      "class_weights",
      "seed",
    ]);
  });

  it("advanced fields exclude the basic ones", () => {
    const paths = advancedFields(defaults).map(([p]) => p);
    expect(paths).not.toContain("architecture");
    expect(paths).not.toContain("mpp");
    expect(paths).toContain("encoder");
    expect(paths).toContain("augmentation.blur");
  });

  it("setPath rebuilds nesting", () => {
    const out: Settings = {};
    setPath(out, "augmentation.flips", false);
    setPath(out, "seed", 3);
    expect(out).toEqual({ augmentation: { flips: false }, seed: 3 });
  });

  it("parses values like their defaults", () => {
    expect(parseValue("0.001", 0.1)).toEqual({ value: 0.001 });
    expect(parseValue("1e-4", 0.1)).toEqual({ value: 0.0001 });
    expect(parseValue("abc", 1)).toEqual({ error: "Enter a number." });
    expect(parseValue("", 1)).toEqual({ error: "Enter a number." });
    expect(parseValue("", null)).toEqual({ value: null });
    expect(parseValue("12", null)).toEqual({ value: 12 });
    expect(parseValue(" weights.safetensors ", null)).toEqual({ value: "weights.safetensors" });
  });

  it("labels fields readably", () => {
    expect(fieldLabel("augmentation.rot90")).toBe("90° rotations");
    expect(fieldLabel("learning_rate")).toBe("Learning rate");
    expect(fieldLabel("some_new_thing")).toBe("Some new thing");
  });

  it("normalises server field names", () => {
    expect(normaliseFieldName("settings.seed")).toBe("seed");
    expect(normaliseFieldName("augmentation[flips]")).toBe("augmentation.flips");
  });
});

describe("choice labels", () => {
  it("reads like words", () => {
    expect(choiceLabel("loss", "cross_entropy_dice")).toBe("cross-entropy + Dice");
    expect(choiceLabel("class_weighting", "auto")).toBe("automatic (inverse frequency)");
    expect(choiceLabel("mixed_precision", "auto")).toBe("auto (on with CUDA)");
    expect(choiceLabel("x", "brand_new")).toBe("brand new");
  });
});
