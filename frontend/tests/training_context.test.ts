import { describe, expect, it } from "vitest";
import { advancedFields, FIELD_HELP, fieldGroup, fieldLabel } from "../src/training/settings";
import type { Settings } from "../src/training/types";

describe("context view setting", () => {
  it("sits in the Input and sampling group with a label and help", () => {
    const defaults: Settings = { architecture: "unet", class_balance: 1, context_scale: 0 };
    const fields = advancedFields(defaults);
    expect(fields).toEqual([
      ["class_balance", 1],
      ["context_scale", 0],
    ]);
    expect(fieldGroup("context_scale")).toBe("sampling");
    expect(fieldLabel("context_scale")).toBe("Context view (× field of view)");
    expect(FIELD_HELP.context_scale).toContain("0: off. 2 or 4");
    expect(FIELD_HELP.context_scale).toContain("field of view");
  });
});
