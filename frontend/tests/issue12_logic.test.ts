import { describe, expect, it } from "vitest";
import { chartColumns, yRange } from "../src/training/chartdata";
import { continueSummary, defaultExtra } from "../src/training/continueDialog";
import { appMeta } from "../src/inference/apps";
import { regionText } from "../src/inference/region";
import type { HistoryPoint, Run } from "../src/training/types";

const points = (losses: number[]): HistoryPoint[] =>
  losses.map((loss, i) => ({ iteration: i + 1, loss, error_rate: 0.1 }));

describe("the convergence chart's y-range", () => {
  it("follows the smoothed curve: a single-batch spike does not set the axis", () => {
    const losses = Array.from({ length: 40 }, (_, i) => 1 - i * 0.01);
    losses[30] = 25; // one bad batch
    const columns = chartColumns(points(losses), { metric: "loss", smoothing: 0.9, log: false });
    const [lo, hi] = yRange(columns, false)!;
    expect(hi).toBeLessThan(4);
    expect(lo).toBeGreaterThanOrEqual(0);
    const smooth = columns[2].filter((v): v is number => v !== null);
    expect(hi).toBeGreaterThanOrEqual(Math.max(...smooth));
  });

  it("takes the validation line in and stays positive on a log axis", () => {
    const history = points([0.5, 0.4, 0.3]);
    history[2].val_loss = 0.9;
    const columns = chartColumns(history, { metric: "loss", smoothing: 0, log: true });
    const [lo, hi] = yRange(columns, true)!;
    expect(hi).toBeGreaterThan(0.9);
    expect(lo).toBeGreaterThan(0);
    expect(lo).toBeLessThan(0.3);
    expect(yRange(chartColumns([], { metric: "loss", smoothing: 0, log: false }), false)).toBe(
      null,
    );
  });
});

describe("Continue", () => {
  const run = (over: Partial<Run>): Run => ({
    id: "r",
    state: "stopped",
    settings: { iterations: 300, learning_rate: 0.001 },
    iteration: 120,
    iterations: 300,
    checkpoint_iteration: 120,
    ...over,
  });

  it("offers the rest of the plan, or as many again when it is done", () => {
    expect(defaultExtra(run({}))).toBe(180);
    expect(defaultExtra(run({ state: "completed", iteration: 300, checkpoint_iteration: 300 }))).toBe(
      300,
    );
  });

  it("says which iterations it trains from which checkpoint", () => {
    expect(continueSummary(run({}), 50, 0.0005)).toMatch(
      /^Trains iterations 121–170 from the checkpoint at iteration 120, learning rate 0\.0005/,
    );
    expect(continueSummary(run({}), 0, 0.001)).toBe("Enter how many iterations to train.");
  });
});

describe("names that tell apart", () => {
  it("an app's second line: iterations, date, slides", () => {
    const meta = appMeta({
      training: { iterations: 300, slides: ["a", "b"] },
      created: "2026-12-02T14:03:00",
      weights_from_iteration: 250,
    });
    expect(meta).toBe("300 it. (weights of it. 250) · 2 Dec, 14:03 · 2 slides");
  });

  it("a result's region in physical units", () => {
    const rois = [{ id: 7, bbox: [0, 0, 808.8899999999999, 808.89] as [number, number, number, number] }];
    expect(regionText({ roi_id: 7 }, rois, 0.499)).toBe("ROI 1 (404 × 404 µm)");
    expect(regionText({ bbox: [0, 0, 2220, 2967] }, rois, 0.499)).toBe("view 1.11 × 1.48 mm");
    expect(regionText("tissue", rois, 0.499)).toBe("whole slide (tissue)");
    expect(regionText({ roi_id: 9 }, rois, 0.499)).toBe("an ROI (since deleted)");
  });
});
