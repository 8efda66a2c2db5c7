import { describe, expect, it } from "vitest";
import { nextLabelMode, parseLabelMode } from "../src/annotations/labelMode";
import { buildRegion, regionText, tissueRegion } from "../src/inference/region";
import { displayFilter, gammaExponent, NEUTRAL_DISPLAY } from "../src/viewer/display";
import { rulerText } from "../src/viewer/ruler";
import { tissueUrl } from "../src/viewer/tissueOverlay";

describe("labels over a result", () => {
  it("cycles outlines → filled → hidden and reads a stored choice", () => {
    expect(nextLabelMode("outline")).toBe("filled");
    expect(nextLabelMode("filled")).toBe("hidden");
    expect(nextLabelMode("hidden")).toBe("outline");
    expect(parseLabelMode(null)).toBe("outline");
    expect(parseLabelMode("filled")).toBe("filled");
    expect(parseLabelMode("bogus")).toBe("outline");
  });
});

describe("the tissue region's sensitivity", () => {
  it("is sent with Apply when not the default", () => {
    const input = { choice: "slide" as const, tissueOnly: true };
    expect(buildRegion({ ...input, sensitivity: 0.5 })).toEqual({ region: "tissue" });
    expect(buildRegion({ ...input, sensitivity: 0.85 })).toEqual({
      region: { tissue: { sensitivity: 0.85 } },
    });
    expect(buildRegion({ ...input, tissueOnly: false, sensitivity: 0.9 })).toEqual({
      region: "whole",
    });
    expect(tissueRegion(0.30000000000000004)).toEqual({ tissue: { sensitivity: 0.3 } });
  });

  it("is named in the result's region and in the overlay's URL", () => {
    expect(regionText({ tissue: { sensitivity: 0.8 } }, [], 0.5)).toBe(
      "whole slide (tissue, sensitivity 80 %)",
    );
    expect(regionText("tissue", [], 0.5)).toBe("whole slide (tissue)");
    expect(tissueUrl("a b", 0.7)).toBe("/api/slides/a%20b/tissue.png?sensitivity=0.7");
  });
});

describe("the slide display filter", () => {
  it("is none when neutral and names only what changed", () => {
    expect(displayFilter(NEUTRAL_DISPLAY)).toBe("none");
    expect(displayFilter({ brightness: 1.5, contrast: 1, gamma: 1 })).toBe("brightness(1.5)");
    expect(displayFilter({ brightness: 1, contrast: 0.8, gamma: 2 })).toBe(
      "url(#slidelab-gamma) contrast(0.8)",
    );
    expect(gammaExponent(2)).toBe(0.5);
  });
});

describe("the ruler", () => {
  it("gives lengths in µm or mm from the slide's µm/px, px without one", () => {
    expect(rulerText([0, 0], [600, 800], 0.499)).toBe("499 µm");
    expect(rulerText([0, 0], [2400, 0], 0.499)).toBe("1.2 mm");
    expect(rulerText([10, 10], [13, 14], 0.25)).toBe("1.25 µm");
    expect(rulerText([0, 0], [300, 400], null)).toBe("500 px");
  });
});
