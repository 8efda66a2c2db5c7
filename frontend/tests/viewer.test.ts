import { describe, expect, it } from "vitest";
import { baseMagnification, formatMagnification } from "../src/core/magnification";
import {
  imageZoomFor,
  magnificationAt,
  maxImageZoom,
} from "../src/viewer/magnification";
import { chooseScaleBar, formatLength } from "../src/viewer/scaleBarMath";
import { formatHash, parseHash, sameView } from "../src/viewer/urlState";

describe("magnification", () => {
  it("uses the objective power when the slide has one", () => {
    expect(baseMagnification({ objective_power: 20, mpp: 0.499 })).toBe(20);
  });

  it("falls back to 10 / µm-per-px", () => {
    expect(baseMagnification({ objective_power: null, mpp: 0.25 })).toBeCloseTo(40);
    expect(baseMagnification({ objective_power: null, mpp: null })).toBeNull();
  });

  it("maps magnification to screen px per image px and back", () => {
    expect(imageZoomFor(10, 20)).toBe(0.5);
    expect(imageZoomFor(40, 20)).toBe(2);
    expect(magnificationAt(0.25, 40)).toBe(10);
  });

  it("lets 40× be reached on a 10× scan", () => {
    expect(maxImageZoom(10)).toBeGreaterThanOrEqual(4);
    expect(maxImageZoom(5)).toBeGreaterThanOrEqual(8);
  });

  it("formats magnifications compactly", () => {
    expect(formatMagnification(10)).toBe("10×");
    expect(formatMagnification(2.5)).toBe("2.5×");
    expect(formatMagnification(5.0)).toBe("5×");
    expect(formatMagnification(0.3125)).toBe("0.31×");
    expect(formatMagnification(0)).toBe("—");
  });
});

describe("scale bar", () => {
  it("picks the longest 1-2-5 length that fits", () => {
    // 0.5 µm/px at 1:1 with 160 px available: 80 µm fits, so 50 µm, 100 px wide.
    const choice = chooseScaleBar(0.5, 160)!;
    expect(choice.lengthUm).toBe(50);
    expect(choice.widthPx).toBeCloseTo(100);
    expect(choice.label).toBe("50 µm");
  });

  it("switches to millimetres", () => {
    const choice = chooseScaleBar(20, 160)!; // 3200 µm available
    expect(choice.lengthUm).toBe(2000);
    expect(choice.label).toBe("2 mm");
    expect(choice.widthPx).toBeCloseTo(100);
  });

  it("handles sub-micron bars and exact fits", () => {
    expect(chooseScaleBar(0.005, 160)!.label).toBe("0.5 µm");
    expect(chooseScaleBar(1, 100)!.lengthUm).toBe(100);
  });

  it("always stays within the width", () => {
    for (let um = 0.001; um < 1000; um *= 1.37) {
      const choice = chooseScaleBar(um, 150)!;
      expect(choice.widthPx).toBeLessThanOrEqual(150 + 1e-6);
      expect(choice.widthPx).toBeGreaterThan(150 / 2.5 - 1e-6);
    }
  });

  it("refuses unknown resolution", () => {
    expect(chooseScaleBar(0)).toBeNull();
    expect(chooseScaleBar(Number.NaN)).toBeNull();
  });

  it("formats lengths", () => {
    expect(formatLength(2500)).toBe("2.5 mm");
    expect(formatLength(200)).toBe("200 µm");
  });
});

describe("URL state", () => {
  it("round-trips a view", () => {
    const hash = formatHash({ slide: "abc123", x: 1110.04, y: 1483.5, z: 0.123456 });
    expect(hash).toBe("#slide=abc123&x=1110&y=1483.5&z=0.1235");
    expect(parseHash(hash)).toEqual({ slide: "abc123", x: 1110, y: 1483.5, z: 0.1235 });
  });

  it("accepts a slide without a view", () => {
    expect(parseHash("#slide=s1")).toEqual({ slide: "s1" });
    expect(formatHash({ slide: "s1" })).toBe("#slide=s1");
  });

  it("ignores broken or partial views", () => {
    expect(parseHash("")).toBeNull();
    expect(parseHash("#x=1&y=2&z=1")).toBeNull();
    expect(parseHash("#slide=s&x=1&y=oops&z=1")).toEqual({ slide: "s" });
    expect(parseHash("#slide=s&x=1&y=2&z=-1")).toEqual({ slide: "s" });
  });

  it("escapes odd slide ids", () => {
    const hash = formatHash({ slide: "a b&c" });
    expect(parseHash(hash)?.slide).toBe("a b&c");
  });

  it("compares views at hash precision", () => {
    const view = { slide: "s", x: 1, y: 2, z: 0.5 };
    expect(sameView(view, { ...view, x: 1.01, z: 0.50001 })).toBe(true);
    expect(sameView(view, { ...view, slide: "t" })).toBe(false);
  });
});
