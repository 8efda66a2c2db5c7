import { describe, expect, it } from "vitest";
import { ApiError } from "../src/core/api";
import { acceptRegion, acceptedText } from "../src/inference/accept";
import { viewForBox } from "../src/inference/focus";
import {
  SuggestionQueue,
  suggestionsUrl,
  uncertaintyPercent,
  type SuggestionAnswer,
} from "../src/inference/suggestions";
import { uncertaintyGradient, uncertaintyText } from "../src/inference/uncertainty";

describe("uncertainty view", () => {
  it("spreads the server's colour stops evenly over the bar", () => {
    expect(uncertaintyGradient(["#000000", "#808080", "#ffffff"])).toBe(
      "linear-gradient(to right, #000000 0%, #808080 50%, #ffffff 100%)",
    );
    expect(uncertaintyGradient(["#123456"])).toBe("#123456");
    expect(uncertaintyGradient([])).toBe("transparent");
  });

  it("says the mean, the 90th percentile and the share above one half", () => {
    expect(uncertaintyText({ mean: 0.234, p90: 0.61, high_fraction: 0.125 })).toBe(
      "Mean uncertainty 23.4 % · 90th pct 61.0 % · ≥ 50 % on 12.5 % of the region",
    );
    expect(uncertaintyText({ mean: 0.5 })).toBe("Mean uncertainty 50.0 %");
  });
});

describe("label next", () => {
  const answer = (n: number): SuggestionAnswer => ({
    window_px: 256,
    suggestions: Array.from({ length: n }, (_, i) => ({
      bbox: [i * 300, 0, 256, 256],
      score: 1 - i / 10,
      mean_uncertainty: 0.9 - i / 10,
    })),
  });

  it("asks for five places of the result and shows whole percents", () => {
    expect(suggestionsUrl("r 1")).toBe("/api/results/r%201/suggestions?n=5");
    expect(uncertaintyPercent(0.456)).toBe("46 %");
    expect(uncertaintyPercent(Number.NaN)).toBe("—");
  });

  it("keeps the answer for the result followed last", async () => {
    const calls: { url: string; resolve: (a: SuggestionAnswer) => void }[] = [];
    const queue = new SuggestionQueue(
      (url) => new Promise((resolve) => calls.push({ url, resolve })),
      () => undefined,
    );
    const first = queue.load("1");
    const second = queue.load("2");
    expect(queue.state).toBe("loading");
    calls[1].resolve(answer(3));
    await second;
    calls[0].resolve(answer(5)); // the old result's answer arrives late: ignored
    await first;
    expect(queue.resultId).toBe("2");
    expect(queue.items).toHaveLength(3);
    expect(queue.state).toBe("ready");
    await queue.load(null);
    expect(queue.items).toHaveLength(0);
    expect(queue.state).toBe("idle");
  });

  it("waits on a result with nothing written yet (409) and reports other errors", async () => {
    let failure: unknown = new ApiError("not yet", 409);
    const queue = new SuggestionQueue(
      () => Promise.reject(failure),
      () => undefined,
    );
    await queue.load("7");
    expect(queue.state).toBe("waiting");
    failure = new ApiError("gone", 404);
    await queue.refresh();
    expect(queue.state).toBe("error");
    expect(queue.message).toBe("gone");
  });

  it("flies to a zoom that shows the whole box with room around it", () => {
    const view = viewForBox([1000, 2000, 256, 128], [800, 600]);
    expect(view.x).toBe(1128);
    expect(view.y).toBe(2064);
    expect(view.z).toBeCloseTo((800 / 256) * 0.6);
    expect(256 * view.z).toBeLessThan(800);
    expect(128 * view.z).toBeLessThan(600);
    expect(viewForBox([0, 0, 10, 10], [800, 600], 2).z).toBe(2);
  });
});

describe("accept as labels", () => {
  it("prefers the chosen ROI, else the view, else nothing", () => {
    expect(acceptRegion(4, [0, 0, 10, 10])).toEqual({ roi_id: 4 });
    expect(acceptRegion(null, [0.4, 1.6, 10.2, 9.7])).toEqual({ bbox: [0, 2, 10, 10] });
    expect(acceptRegion(null, null)).toBeNull();
    expect(acceptRegion(null, [0, 0, 0, 5])).toBeNull();
  });

  it("says what was added, leaving out empty classes", () => {
    const text = acceptedText([
      { id: 1, name: "Tissue", area_um2: 120_000 },
      { id: 2, name: "Background", area_um2: 0 },
    ]);
    expect(text).toMatch(/^Added Tissue .+ as labels$/);
    expect(text).not.toContain("Background");
    expect(acceptedText([{ id: 2, name: "Background", area_um2: 0 }])).toMatch(/no labels/);
  });
});
