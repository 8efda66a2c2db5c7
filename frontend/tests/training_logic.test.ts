import { describe, expect, it } from "vitest";
import { chartColumns, hasValidation } from "../src/training/chartdata";
import { buttonsFor, isActive } from "../src/training/controls";
import { formatEta, formatMetric } from "../src/core/format";
import {
  formatMppMagnification,
  magnificationFromMpp,
  mppFromMagnification,
} from "../src/core/magnification";
import { formatSpeed } from "../src/training/format";
import { matchingMagnification } from "../src/training/form";
import { mergePoints } from "../src/training/history";
import { runFromEvent } from "../src/training/runUpdate";
import { ema } from "../src/training/smoothing";
import type { HistoryPoint } from "../src/training/types";

const point = (iteration: number, loss = 1, error_rate = 0.5): HistoryPoint => ({ iteration, loss, error_rate });

describe("ema", () => {
  it("returns the values unchanged at weight 0", () => {
    expect(ema([3, 1, 2], 0)).toEqual([3, 1, 2]);
  });

  it("is debiased: a constant series stays constant", () => {
    for (const v of ema([5, 5, 5, 5], 0.9)) expect(v).toBeCloseTo(5, 10);
  });

  it("follows the TensorBoard formula", () => {
    const w = 0.5;
    const [a, b] = ema([2, 4], w);
    expect(a).toBeCloseTo(2, 10);
    // last = (0*.5 + .5*2)*.5 + .5*4 = 2.5 ; debias by 1 - .25
    expect(b).toBeCloseTo(2.5 / 0.75, 10);
  });

  it("keeps gaps as gaps without disturbing the average", () => {
    const out = ema([1, null, NaN, 1], 0.8);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeNull();
    expect(out[3]).toBeCloseTo(1, 10);
  });

  it("smooths noise: variance falls", () => {
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 ? 1 : -1));
    const smooth = ema(noisy, 0.9).slice(50) as number[];
    expect(Math.max(...smooth.map(Math.abs))).toBeLessThan(0.2);
  });
});

describe("formatEta", () => {
  it.each([
    [null, "—"],
    [undefined, "—"],
    [-1, "—"],
    [Infinity, "—"],
    [0, "0 s"],
    [42.4, "42 s"],
    [200, "3 min 20 s"],
    [3900, "1 h 05 min"],
  ])("%s → %s", (seconds, text) => {
    expect(formatEta(seconds as number | null | undefined)).toBe(text);
  });
});

describe("formatSpeed and metrics", () => {
  it("speeds", () => {
    expect(formatSpeed(3.14)).toBe("3.1 it/s");
    expect(formatSpeed(25)).toBe("25 it/s");
    expect(formatSpeed(0.5)).toBe("2.0 s/it");
    expect(formatSpeed(0)).toBe("—");
    expect(formatSpeed(null)).toBe("—");
  });

  it("metrics", () => {
    expect(formatMetric("loss", 0.41234)).toBe("0.4123");
    expect(formatMetric("error_rate", 0.0834)).toBe("8.3 %");
    expect(formatMetric("loss", null)).toBe("—");
  });
});

describe("magnification ↔ µm/px", () => {
  it("uses 10× ≙ 1 µm/px", () => {
    expect(magnificationFromMpp(0.25)).toBeCloseTo(40);
    expect(mppFromMagnification(20)).toBeCloseTo(0.5);
    expect(mppFromMagnification(magnificationFromMpp(1.7))).toBeCloseTo(1.7);
  });

  it("prints like a microscope", () => {
    expect(formatMppMagnification(0.499)).toBe("20×");
    expect(formatMppMagnification(4)).toBe("2.5×");
    expect(formatMppMagnification(16)).toBe("0.63×");
    expect(formatMppMagnification(0)).toBe("—");
  });

  it("matches the nearest standard objective", () => {
    expect(matchingMagnification(0.499)).toBe("20");
    expect(matchingMagnification(2)).toBe("5");
    expect(matchingMagnification(3)).toBe("");
  });
});

describe("buttonsFor", () => {
  it("no run: only Train", () => {
    expect(buttonsFor(null)).toEqual({ train: true, pause: false, resume: false, stop: false, continue: false });
  });

  it("running: Pause and Stop", () => {
    expect(buttonsFor("running")).toEqual({ train: false, pause: true, resume: false, stop: true, continue: false });
  });

  it("paused: Resume and Stop", () => {
    expect(buttonsFor("paused")).toEqual({ train: false, pause: false, resume: true, stop: true, continue: false });
  });

  it("queued: only Stop", () => {
    expect(buttonsFor("queued")).toEqual({ train: false, pause: false, resume: false, stop: true, continue: false });
  });

  it.each(["stopped", "interrupted", "completed"] as const)("%s: Train or Continue", (state) => {
    expect(buttonsFor(state)).toEqual({ train: true, pause: false, resume: false, stop: false, continue: true });
  });

  it.each(["failed", undefined] as const)("%s: Train", (state) => {
    expect(buttonsFor(state)).toEqual({ train: true, pause: false, resume: false, stop: false, continue: false });
  });

  it("busy: nothing", () => {
    expect(Object.values(buttonsFor("running", true)).some(Boolean)).toBe(false);
  });

  it("active states", () => {
    expect(["queued", "running", "paused"].every((s) => isActive(s as never))).toBe(true);
    expect(isActive("stopped")).toBe(false);
    expect(isActive(null)).toBe(false);
  });
});

describe("mergePoints", () => {
  it("appends in order and drops duplicates", () => {
    const { points, gap } = mergePoints([point(1), point(2)], [point(4), point(2), point(3)]);
    expect(points.map((p) => p.iteration)).toEqual([1, 2, 3, 4]);
    expect(gap).toBe(false);
  });

  it("reports a gap but keeps the points", () => {
    const { points, gap } = mergePoints([point(1)], [point(3)]);
    expect(points.map((p) => p.iteration)).toEqual([1, 3]);
    expect(gap).toBe(true);
  });

  it("starts anywhere when empty", () => {
    expect(mergePoints([], [point(7), point(8)])).toEqual({ points: [point(7), point(8)], gap: false });
  });

  it("does not modify its input", () => {
    const existing = [point(1)];
    mergePoints(existing, [point(2)]);
    expect(existing).toHaveLength(1);
  });
});

describe("chartColumns", () => {
  const history: HistoryPoint[] = [
    { iteration: 1, loss: 2, error_rate: 0.5 },
    { iteration: 2, loss: 1, error_rate: 0, val_loss: 1.5, val_error_rate: 0.25 },
  ];

  it("loss: x, raw, smoothed, validation", () => {
    const [xs, raw, smooth, val] = chartColumns(history, { metric: "loss", smoothing: 0, log: false });
    expect(xs).toEqual([1, 2]);
    expect(raw).toEqual([2, 1]);
    expect(smooth).toEqual([2, 1]);
    expect(val).toEqual([null, 1.5]);
  });

  it("error rate in percent", () => {
    const [, raw, , val] = chartColumns(history, { metric: "error_rate", smoothing: 0, log: false });
    expect(raw).toEqual([50, 0]);
    expect(val).toEqual([null, 25]);
  });

  it("log scale turns zero into a gap", () => {
    const [, raw] = chartColumns(history, { metric: "error_rate", smoothing: 0, log: true });
    expect(raw).toEqual([50, null]);
  });

  it("knows when validation exists", () => {
    expect(hasValidation(history)).toBe(true);
    expect(hasValidation([history[0]])).toBe(false);
  });
});

describe("runFromEvent", () => {
  const final = {
    loss: 0.5,
    error_rate: 0.1,
    iteration: 40,
    over: 10,
    last_loss: 0.4,
    last_error_rate: 0.08,
  };

  it("reads the run fields of a history event, missing phase and progress as null", () => {
    const update = runFromEvent({
      run_id: "7",
      state: "running",
      history: [],
      iteration: 40,
      iterations: 100,
      final,
      warnings: ["slow"],
      prepare_s: 1.5,
      duration_s: 12,
    });
    expect(update).toEqual({
      state: "running",
      iteration: 40,
      iterations: 100,
      final,
      validation: undefined,
      weights_from_iteration: undefined,
      warnings: ["slow"],
      phase: null,
      progress: null,
      prepare_s: 1.5,
      duration_s: 12,
    });
    expect(update).not.toHaveProperty("run_id");
    expect(update).not.toHaveProperty("history");
  });

  it("reads a state event the same way", () => {
    const progress = { step: "regions", done: 3, total: 7 };
    const update = runFromEvent({
      run_id: "7",
      state: "paused",
      iteration: 12,
      phase: "preparing",
      progress,
      weights_from_iteration: 10,
      app_id: "a1",
    });
    expect(update.state).toBe("paused");
    expect(update.iteration).toBe(12);
    expect(update.phase).toBe("preparing");
    expect(update.progress).toEqual(progress);
    expect(update.weights_from_iteration).toBe(10);
    expect(update).not.toHaveProperty("app_id");
  });
});
