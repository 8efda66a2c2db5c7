import { describe, expect, it } from "vitest";
import { maxLevel, parseDzi } from "../src/viewer/dzi";
import { labelledFromSummary } from "../src/training/labelled";
import { overallProgress, slideLine } from "../src/inference/progress";
import { bboxFromViewport } from "../src/core/geometry";
import { buildRegion } from "../src/inference/region";
import { statsRows } from "../src/inference/stats";
import { formatAreaMm2, formatBoxSize, formatNumber } from "../src/core/format";
import { exportUrl, overlayQuery, statsUrl, thresholdFromPercent, tileUrl } from "../src/core/resultUrls";

describe("threshold URLs", () => {
  it("percent to threshold without float noise", () => {
    expect(thresholdFromPercent(0)).toBe(0);
    expect(thresholdFromPercent(39)).toBe(0.39);
    expect(thresholdFromPercent(57)).toBe(0.57);
    expect(thresholdFromPercent(100)).toBe(1);
    expect(thresholdFromPercent(140)).toBe(1);
    expect(thresholdFromPercent(-3)).toBe(0);
  });

  it("tile URL carries threshold and mode", () => {
    expect(tileUrl("7", 12, 3, 4, { threshold: 0.5, mode: "classes" })).toBe(
      "/results/7_files/12/3_4.png?threshold=0.5&mode=classes",
    );
  });

  it("heat map adds the class; a version busts caches", () => {
    expect(overlayQuery({ threshold: 0, mode: "heatmap", classIndex: 2 })).toBe("threshold=0&mode=heatmap&class=2");
    expect(overlayQuery({ threshold: 0.1, mode: "classes", version: 3 })).toBe("threshold=0.1&mode=classes&v=3");
  });

  it("different thresholds give different tile URLs (OpenSeadragon caches by URL)", () => {
    const a = tileUrl("r", 1, 0, 0, { threshold: 0.2, mode: "classes" });
    const b = tileUrl("r", 1, 0, 0, { threshold: 0.3, mode: "classes" });
    expect(a).not.toBe(b);
  });

  it("stats and export URLs", () => {
    expect(statsUrl("9", 0.25)).toBe("/api/results/9/stats?threshold=0.25");
    expect(exportUrl("9", "geojson", 0.5)).toBe("/api/results/9/export.geojson?threshold=0.5");
    expect(exportUrl("9", "tiff", 0)).toBe("/api/results/9/export.tiff?threshold=0");
    expect(exportUrl("9", "csv", 1)).toBe("/api/results/9/export.csv?threshold=1");
  });
});

describe("bboxFromViewport", () => {
  it("the whole slide", () => {
    expect(bboxFromViewport({ x: 0, y: 0, width: 1, height: 1.5 }, 2000, 3000)).toEqual([0, 0, 2000, 3000]);
  });

  it("y scales by the image width too", () => {
    expect(bboxFromViewport({ x: 0.25, y: 0.5, width: 0.25, height: 0.1 }, 2000, 3000)).toEqual([500, 1000, 500, 200]);
  });

  it("clamps to the image when zoomed out", () => {
    expect(bboxFromViewport({ x: -0.5, y: -0.5, width: 2, height: 3 }, 2000, 3000)).toEqual([0, 0, 2000, 3000]);
  });

  it("rounds outwards to whole pixels", () => {
    expect(bboxFromViewport({ x: 0.10005, y: 0, width: 0.1, height: 0.1 }, 1000, 1000)).toEqual([100, 0, 101, 100]);
  });

  it("null when the slide is out of view", () => {
    expect(bboxFromViewport({ x: 2, y: 0, width: 1, height: 1 }, 1000, 1000)).toBeNull();
  });
});

describe("buildRegion", () => {
  it("view needs a box", () => {
    expect(buildRegion({ choice: "view", tissueOnly: true, bbox: [1, 2, 3, 4] })).toEqual({
      region: { bbox: [1, 2, 3, 4] },
    });
    expect("error" in buildRegion({ choice: "view", tissueOnly: true, bbox: null })).toBe(true);
  });

  it("roi needs an id", () => {
    expect(buildRegion({ choice: "roi", tissueOnly: true, roiId: "5" })).toEqual({ region: { roi_id: "5" } });
    expect("error" in buildRegion({ choice: "roi", tissueOnly: true, roiId: "" })).toBe(true);
  });

  it("whole slide: tissue by default, or everything", () => {
    expect(buildRegion({ choice: "slide", tissueOnly: true })).toEqual({ region: "tissue" });
    expect(buildRegion({ choice: "slides", tissueOnly: false })).toEqual({ region: "whole" });
  });
});

describe("annotation summary", () => {
  it("finds labelled classes", () => {
    const summary = {
      classes: [
        { class_id: 1, area_px: 10 },
        { class_id: 2, area_px: 0 },
        { class_id: 5, area_px: 0.5 },
      ],
    };
    expect([...labelledFromSummary(summary)]).toEqual([1, 5]);
    expect(labelledFromSummary(null).size).toBe(0);
  });
});

describe("dzi", () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="png" Overlap="1" TileSize="254">
  <Size Height="2967" Width="2220"/>
</Image>`;

  it("parses the descriptor", () => {
    expect(parseDzi(xml)).toEqual({ width: 2220, height: 2967, tileSize: 254, overlap: 1, format: "png" });
  });

  it("rejects garbage", () => {
    expect(() => parseDzi("<html>nope</html>")).toThrow();
  });

  it("levels like Deep Zoom", () => {
    expect(maxLevel(2220, 2967)).toBe(12);
    expect(maxLevel(1, 1)).toBe(0);
    expect(maxLevel(256, 100)).toBe(8);
  });
});

describe("progress and stats", () => {
  it("progress of results running side by side, and a line per slide", () => {
    const a = { name: "a.svs", state: "running", progress: 0.5 };
    const b = { name: "b.svs", state: "completed", progress: 0.8 };
    const c = { name: "c.svs", state: "queued", progress: 0 };
    expect(overallProgress([a])).toBe(0.5);
    expect(overallProgress([a, b, c])).toBeCloseTo(0.5);
    expect(overallProgress([b, { ...b, state: "failed" }])).toBe(1);
    expect(overallProgress([])).toBe(0);
    expect([a, b, c].map(slideLine)).toEqual(["a.svs · 50 %", "b.svs · done", "c.svs · waiting"]);
    expect(slideLine({ ...a, state: "cancelled" })).toBe("a.svs · cancelled");
  });

  it("stats rows with unclassified and region", () => {
    const rows = statsRows({
      threshold: 0.5,
      region_area_mm2: 2,
      unclassified_area_mm2: 0.5,
      classes: [
        { id: 1, index: 0, name: "tissue", color: "#ff0000", area_mm2: 1.25, fraction: 0.625 },
        { id: 2, index: 1, name: "background", color: "#00ff00", area_mm2: 0.25, fraction: 0.125 },
      ],
    });
    expect(rows.map((r) => [r.name, r.area, r.percent])).toEqual([
      ["tissue", "1.25 mm²", "62.5 %"],
      ["background", "0.25 mm²", "12.5 %"],
      ["Unclassified", "0.5 mm²", "25.0 %"],
      ["Region", "2 mm²", "100.0 %"],
    ]);
  });

  it("area formats", () => {
    expect(formatAreaMm2(0)).toBe("0 µm²");
    expect(formatAreaMm2(0.00151)).toBe("1,510 µm²");
    expect(formatAreaMm2(0.0421)).toBe("0.0421 mm²");
    expect(formatAreaMm2(12.345)).toBe("12.3 mm²");
    expect(formatNumber(808.8899999999999)).toBe("809");
    expect(formatNumber(1234.56)).toBe("1,235");
    expect(formatBoxSize(808.8899999999999, 808.89, 0.499)).toBe("404 × 404 µm");
    expect(formatBoxSize(3000, 2000, 0.499)).toBe("1.5 × 0.998 mm");
    expect(formatBoxSize(808.89, 808.89, null)).toBe("809 × 809 px");
  });
});
