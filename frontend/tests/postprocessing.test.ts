import { describe, expect, it } from "vitest";
import {
  MAX_STEPS,
  OPEN_MAX,
  addStep,
  classIdOf,
  groupFieldErrors,
  moveStep,
  newStep,
  parseFieldPath,
  plainMessage,
  removeStep,
  sameSteps,
  setField,
  stepSummary,
  stepsForEditing,
  stepsForSave,
  type PostStep,
} from "../src/inference/postprocessing";
import {
  axisPosition,
  binText,
  histogramBars,
  histogramText,
  logTicks,
  tickText,
  validBins,
} from "../src/inference/sizeHistogram";
import {
  formatCount,
  formatDensity,
  labelTiffUrl,
  objectRows,
  objectsUrl,
  roiRows,
  totalObjects,
  type ObjectStats,
} from "../src/inference/objects";
import { overlayQuery } from "../src/core/resultUrls";
import type { AppClass } from "../src/inference/types";

const CLASSES: AppClass[] = [
  { index: 0, id: 7, name: "Tumour", color: "#ff0000" },
  { index: 1, id: 9, name: "Stroma", color: "#00ff00" },
];

describe("post-processing steps: editor state", () => {
  it("new steps name the first class by its id and start from a usable value", () => {
    expect(newStep("remove_small_objects", CLASSES)).toEqual({
      op: "remove_small_objects",
      class_id: 7,
      min_area_um2: 50,
    });
    expect(newStep("close", CLASSES)).toEqual({ op: "close", class_id: 7, radius_um: 2 });
    const relabel = newStep("relabel", CLASSES);
    expect(relabel).toMatchObject({ op: "relabel", to_class_id: null, where: { area_um2: [0, 50] } });
  });

  it("a class without an id is named by its index (as the server's class_ids)", () => {
    expect(classIdOf({ id: null, index: 3 })).toBe(3);
    expect(classIdOf({ id: 0, index: 3 })).toBe(0);
  });

  it("add, remove and move keep the order and the limit", () => {
    const a = newStep("open", CLASSES);
    const b = newStep("close", CLASSES);
    const c = newStep("fill_holes", CLASSES);
    let steps: PostStep[] = [];
    steps = addStep(addStep(addStep(steps, a), b), c);
    expect(steps.map((s) => s.op)).toEqual(["open", "close", "fill_holes"]);
    expect(moveStep(steps, 2, -1).map((s) => s.op)).toEqual(["open", "fill_holes", "close"]);
    expect(moveStep(steps, 0, 1).map((s) => s.op)).toEqual(["close", "open", "fill_holes"]);
    expect(moveStep(steps, 0, -1)).toBe(steps); // already first
    expect(moveStep(steps, 2, 1)).toBe(steps); // already last
    expect(removeStep(steps, 1).map((s) => s.op)).toEqual(["open", "fill_holes"]);
    expect(steps.map((s) => s.op)).toEqual(["open", "close", "fill_holes"]); // not mutated
    let full: PostStep[] = [];
    for (let i = 0; i < MAX_STEPS + 3; i++) full = addStep(full, a);
    expect(full).toHaveLength(MAX_STEPS);
  });

  it("setField sets numbers, classes and relabel bounds", () => {
    const remove = setField(newStep("remove_small_objects", CLASSES), "min_area_um2", 120);
    expect(remove).toMatchObject({ min_area_um2: 120 });
    const relabel = setField(newStep("relabel", CLASSES), "to_class_id", 9);
    expect(relabel).toMatchObject({ to_class_id: 9 });
    const shaped = setField(relabel, "where.eccentricity.min", 0.9);
    expect(shaped).toMatchObject({ where: { area_um2: [0, 50], eccentricity: [0.9, null] } });
  });

  it("saving closes open bounds and drops empty ranges; editing shows them open again", () => {
    const step: PostStep = {
      op: "relabel",
      class_id: 7,
      to_class_id: 9,
      where: { area_um2: [100, null], eccentricity: [0.9, null], form_factor: [null, null] },
    };
    const [saved] = stepsForSave([step]);
    expect(saved).toEqual({
      op: "relabel",
      class_id: 7,
      to_class_id: 9,
      where: { area_um2: [100, OPEN_MAX], eccentricity: [0.9, 1] },
    });
    expect(stepsForEditing([saved])[0]).toMatchObject({ where: { area_um2: [100, null] } });
    expect(sameSteps([step], stepsForEditing([saved]))).toBe(true);
    expect(stepsForEditing(null)).toEqual([]);
  });
});

describe("post-processing steps: summary text", () => {
  it("says each op in plain words with the user's units", () => {
    const say = (step: PostStep) => stepSummary(step, CLASSES);
    expect(say({ op: "remove_small_objects", class_id: 7, min_area_um2: 50 })).toBe(
      "Remove Tumour objects smaller than 50 µm²",
    );
    expect(say({ op: "fill_holes", class_id: 9, max_area_um2: 1200 })).toBe(
      "Fill holes in Stroma up to 1,200 µm²",
    );
    expect(say({ op: "open", class_id: 7, radius_um: 1.5 })).toBe(
      "Open Tumour with a 1.5 µm radius: parts thinner than 3 µm go",
    );
    expect(say({ op: "close", class_id: 9, radius_um: 2 })).toBe(
      "Close Stroma with a 2 µm radius: gaps narrower than 4 µm fill",
    );
    expect(
      say({
        op: "relabel",
        class_id: 7,
        to_class_id: 9,
        where: { area_um2: [0, 50], eccentricity: [0.9, 1] },
      }),
    ).toBe("Change Tumour objects with area up to 50 µm² and eccentricity at least 0.9 to Stroma");
    expect(
      say({ op: "relabel", class_id: 9, to_class_id: null, where: { perimeter_um: [10, 20] } }),
    ).toBe("Change Stroma objects with perimeter 10–20 µm to unclassified");
  });

  it("an empty field reads as a question mark; an unknown class by its id", () => {
    expect(stepSummary({ op: "remove_small_objects", class_id: 3, min_area_um2: null }, CLASSES)).toBe(
      "Remove class 3 objects smaller than ? µm²",
    );
  });
});

describe("post-processing steps: server messages", () => {
  it("field paths point at a step and a field", () => {
    expect(parseFieldPath("postprocessing[2].radius_um")).toEqual({ index: 2, field: "radius_um" });
    expect(parseFieldPath("postprocessing[0].where.area_um2")).toEqual({
      index: 0,
      field: "where.area_um2",
    });
    expect(parseFieldPath("postprocessing[4]")).toEqual({ index: 4, field: "" });
    expect(parseFieldPath("postprocessing")).toEqual({ index: null, field: "" });
    expect(parseFieldPath("name")).toBeNull();
  });

  it("groups messages by step; the rest under -1", () => {
    const grouped = groupFieldErrors({
      "postprocessing[1].radius_um": "radius_um must not be negative",
      "postprocessing[1].class_id": "class_id must be one of the app's class ids (7, 9)",
      postprocessing: "At most 20 post-processing steps",
    });
    expect(grouped.get(1)?.get("radius_um")).toBe("radius_um must not be negative");
    expect(grouped.get(1)?.size).toBe(2);
    expect(grouped.get(-1)?.get("")).toBe("At most 20 post-processing steps");
    expect(groupFieldErrors(undefined).size).toBe(0);
  });
});

describe("object size histogram", () => {
  const sizes = { edges_um2: [10, 100, 1000, 10000], counts: [4, 0, 2] };
  const box = { width: 300, height: 60, bottom: 10 };

  it("checks the bins", () => {
    expect(validBins(sizes)).toBe(true);
    expect(validBins({ edges_um2: [1, 2], counts: [0] })).toBe(false); // no object
    expect(validBins({ edges_um2: [1, 2, 3], counts: [1] })).toBe(false); // lengths
    expect(validBins({ edges_um2: [5, 2], counts: [1] })).toBe(false); // not increasing
    expect(validBins(null)).toBe(false);
  });

  it("log-spaced edges give equal widths; heights follow the counts", () => {
    const bars = histogramBars(sizes, box);
    expect(bars).toHaveLength(2); // the empty bin draws nothing
    expect(bars[0]).toMatchObject({ x: 0, width: 100, height: 50, y: 0, count: 4, from: 10, to: 100 });
    expect(bars[1]).toMatchObject({ height: 25, y: 25, count: 2 });
    expect(bars[1].x).toBeCloseTo(200);
    expect(bars[1].width).toBeCloseTo(100);
  });

  it("a single object among many still shows (1 px)", () => {
    const bars = histogramBars({ edges_um2: [1, 10, 100], counts: [100000, 1] }, box);
    expect(bars[1].height).toBe(1);
  });

  it("axis positions: log when positive, linear from zero", () => {
    expect(axisPosition(100, 10, 1000)).toBeCloseTo(0.5);
    expect(axisPosition(50, 0, 100)).toBeCloseTo(0.5);
    expect(axisPosition(5, 5, 5)).toBe(0);
  });

  it("ticks at powers of ten with short labels", () => {
    expect(logTicks(3, 25000)).toEqual([10, 100, 1000, 10000]);
    expect(logTicks(0, 100)).toEqual([]);
    expect([0.1, 1, 100, 1000, 25000, 1e6].map(tickText)).toEqual(["0.1", "1", "100", "1k", "25k", "1M"]);
  });

  it("says a bin and the whole histogram in words", () => {
    expect(binText({ count: 12, from: 50, to: 100 })).toBe("12 objects of 50–100 µm²");
    expect(binText({ count: 1, from: 1000, to: 2500 })).toBe("1 object of 1,000–2,500 µm²");
    expect(histogramText("Tumour", sizes)).toBe("Tumour: 6 objects, 10–10,000 µm²");
    expect(histogramText("Tumour", { edges_um2: [1, 10, 100], counts: [3, 0] })).toBe(
      "Tumour: 3 objects, 1–10 µm²",
    );
    expect(histogramText("Stroma", { edges_um2: [], counts: [] })).toBe("Stroma: no objects");
  });
});

describe("objects table and URLs", () => {
  const stats: ObjectStats = {
    threshold: 0.5,
    pixel_area_um2: 0.249,
    region_area_mm2: 2,
    classes: [
      {
        id: 7,
        index: 0,
        name: "Tumour",
        color: "#ff0000",
        count: 1204,
        area_mm2: 0.0421,
        area_fraction: 0.02105,
        density_per_mm2: 602,
        sizes: { edges_um2: [1, 10], counts: [1204] },
      },
      {
        id: 9,
        index: 1,
        name: "Stroma",
        color: "#00ff00",
        count: 0,
        area_mm2: 0,
        area_fraction: 0,
        density_per_mm2: 0,
      },
    ],
  };

  it("rows in the user's units", () => {
    expect(objectRows(stats)).toEqual([
      {
        name: "Tumour",
        color: "#ff0000",
        count: "1,204",
        area: "0.0421 mm²",
        percent: "2.1 %",
        density: "602",
      },
      { name: "Stroma", color: "#00ff00", count: "0", area: "0 µm²", percent: "0.0 %", density: "0" },
    ]);
    expect(totalObjects(stats)).toBe(1204);
  });

  it("per-ROI rows name each ROI once, with its area, in the classes' colours", () => {
    const withRois: ObjectStats = {
      ...stats,
      rois: [
        {
          roi_id: 3,
          region_area_mm2: 0.52,
          classes: [
            { id: 7, index: 0, name: "Tumour", count: 12, area_mm2: 0.01, area_fraction: 0.25, density_per_mm2: 23.08 },
            { id: 9, index: 1, name: "Stroma", count: 0, area_mm2: 0, area_fraction: 0, density_per_mm2: 0 },
          ],
        },
      ],
    };
    const rows = roiRows(withRois);
    expect(rows.map((r) => [r.roi, r.name, r.color, r.count, r.area, r.percent, r.density])).toEqual([
      ["ROI 3 · 0.52 mm²", "Tumour", "#ff0000", "12", "0.01 mm²", "25.0 %", "23.1"],
      ["", "Stroma", "#00ff00", "0", "0 µm²", "0.0 %", "0"],
    ]);
    expect(roiRows(stats)).toEqual([]);
  });

  it("formats densities and counts", () => {
    expect(formatDensity(12.345)).toBe("12.3 /mm²");
    expect(formatDensity(15234.4)).toBe("15,234 /mm²");
    expect(formatDensity(null)).toBe("—");
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(Number.NaN)).toBe("—");
  });

  it("objects, exports and the full-resolution TIFF", () => {
    expect(objectsUrl("r 1", 0.5)).toBe("/api/results/r%201/objects?threshold=0.5");
    expect(objectsUrl("9", 0, "csv")).toBe("/api/results/9/objects.csv?threshold=0");
    expect(objectsUrl("9", 1, "geojson")).toBe("/api/results/9/objects.geojson?threshold=1");
    expect(labelTiffUrl("9", 0.2, false)).toBe("/api/results/9/export.tiff?threshold=0.2");
    expect(labelTiffUrl("9", 0.2, true)).toBe(
      "/api/results/9/export.tiff?threshold=0.2&resolution=full",
    );
  });

  it("tile URLs carry the post-processing key when there is one", () => {
    expect(overlayQuery({ threshold: 0.5, mode: "classes", pp: "ab12" })).toBe(
      "threshold=0.5&mode=classes&pp=ab12",
    );
    expect(overlayQuery({ threshold: 0.5, mode: "classes", pp: "" })).toBe("threshold=0.5&mode=classes");
  });
});

describe("server messages in plain words", () => {
  it("names fields in words, keeps the rest", () => {
    expect(plainMessage("radius_um must not be negative")).toBe("The radius must not be negative");
    expect(plainMessage("min_area_um2 must be a number")).toBe("The minimum area must be a number");
    expect(plainMessage("to_class_id must be one of the app's class ids (1, 2)")).toBe(
      "The new class must be one of the app's class ids (1, 2)",
    );
    expect(plainMessage("At most 20 post-processing steps")).toBe("At most 20 post-processing steps");
  });
});
