import { describe, expect, it } from "vitest";
import { advancedFields, fieldGroup, fieldLabel } from "../src/training/settings";
import type { Settings } from "../src/training/types";

describe("context view setting", () => {
  it("sits in the Input and sampling group with a label", () => {
    const defaults: Settings = { architecture: "unet", class_balance: 1, context_scale: 0 };
    const fields = advancedFields(defaults);
    expect(fields).toEqual([
      ["class_balance", 1],
      ["context_scale", 0],
    ]);
    expect(fieldGroup("context_scale")).toBe("sampling");
    expect(fieldLabel("context_scale")).toBe("Context view (× field of view)");
  });
});
