import { describe, expect, it } from "vitest";
import { chartColumns, finalColumn } from "../src/training/chartdata";
import { finalLegend, finalText, weightsText } from "../src/core/figures";
import type { FinalValues } from "../src/core/figures";
import type { HistoryPoint } from "../src/training/types";

const final: FinalValues = {
  loss: 0.12345,
  error_rate: 0.0213,
  iteration: 40,
  over: 10,
  last_loss: 0.118,
  last_error_rate: 0.019,
  val_loss: 0.2,
  val_error_rate: 0.03,
  val_iteration: 40,
};

const points: HistoryPoint[] = Array.from({ length: 40 }, (_, i) => ({
  iteration: i + 1,
  loss: 1 / (i + 1),
  error_rate: 0.5 / (i + 1),
}));

describe("the final value as the UI says it", () => {
  it("names the window and puts the last raw values beside the means", () => {
    expect(finalText(final)).toBe("loss 0.1235 · error 2.1 % (mean of last 10 it.; last 0.1180 · 1.9 %)");
    expect(finalLegend(final, "loss")).toBe("final 0.1235 (mean of last 10 it.)");
    expect(finalLegend(final, "error_rate")).toBe("final 2.1 % (mean of last 10 it.)");
    expect(finalLegend(null, "loss")).toBe("final");
  });

  it("says where an app's weights come from", () => {
    expect(weightsText(25, 40, true)).toBe("iteration 25 (best validation)");
    expect(weightsText(40, 40, true)).toBe("iteration 40 (the last)");
    expect(weightsText(30, 40, false)).toBe("iteration 30");
  });
});

describe("the chart's final-value line", () => {
  it("is level at the final value over exactly the averaged iterations", () => {
    const column = finalColumn(points, final, "loss");
    expect(column.slice(0, 30).every((v) => v === null)).toBe(true);
    expect(column.slice(30)).toEqual(Array(10).fill(0.12345));
    const percent = finalColumn(points, final, "error_rate");
    expect(percent[39]).toBeCloseTo(2.13);
    expect(finalColumn(points, null, "loss").every((v) => v === null)).toBe(true);
    const columns = chartColumns(points, { metric: "loss", smoothing: 0, log: false }, final);
    expect(columns).toHaveLength(5);
    expect(columns[4]).toEqual(column);
  });
});
